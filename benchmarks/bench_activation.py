"""The GELU of small networks: oneDNN's kernel against torch's own (issue 13).

torch's CPU GELU hands every contiguous float32 tensor to oneDNN, whose
set-up costs more than the work on a small batch's activations;
``skvae.nn.networks.GELU`` (VAETransformer's default activation) computes
tensors of up to ``_NATIVE_GELU_MAX_VALUES`` values in torch's own kernel
instead. The two kernels compute the same function and differ in the last
bits, so the two fits of a case drift apart: each is scored here as well
as timed. Fits of ``VAETransformer(k, random_state=0)`` at its defaults,
alternating between the kernels in one process, median of ``--repeats``
(default 5) per kernel and case, seconds of the whole ``fit``; the
held-out score (``score``, nats per row) and test reconstruction MSE of
each kernel's last fit:

- AER/CPS1985 and ISLR/Wage, mixed tables (bench synthesis' seed-0
  split and tables), k = 2;
- breast_cancer, standardised on its training split, k = 2;
- digits / 16 (protocol 1's split), k = 5;
- MNIST-5k (protocol 1's split), k = 10.

    python3 dev.py bench activation             # writes RESULTS.md
    python3 dev.py bench activation --repeats 1 # prints only
"""

import argparse
import statistics
import warnings
from functools import partial

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from _common import alternate_fits, load_digits_unit, load_mnist, markdown_table, publish
from bench_synthesis import load_table
from skvae import VAETransformer
from skvae.nn import networks

SECTION = "GELU of small networks (issue 13)"
NATIVE_MAX = networks._NATIVE_GELU_MAX_VALUES
KERNELS = {"oneDNN": 0, "torch's own": NATIVE_MAX}


def split(X):
    train, test = train_test_split(X, test_size=0.25, random_state=0)
    return train, test


def cases():
    out = {}
    for name, rows in [("CPS1985", "534 rows, mixed"), ("Wage", "3,000 rows, mixed")]:
        out[f"VAETransformer(2), {name} ({rows})"] = (2, *split(load_table(name)))
    X = load_breast_cancer().data
    train, test = split(X)
    scaler = StandardScaler().fit(train)
    out["VAETransformer(2), breast_cancer (standardised)"] = (
        2, scaler.transform(train), scaler.transform(test),
    )
    digits, y = load_digits_unit()
    train, test, _, _ = train_test_split(digits, y, test_size=0.25, random_state=0, stratify=y)
    out["VAETransformer(5), digits / 16"] = (5, train, test)
    X, y = load_mnist()
    train, test, _, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    out["VAETransformer(10), MNIST-5k"] = (10, train, test)
    return out


def reconstruction_mse(model, test):
    if hasattr(test, "columns"):
        return None  # mixed tables: bench synthesis scores their reconstructions
    return float(np.mean((model.inverse_transform(model.transform(test)) - test) ** 2))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rows = []
    VAETransformer(max_iter=2, random_state=0).fit(load_digits_unit()[0][:200])  # start-up
    for name, (k, train, test) in cases().items():
        fitted, last = {}, []
        variants = {
            label: partial(setattr, networks, "_NATIVE_GELU_MAX_VALUES", limit)
            for label, limit in KERNELS.items()
        }

        def make():
            last.append(VAETransformer(k, random_state=0))
            return last[-1]

        try:
            times, outputs = alternate_fits(
                make, (train,), "transform", variants, args.repeats,
                after_fit=lambda label: fitted.__setitem__(label, last[-1]),
            )
        finally:
            networks._NATIVE_GELU_MAX_VALUES = NATIVE_MAX
        before, now = (statistics.median(times[label]) for label in KERNELS)
        scores = {label: fitted[label].score(test) for label in KERNELS}
        errors = {label: reconstruction_mse(fitted[label], test) for label in KERNELS}
        row = [name]
        for label in KERNELS:
            row.append(outputs[label][1])
        row += [f"{before:.2f}", f"{now:.2f}", f"**{now / before:.2f}x**"]
        row += [f"{scores[label]:.3f}" for label in KERNELS]
        row += ["–" if errors[label] is None else f"{errors[label]:.4f}" for label in KERNELS]
        rows.append(row)
        print(rows[-1], flush=True)
    body = (
        f"Seconds of `fit` of `VAETransformer(k, random_state=0)` (defaults; activation "
        f"GELU), median of {args.repeats} repeats alternating in one process between "
        "torch's GELU as it is (*oneDNN*: torch hands contiguous float32 tensors to "
        "oneDNN) and skvae's `GELU` (*torch's own* kernel for tensors of up to "
        f"{NATIVE_MAX:,} values, skvae's default). The kernels differ in their last bits, "
        "so the fits drift apart: epochs, held-out score (`score`, nats per row) and test "
        "reconstruction MSE (numeric tables) of each kernel's last fit. Splits: "
        "test_size=0.25, random_state=0 (stratified for digits and MNIST-5k); "
        "breast_cancer standardised on its training split; CPS1985 and Wage as in bench "
        "synthesis.\n\n"
        + markdown_table(
            ["fit", "epochs, oneDNN", "epochs, own", "oneDNN s", "own s", "own / oneDNN",
             "score, oneDNN", "score, own", "test MSE, oneDNN", "test MSE, own"],
            rows,
        )
    )
    publish(SECTION, body, why_not="one-repeat" if args.repeats < 3 else None)


if __name__ == "__main__":
    main()

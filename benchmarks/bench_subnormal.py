"""Subnormal numbers in Adam's moments (issue 13).

A weight whose gradient stays exactly zero (the weights of an input that
is always 0, such as MNIST's and digits' border pixels; a hidden unit
that never fires) has an Adam first moment that decays by beta1 = 0.9 a
step, and after a few hundred steps it reaches float32's subnormal range
(below 1.2e-38), where the CPU's arithmetic is many times slower: every
later Adam step pays for it. ``skvae.nn.train.Trainer`` sets moments
below 1e-30 (first) and 1e-36 (second) to zero every 128 steps, which
changes no weight (see the comment above ``_TINY_FIRST_MOMENT`` in
``skvae/nn/train.py``).

Fits of default models, alternating in one process between the flush
(skvae's default) and no flush (``_FLUSH_STEPS`` set beyond any fit),
median of ``--repeats`` (default 3) per case and variant, seconds of the
whole ``fit``; *identical*: the two fits' outputs and epochs are
bit-identical; *subnormal moments*: Adam's moments in the subnormal range
at the end of the fit without the flush (with it: none).

- VAEClassifier on protocol 3 (MNIST-5k, split 0.2, 10 labels per class,
  seed 0), defaults;
- VAETransformer(10) on MNIST-5k's protocol 1 train split, defaults;
- VAETransformer(5) on digits / 16 (protocol 1's train split), defaults;
- VAEImputer on breast_cancer (protocol 2's seed-0 mask), ``max_iter=100``.

    python3 dev.py bench subnormal              # writes RESULTS.md
    python3 dev.py bench subnormal --repeats 1  # prints only
"""

import argparse
import statistics
import warnings

import numpy as np
from sklearn.model_selection import train_test_split

from _common import (
    alternate_fits, load_digits_unit, load_mnist, markdown_table, publish, same_fit,
)
from bench_imputation import load_numeric, remove_cells
from bench_semisupervised import partly_labeled
from skvae import VAEClassifier, VAEImputer, VAETransformer
from skvae.nn import train as train_module

SECTION = "Subnormal numbers in Adam's moments (issue 13)"
FLUSH_STEPS = train_module._FLUSH_STEPS
NEVER = 2**62


def cases():
    X_mnist, y_mnist = load_mnist()
    X_semi, _, y_semi, _ = train_test_split(
        X_mnist, y_mnist, test_size=0.2, random_state=0, stratify=y_mnist
    )
    y_partial = partly_labeled(y_semi, 0)
    X_reduce = train_test_split(
        X_mnist, y_mnist, test_size=0.25, random_state=0, stratify=y_mnist
    )[0]
    digits, y_digits = load_digits_unit()
    digits_train = train_test_split(
        digits, y_digits, test_size=0.25, random_state=0, stratify=y_digits
    )[0]
    breast = load_numeric()["breast_cancer"]
    breast_missing = breast.copy()
    breast_missing[remove_cells(breast.shape, 0.5, 0)] = np.nan
    return {
        "VAEClassifier(), protocol 3 (MNIST-5k, 100 labels)": (
            lambda: VAEClassifier(random_state=0), (X_semi, y_partial), "predict_proba",
        ),
        "VAETransformer(10), MNIST-5k": (
            lambda: VAETransformer(10, random_state=0), (X_reduce,), "transform",
        ),
        "VAETransformer(5), digits / 16": (
            lambda: VAETransformer(5, random_state=0), (digits_train,), "transform",
        ),
        "VAEImputer(max_iter=100), breast_cancer": (
            lambda: VAEImputer(max_iter=100, random_state=0), (breast_missing,), "transform",
        ),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    trainers = []
    original_init = train_module.Trainer.__init__

    def recording_init(self, *a, **k):
        original_init(self, *a, **k)
        trainers.append(self)

    train_module.Trainer.__init__ = recording_init
    rows = []
    VAETransformer(max_iter=2, random_state=0).fit(load_digits_unit()[0][:200])  # start-up
    try:
        counts = {}  # label -> Adam's subnormal moments at the end of its last fit

        def flushing_every(steps):
            def apply():
                train_module._FLUSH_STEPS = steps
                trainers.clear()
            return apply

        def count_subnormal(label):
            counts[label] = sum(t.subnormal_moments() for t in trainers)

        variants = {"no flush": flushing_every(NEVER), "flush": flushing_every(FLUSH_STEPS)}
        for name, (make, data, output) in cases().items():
            times, outputs = alternate_fits(
                make, data, output, variants, args.repeats, after_fit=count_subnormal
            )
            subnormal = counts["no flush"]
            same = same_fit(outputs["flush"], outputs["no flush"])
            slow, fast = (statistics.median(times[k]) for k in ("no flush", "flush"))
            rows.append([
                name, outputs["flush"][1], f"{subnormal:,}", f"{slow:.2f}", f"{fast:.2f}",
                f"**{fast / slow:.2f}x**", "yes" if same else "**no**",
            ])
            print(rows[-1], flush=True)
    finally:
        train_module._FLUSH_STEPS = FLUSH_STEPS
        train_module.Trainer.__init__ = original_init
    body = (
        f"Seconds of `fit`, median of {args.repeats} alternating repeats in one process; "
        "*flush* (skvae's default): `Trainer` sets Adam's moments below 1e-30 (first) and "
        "1e-36 (second) to zero every 128 steps; *no flush*: as before. *subnormal "
        "moments*: Adam's moments in float32's subnormal range (nonzero, below 1.2e-38) at "
        "the end of the fit without the flush. *identical*: the two fits' outputs "
        "(`predict_proba` or `transform`) and epochs are bit-identical.\n\n"
        + markdown_table(
            ["fit", "epochs", "subnormal moments (no flush)", "no flush s", "flush s",
             "flush / no flush", "identical"],
            rows,
        )
    )
    publish(SECTION, body, why_not="one-repeat" if args.repeats < 3 else None)


if __name__ == "__main__":
    main()

"""Memory layout of small networks' work (issue 13): the orientation of
narrow matrix products in training, and the size of imputation's batches.

Part ``products``: ``skvae.nn.networks.Linear`` pads a float32 product on
the CPU whose result has fewer than 16 columns (and at least 256 rows) with
zeros to 16 columns (``python3 dev.py bench gemm`` shows why). Fits of default
VAEImputers with ``max_iter=100`` (a fraction of their schedule), alternating
in one process between that layer and ``torch.nn.Linear.forward``: seconds
of ``fit``, median of ``--repeats`` (default 5), and each model's RMSE on
the removed numeric cells (the same sums of products, added in another
order, make the two trainings drift apart).

Part ``batches``: VAEImputer's ``transform`` (its default 2,000 draws per row
up to 2,000 rows) with batches of 2**19 to 2**24 values (rows x draws x the
widest layer; skvae's default is 2**21), alternating in one process on one
fitted model (``max_iter=20``: the time does not depend on the weights),
median of ``--repeats``, and the largest difference from the 2**24 batches.

Data: protocol 2's breast_cancer and concrete (seed-0 masks, 50% removed),
ISLR/Credit (30% removed, mixed), bench_imputation's synthetic table of
2,000 rows (30% removed).

    python3 dev.py bench layout                 # both parts; writes RESULTS.md
    python3 dev.py bench layout --part batches  # one part
    python3 dev.py bench layout --repeats 1     # prints only
"""

import argparse
import statistics
import warnings

import numpy as np
import torch

import skvae.impute as impute_module
from _common import markdown_table, publish
from bench_fit_time import alternate, rmse_of
from bench_imputation import load_credit, load_numeric, remove_cells, synthetic
from skvae import VAEImputer
from skvae.nn import networks

PRODUCTS = "Narrow matrix products in training (issue 13)"
BATCHES = "Imputation batch size (issue 13)"
PADDED_FORWARD = networks.Linear.forward
BATCH_VALUES = [2**19, 2**20, 2**21, 2**22, 2**24]


def tables():
    """name -> (the table with cells removed, the complete numeric values,
    the removed numeric cells)."""
    numeric = load_numeric()
    cases = {}
    for name in ("breast_cancer", "concrete"):
        X = numeric[name]
        removed = remove_cells(X.shape, 0.5, 0)
        cases[f"{name} ({X.shape[0]:,} x {X.shape[1]}, 50% removed)"] = (
            np.where(removed, np.nan, X), X, removed
        )
    frame, numeric_columns, _ = load_credit()
    removed = remove_cells(frame.shape, 0.3, 0)
    columns = [frame.columns.get_loc(c) for c in numeric_columns]
    cases[f"ISLR/Credit ({frame.shape[0]} x {frame.shape[1]}, mixed, 30% removed)"] = (
        frame.mask(removed), frame[numeric_columns].to_numpy(dtype=float), removed[:, columns]
    )
    X = synthetic(2000)
    removed = remove_cells(X.shape, 0.3, 0)
    cases[f"synthetic ({X.shape[0]:,} x {X.shape[1]}, 30% removed)"] = (
        np.where(removed, np.nan, X), X, removed
    )
    return cases


def numeric_values(out):
    """The numbers of an imputed table (a DataFrame's numeric columns)."""
    if hasattr(out, "select_dtypes"):
        out = out.select_dtypes("number")
    return np.asarray(out, dtype=float)


def fit_with(forward, X):
    """A ``VAEImputer(max_iter=100)`` fitted on ``X`` with ``forward`` as
    skvae's ``Linear.forward`` (restored after)."""
    networks.Linear.forward = forward
    try:
        return VAEImputer(max_iter=100, random_state=0).fit(X)
    finally:
        networks.Linear.forward = PADDED_FORWARD


def products_part(cases, repeats):
    rows = []
    for name, (X, complete, removed) in cases.items():
        models, times = alternate(
            {
                "torch.nn.Linear": lambda: fit_with(torch.nn.Linear.forward, X),
                "padded": lambda: fit_with(PADDED_FORWARD, X),
            },
            repeats,
        )
        plain, padded = (statistics.median(times[k]) for k in ("torch.nn.Linear", "padded"))
        rmse = {
            label: rmse_of(numeric_values(model.transform(X)), complete, removed)
            for label, model in models.items()
        }
        rows.append([
            name, f"{plain:.2f}", f"{padded:.2f}", f"**{padded / plain:.2f}x**",
            f"{rmse['torch.nn.Linear']:.3f}", f"{rmse['padded']:.3f}",
        ])
        print(rows[-1], flush=True)
    return (
        f"Seconds of `fit` of `VAEImputer(max_iter=100, random_state=0)`, median of {repeats} "
        "repeats alternating in one process between skvae's `Linear` (float32 products on the "
        "CPU whose result has fewer than 16 columns, and at least 256 rows, padded with zeros "
        "to 16 columns) and `torch.nn.Linear.forward`. *RMSE*: of each model's imputation of the removed "
        "(numeric) cells, in standardised units; the same sums of products (plus exact zeros), "
        "added in another order, make the two trainings drift apart.\n\n"
        + markdown_table(
            ["fit", "torch.nn.Linear s", "padded s", "padded / nn.Linear",
             "torch.nn.Linear RMSE", "padded RMSE"],
            rows,
        )
    )


def transform_with(model, X, values):
    """``model.transform(X)``'s numbers, in batches of ``values`` values."""
    impute_module._IMPUTE_VALUES_PER_BATCH = values
    return numeric_values(model.transform(X))


def batches_part(cases, repeats):
    rows = []
    default = impute_module._IMPUTE_VALUES_PER_BATCH
    for name, (X, _, _) in cases.items():
        model = VAEImputer(max_iter=20, random_state=0).fit(X)
        try:
            outputs, times = alternate(
                {v: lambda v=v: transform_with(model, X, v) for v in BATCH_VALUES}, repeats
            )
        finally:
            impute_module._IMPUTE_VALUES_PER_BATCH = default
        largest = BATCH_VALUES[-1]
        median = {v: statistics.median(t) for v, t in times.items()}
        difference = max(np.abs(outputs[v] - outputs[largest]).max() for v in BATCH_VALUES)
        rows.append([
            name, *(f"{median[v]:.2f}" for v in BATCH_VALUES),
            f"**{median[default] / median[largest]:.2f}x**", f"{difference:.1e}",
        ])
        print(rows[-1], flush=True)
    return (
        f"Seconds of `transform` of a `VAEImputer(max_iter=20, random_state=0)` fitted on "
        f"the table, median of {repeats} repeats alternating in one process between batch "
        "sizes, in values (rows x draws x the widest layer); skvae's default is "
        f"2^{int(np.log2(default))}. *largest difference*: of the imputed values from those "
        "of the largest batches (each row's draws do not depend on the batch).\n\n"
        + markdown_table(
            ["table", *(f"2^{int(np.log2(v))} s" for v in BATCH_VALUES),
             f"2^{int(np.log2(default))} / 2^{int(np.log2(largest))}", "largest difference"],
            rows,
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=["products", "batches"], action="append")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    cases = tables()
    why_not = "one-repeat" if args.repeats < 3 else None
    parts = args.part or ["products", "batches"]
    if "products" in parts:
        publish(PRODUCTS, products_part(cases, args.repeats), why_not)
    if "batches" in parts:
        publish(BATCHES, batches_part(cases, args.repeats), why_not)


if __name__ == "__main__":
    main()

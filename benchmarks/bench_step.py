"""The optimiser step of small networks: ``optimizer.step()`` against the
direct fused-Adam call of ``skvae.nn.train.Trainer._step`` (issue 13).

Both make the same arithmetic (the fits are checked to be bit-identical
here); the direct call skips torch's regrouping of the parameters by
device and dtype at every step, which costs a small network a share of
each step. Fits of the default models, alternating between the two
steps in one process, median of ``--repeats`` (default 5) per method and
case, seconds of the whole ``fit``:

- VAEImputer on breast_cancer (protocol 2's seed-0 mask, 50% of cells
  removed), ``max_iter=100`` (a quarter of its default schedule);
- VAETransformer on ISLR Wage's training split (bench synthesis' seed 0
  split and table), defaults;
- VAETransformer(5) on digits / 16 (train split of protocol 1), defaults.

    python3 dev.py bench step             # writes RESULTS.md
    python3 dev.py bench step --repeats 1 # prints only
"""

import argparse
import statistics
import warnings
from functools import partial

import numpy as np
from sklearn.model_selection import train_test_split

from _common import alternate_fits, load_digits_unit, markdown_table, publish, same_fit
from bench_imputation import load_numeric, remove_cells
from bench_synthesis import load_table
from skvae import VAEImputer, VAETransformer
from skvae.nn import train as train_module

SECTION = "Optimizer step of small networks (issue 13)"
DIRECT_STEP = train_module.Trainer._step


def optimizer_step(self):
    self.optimizer.step()


def cases():
    X = load_numeric()["breast_cancer"]
    removed = remove_cells(X.shape, 0.5, 0)
    X_missing = X.copy()
    X_missing[removed] = np.nan
    wage_train = train_test_split(load_table("Wage"), test_size=0.25, random_state=0)[0]
    digits, y = load_digits_unit()
    digits_train = train_test_split(digits, y, test_size=0.25, random_state=0, stratify=y)[0]
    return {
        "VAEImputer, breast_cancer, max_iter=100": (
            lambda: VAEImputer(max_iter=100, random_state=0), X_missing,
        ),
        "VAETransformer(), ISLR Wage (2,250 rows, mixed)": (
            lambda: VAETransformer(random_state=0), wage_train,
        ),
        "VAETransformer(5), digits / 16": (lambda: VAETransformer(5, random_state=0), digits_train),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rows = []
    all_cases = cases()
    VAETransformer(max_iter=2, random_state=0).fit(load_digits_unit()[0][:200])  # start-up
    for name, (make, X) in all_cases.items():
        variants = {
            label: partial(setattr, train_module.Trainer, "_step", step)
            for label, step in [("optimizer.step()", optimizer_step), ("direct", DIRECT_STEP)]
        }
        try:
            times, outputs = alternate_fits(make, (X,), "transform", variants, args.repeats)
        finally:
            train_module.Trainer._step = DIRECT_STEP
        same = same_fit(outputs["direct"], outputs["optimizer.step()"])
        slow, fast = (statistics.median(times[k]) for k in ("optimizer.step()", "direct"))
        rows.append([
            name, outputs["direct"][1], f"{slow:.2f}", f"{fast:.2f}", f"**{fast / slow:.2f}x**",
            "yes" if same else "**no**",
        ])
        print(rows[-1], flush=True)
    body = (
        f"Seconds of `fit`, median of {args.repeats} alternating repeats in one process; "
        "*direct*: `Trainer._step` (skvae's default), which calls torch's fused Adam "
        "kernel on the optimiser's own state once it exists; *optimizer.step()*: "
        "torch.optim.Adam(fused=True).step(), as before. *identical*: the two fits' "
        "outputs (`transform`) and epochs are bit-identical.\n\n"
        + markdown_table(
            ["fit", "epochs", "optimizer.step() s", "direct s", "direct / optimizer.step()",
             "identical"],
            rows,
        )
    )
    publish(SECTION, body, why_not="one-repeat" if args.repeats < 3 else None)


if __name__ == "__main__":
    main()

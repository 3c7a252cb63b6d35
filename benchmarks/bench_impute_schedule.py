"""VAEImputer's "auto" schedule between 2,000 and 10,000 rows (issue 13).

Up to 2,000 rows the "auto" schedule is 250 epochs with a step size
decaying from 3e-3 along half a cosine; from 10,000 rows on, 24 epochs at a
constant 4e-3. In between, the settings move geometrically from one to the
other. They used to start from 400 epochs at a constant 1e-3 (the small
tables' settings before the cosine decay), so that a table of 2,001 rows
took about 1.6x the time of one of 2,000. Now they start from the cosine
schedule, and the depth of the decay (the share of the step size it takes
away by the end) falls from 1 at 2,000 rows to 0 at 10,000.

Both rules, alternating in one process, on bench_imputation's synthetic
tables (20 columns near a 5-dimensional nonlinear manifold, data seed 0),
30% of cells removed with each seed's mask; RMSE over the removed cells
(standardised units), mean over seeds; ``fit_transform`` seconds, median
over seeds x repeats, after a short warm-up fit. 2,000 rows, where both rules agree, is the
reference. IterativeImputer(BayesianRidge) in the same run for scale.

    python3 dev.py bench impute_schedule                 # writes RESULTS.md
    python3 dev.py bench impute_schedule --seeds 0 --rows 3000   # prints only
"""

import argparse
import math
import statistics
import time
import warnings

import numpy as np
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer

import skvae.impute as impute_module
from _common import markdown_table, publish
from bench_imputation import remove_cells, synthetic
from skvae import VAEImputer

SECTION = "VAEImputer's auto schedule from 2,000 to 10,000 rows (issue 13)"
ROWS = [2000, 2001, 3000, 5000, 7000, 8500]
CURRENT = impute_module.auto_schedule
# The settings the former rule started from above 2,000 rows.
FORMER_START = {"epochs": 400, "learning_rate": 1e-3}


def former_schedule(n_samples):
    """The rule before: above 2,000 rows, epochs and step size moved
    geometrically from 400 epochs at a constant 1e-3 (not from the cosine
    schedule's 250 at 3e-3), at a constant step size."""
    settings = CURRENT(n_samples)
    if n_samples <= impute_module._SMALL:
        return settings
    small, large = impute_module._SMALL, impute_module._LARGE
    t = min(1.0, math.log(n_samples / small) / math.log(large / small))
    for key, start in FORMER_START.items():
        settings[key] = start * (impute_module._LARGE_SETTINGS[key] / start) ** t
    if n_samples > large:
        settings["epochs"] *= math.sqrt(large / n_samples)
    settings["epochs"] = max(3, round(settings["epochs"]))
    settings["cosine"] = False
    return settings


RULES = {"former (from 400 epochs, constant step)": former_schedule, "current": CURRENT}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run(rows, seeds, repeats):
    table = []
    for n in rows:
        X = synthetic(n, n_features=20)
        errors = {label: [] for label in [*RULES, "BayesianRidge"]}
        seconds = {label: [] for label in errors}
        for seed in seeds:
            removed = remove_cells(X.shape, 0.3, seed)
            X_missing = np.where(removed, np.nan, X)
            for _ in range(repeats):
                for label, rule in RULES.items():
                    if n <= impute_module._SMALL and label != "current":
                        continue  # the rules agree
                    impute_module.auto_schedule = rule
                    try:
                        out, s = timed(
                            lambda: VAEImputer(random_state=seed).fit_transform(X_missing)
                        )
                    finally:
                        impute_module.auto_schedule = CURRENT
                    seconds[label].append(s)
                    errors[label].append(np.sqrt(np.mean((out[removed] - X[removed]) ** 2)))
                out, s = timed(lambda: IterativeImputer(random_state=seed).fit_transform(X_missing))
                seconds["BayesianRidge"].append(s)
                errors["BayesianRidge"].append(np.sqrt(np.mean((out[removed] - X[removed]) ** 2)))
        cells = {}
        for label in errors:
            if errors[label]:
                cells[label] = (statistics.mean(errors[label]), statistics.median(seconds[label]))
        for label, rule in RULES.items():
            if label not in cells:
                continue
            auto = rule(n)
            rmse, s = cells[label]
            ratio = f"{s / cells['current'][1]:.2f}x" if label != "current" else ""
            table.append([
                f"{n:,}", label, auto["epochs"], f"{auto['learning_rate']:.2g}",
                f"{float(auto['cosine']):.2f}", auto["draws"], auto["batch_size"],
                f"{rmse:.4f}", f"{s:.1f}", ratio,
                f"{cells['BayesianRidge'][0]:.3f} ({cells['BayesianRidge'][1]:.1f} s)",
            ])
            print(table[-1], flush=True)
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", type=int, nargs="+", default=ROWS)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    warm = synthetic(200, n_features=20)
    VAEImputer(max_iter=2, random_state=0).fit(np.where(remove_cells(warm.shape, 0.3, 0), np.nan, warm))
    table = run(args.rows, args.seeds, args.repeats)
    body = (
        "bench_imputation's synthetic tables (20 columns near a 5-dimensional nonlinear "
        "manifold, data seed 0), 30% of cells removed completely at random with each "
        f"seed's mask (seeds {', '.join(map(str, args.seeds))}); `VAEImputer(random_state="
        "seed)` at its defaults under each rule for the \"auto\" settings, alternating in "
        "one process. *former*: above 2,000 rows, epochs and step size moved geometrically "
        "from 400 epochs at a constant 1e-3 to 24 at 4e-3 (10,000 rows); *current*: from "
        "the small tables' 250 epochs at 3e-3, with the cosine decay's depth (the share of "
        "the step size it takes away by the end) falling from 1 to 0. Draws, batch size and "
        "imputation draws are the same under both. RMSE over the removed cells (standardised "
        "units), mean over seeds; seconds of `fit_transform`, median over seeds x "
        f"{args.repeats} repeat(s); *former / current*: the ratio of those seconds. "
        "IterativeImputer(BayesianRidge) (`random_state=seed`) for scale.\n\n"
        + markdown_table(
            ["rows", "rule", "epochs", "step size", "decay depth", "draws", "batch",
             "RMSE", "seconds", "former s / current s", "IterativeImputer(BayesianRidge)"],
            table,
        )
    )
    default = args.seeds == [0, 1, 2] and args.rows == ROWS
    publish(SECTION, body, why_not=None if default else "subset")


if __name__ == "__main__":
    main()

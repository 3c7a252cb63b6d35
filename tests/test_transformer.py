import io
import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from conftest import fail_in_epoch
from skvae import VAETransformer
from skvae.nn.train import Trainer

FAST = dict(max_iter=15, random_state=0, hidden_layer_sizes=(32, 16))


def fitted(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return VAETransformer(**{**FAST, **params}).fit(X)


# ----------------------------------------------------------------- basics


def test_shapes_and_round_trip(blobs):
    vae = fitted(blobs, n_components=3)
    Z = vae.transform(blobs)
    assert Z.shape == (200, 3)
    assert vae.inverse_transform(Z).shape == blobs.shape
    assert vae.sample(5, random_state=1).shape == (5, 6)
    assert vae.score_samples(blobs).shape == (200,)
    assert np.isfinite(vae.score(blobs))
    assert vae.n_features_in_ == 6 and vae.n_components_ == 3
    assert list(vae.get_feature_names_out()) == [f"vaetransformer{i}" for i in range(3)]


def test_likelihood_auto(blobs, images):
    assert fitted(blobs).likelihood_ == "gaussian"
    assert fitted(images).likelihood_ == "bernoulli"
    # Graded intensities in [0, 1] are better served by a Gaussian.
    graded = np.random.RandomState(0).uniform(size=(50, 4))
    assert fitted(graded).likelihood_ == "gaussian"
    assert fitted(graded, likelihood="bernoulli").likelihood_ == "bernoulli"


def test_transform_is_deterministic_and_batch_independent(blobs):
    vae = fitted(blobs)
    Z = vae.transform(blobs)
    np.testing.assert_array_equal(Z, vae.transform(blobs))
    np.testing.assert_allclose(vae.transform(blobs[17:18]), Z[17:18], rtol=1e-12)
    np.testing.assert_allclose(vae.transform(blobs[::-1]), Z[::-1], rtol=1e-12)
    s = vae.score_samples(blobs)
    np.testing.assert_array_equal(s, vae.score_samples(blobs))
    np.testing.assert_allclose(vae.score_samples(blobs[5:9]), s[5:9], rtol=1e-12)


def test_components_ordered_most_informative_first(blobs):
    vae = fitted(blobs, n_components=4, max_iter=40)
    kl = vae.component_kl_
    assert kl.shape == (4,)
    assert np.all(np.diff(kl) <= 0) and np.all(kl >= 0)
    # The measure matches the codes: informative components spread out more.
    spread = vae.transform(blobs).std(axis=0)
    assert spread[0] > spread[-1]


def test_original_units_and_log_jacobian(blobs):
    # Internal standardisation makes the fit invariant to each feature's units:
    # outputs come back in the caller's units and the density picks up the
    # log-Jacobian of the rescaling.
    scale = np.array([1e4, 1.0, 1e-3, 5.0, 1.0, 1e2])
    shift = np.array([1e6, 0, -3, 0, 0, 7])
    X = blobs * scale + shift
    unit, scaled = fitted(blobs, n_components=3), fitted(X, n_components=3)
    np.testing.assert_allclose(scaled.transform(X), unit.transform(blobs), rtol=1e-4, atol=1e-5)
    X_hat = scaled.inverse_transform(scaled.transform(X))
    np.testing.assert_allclose(
        (X_hat - shift) / scale, unit.inverse_transform(unit.transform(blobs)), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(
        scaled.score(X), unit.score(blobs) - np.log(scale).sum() - np.log(blobs.std(0)).sum(), rtol=1e-5
    )


def test_constant_and_near_constant_features_do_not_explode(images):
    X_train = images.copy()
    X_train[:, 0] = 0.0  # a border pixel, constant in training
    X_train[:, 1] = 0.0
    X_train[0, 1] = 0.004  # almost constant
    X_test = images[:20].copy()
    X_test[:, 0] = 0.7
    X_test[:, 1] = 1.0
    for likelihood in ["gaussian", "bernoulli"]:
        vae = fitted(X_train, likelihood=likelihood)
        Z = vae.transform(X_test)
        assert np.isfinite(Z).all() and np.abs(Z).max() < 10
        X_hat = vae.inverse_transform(Z)
        assert np.isfinite(X_hat).all()
        assert ((X_hat - X_test) ** 2).mean() < 1.0
        assert np.isfinite(vae.score_samples(X_train)).all()


def test_float32_input_and_dataframe(blobs):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(blobs.astype(np.float32), columns=[f"f{i}" for i in range(6)])
    vae = fitted(df).set_output(transform="pandas")
    out = vae.transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["vaetransformer0", "vaetransformer1"]
    assert list(vae.feature_names_in_) == list(df.columns)
    np.testing.assert_allclose(out.to_numpy(), fitted(blobs.astype(np.float32)).transform(blobs.astype(np.float32)))


# ------------------------------------------------------- reproducibility


def test_same_seed_gives_identical_results(blobs):
    a, b = fitted(blobs, random_state=3), fitted(blobs, random_state=3)
    np.testing.assert_array_equal(a.transform(blobs), b.transform(blobs))
    assert a.loss_curve_ == b.loss_curve_
    c = fitted(blobs, random_state=4)
    assert not np.array_equal(a.transform(blobs), c.transform(blobs))


def test_fit_leaves_global_random_state_alone(blobs):
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    for seed in [0, None]:
        vae = fitted(blobs, random_state=seed)
        vae.transform(blobs)
        vae.score(blobs)
    assert torch.equal(torch_state, torch.get_rng_state())
    assert np.array_equal(np_state, np.random.get_state()[1])


def test_sample_reproducible(blobs):
    vae = fitted(blobs)
    np.testing.assert_array_equal(vae.sample(4, random_state=2), vae.sample(4, random_state=2))
    assert not np.array_equal(vae.sample(4, random_state=2), vae.sample(4, random_state=3))


# ------------------------------------------------------------ training


def test_early_stopping_keeps_best_weights(blobs):
    vae = fitted(blobs, max_iter=300, n_iter_no_change=3, learning_rate=1e-2)
    assert vae.n_iter_ < 300
    assert len(vae.validation_scores_) == len(vae.loss_curve_) == vae.n_iter_
    assert vae.best_validation_score_ == max(vae.validation_scores_)
    # The kept weights are those of the best epoch, not the last one.
    assert vae.validation_scores_[-1] < vae.best_validation_score_


def test_convergence_warning_at_max_iter(blobs):
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        VAETransformer(max_iter=2, random_state=0).fit(blobs)


def test_without_early_stopping(blobs):
    vae = fitted(blobs, early_stopping=False)
    assert vae.validation_scores_ is None and vae.best_validation_score_ is None
    assert vae.n_iter_ == len(vae.loss_curve_)


def test_loss_decreases(blobs):
    vae = fitted(blobs, max_iter=30, early_stopping=False)
    assert vae.loss_curve_[-1] < vae.loss_curve_[0]


def test_kl_warmup_ramps_weight():
    vae = VAETransformer(beta=2.0, kl_warmup=4)
    assert [vae._kl_weight(e) for e in range(6)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    assert VAETransformer(beta=0.5)._kl_weight(0) == 0.5


def test_partial_fit_and_warm_start(blobs):
    vae = VAETransformer(random_state=0)
    for _ in range(3):
        vae.partial_fit(blobs)
    assert vae.n_iter_ == 3 and vae.validation_scores_ is None
    with pytest.raises(ValueError, match="features"):
        vae.partial_fit(blobs[:, :4])
    warm = fitted(blobs, max_iter=5, warm_start=True)
    first = list(warm.loss_curve_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(blobs)
    assert warm.n_iter_ == 10 and warm.loss_curve_[:5] == first


def test_verbose_output(blobs, capsys):
    fitted(blobs, max_iter=3)
    assert capsys.readouterr().out == ""
    fitted(blobs, max_iter=3, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert re.match(r"Training VAETransformer: \d+ rows \(\d+ more held out", lines[0])
    assert re.match(
        r"Epoch 1/3: loss -?[\d.]+, validation score -?[\d.]+, [\d.]+s "
        r"\(elapsed [\d.]+s, at most \d+s left\)",
        lines[1],
    )


def test_keyboard_interrupt_leaves_usable_model(blobs, monkeypatch):
    fail_in_epoch(monkeypatch, 4, KeyboardInterrupt())
    with pytest.warns(UserWarning, match="interrupted"):
        vae = VAETransformer(random_state=0, max_iter=50).fit(blobs)
    assert vae.n_iter_ == 3
    assert np.isfinite(vae.transform(blobs)).all()


def test_divergence_is_recovered(blobs, monkeypatch):
    calls = {"n": 0}
    original = Trainer.train_epoch

    def diverging_once(self, *args, **kwargs):
        calls["n"] += 1
        loss = original(self, *args, **kwargs)
        if calls["n"] == 3:
            with torch.no_grad():
                next(self.module.parameters()).fill_(float("nan"))
            return float("nan")
        return loss

    monkeypatch.setattr(Trainer, "train_epoch", diverging_once)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        vae = fitted(blobs, max_iter=6)
    assert vae.n_iter_ == 6
    assert np.isfinite(vae.transform(blobs)).all()


def test_hopeless_divergence_raises_clear_error(blobs, monkeypatch):
    monkeypatch.setattr(Trainer, "train_epoch", lambda self, *a, **k: float("nan"))
    with pytest.raises(ValueError, match="diverged.*learning_rate"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fitted(blobs)


def test_huge_learning_rate_never_gives_nan(blobs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            vae = fitted(blobs * 1e6, learning_rate=1e6)
        except ValueError as exc:
            assert "diverged" in str(exc)
        else:
            assert np.isfinite(vae.transform(blobs * 1e6)).all()


# ----------------------------------------------------------- persistence


def test_pickle_and_joblib_round_trip(blobs):
    vae = fitted(blobs)
    Z = vae.transform(blobs)
    for loaded in [pickle.loads(pickle.dumps(vae)), joblib.load(_joblib_bytes(vae))]:
        np.testing.assert_array_equal(loaded.transform(blobs), Z)
        np.testing.assert_array_equal(loaded.score_samples(blobs), vae.score_samples(blobs))


def _joblib_bytes(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return buffer


# The fitted state holding only numpy and built-in objects, and the skops
# round trip, are tested for every estimator in test_reliability.py.


def test_warm_start_after_unpickling_continues(blobs):
    vae = pickle.loads(pickle.dumps(fitted(blobs, max_iter=4, warm_start=True)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        vae.fit(blobs)
    assert vae.n_iter_ == 8


# --------------------------------------------------------- sklearn tools


def test_clone_keeps_parameters():
    vae = VAETransformer(5, beta=4.0, hidden_layer_sizes=(8,), likelihood="gaussian")
    assert clone(vae).get_params() == vae.get_params()


def test_pipeline_in_place_of_pca(blobs):
    y = (blobs[:, 0] > 0).astype(int)
    pipe = Pipeline(
        [("scale", StandardScaler()), ("vae", VAETransformer(**{**FAST, "max_iter": 60})), ("clf", LogisticRegression())]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert pipe.fit(blobs, y).score(blobs, y) > 0.7


def test_grid_search_over_beta_and_n_components(blobs):
    # 60 epochs: the 100 training rows of a fold make 2 steps an epoch.
    grid = GridSearchCV(
        VAETransformer(**{**FAST, "max_iter": 60}), {"beta": [0.5, 1.0], "n_components": [1, 3]},
        cv=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(blobs)
    scores = grid.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and len(scores) == 4
    # The held-out score ranks the models with no custom scorer: the data
    # have more than one dimension of structure, so at each beta three
    # components beat one.
    n_components = grid.cv_results_["param_n_components"]
    assert np.all(scores[n_components == 3] > scores[n_components == 1])
    assert grid.best_params_["n_components"] == 3


def test_grid_search_in_worker_processes_matches_serial(blobs):
    # The README's search runs with n_jobs=-1: joblib's default backend
    # (loky) fits in other processes, each limited to its share of the
    # cores. A small network trains on one thread wherever it runs, so the
    # scores are those of the serial search, bit for bit.
    grid = {"beta": [0.5, 1.0], "n_components": [1, 3]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        serial = GridSearchCV(VAETransformer(**FAST), grid, cv=2).fit(blobs)
        parallel = GridSearchCV(VAETransformer(**FAST), grid, cv=2, n_jobs=2).fit(blobs)
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(parallel.cv_results_[key], serial.cv_results_[key])
    np.testing.assert_array_equal(
        parallel.best_estimator_.transform(blobs), serial.best_estimator_.transform(blobs)
    )


def test_semi_supervised_y_is_accepted_and_ignored(blobs):
    y = np.full(200, -1)
    y[:10] = 1
    a = fitted(blobs).transform(blobs)
    b = VAETransformer(**FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        b.fit(blobs, y)
    np.testing.assert_array_equal(a, b.transform(blobs))


def test_score_beats_pca_on_heteroscedastic_linear_data():
    # Factor-analysis data: PCA's isotropic noise model cannot fit it.
    rng = np.random.RandomState(0)
    W = rng.standard_normal((2, 8))
    noise = np.array([0.05, 0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 3.0])
    X = rng.standard_normal((800, 2)) @ W + noise * rng.standard_normal((800, 8))
    train, test = X[:600], X[600:]
    vae = fitted(train, max_iter=200, activation="identity", hidden_layer_sizes=())
    assert vae.score(test) > PCA(2).fit(train).score(test)


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[1.0, np.inf], [2.0, 3.0]] * 5), "infinity"),
        (np.array([["a", "b"], ["c", "d"]] * 5), "[Uu]nable to convert|could not convert"),
        (np.empty((0, 3)), "0 sample"),
        (np.arange(10.0), "Expected 2D array"),
    ],
)
def test_bad_input_is_rejected(X, match):
    with pytest.raises(ValueError, match=match):
        VAETransformer().fit(X)


def test_all_missing_is_rejected():
    with pytest.raises(ValueError, match="Every entry of X is missing"):
        VAETransformer().fit(np.full((10, 3), np.nan))


def test_tiny_units_are_not_mistaken_for_constants(blobs):
    vae = fitted(blobs * 1e-30, n_components=2)
    np.testing.assert_allclose(vae._scale, blobs.std(0) * 1e-30, rtol=1e-6)
    assert vae.transform(blobs * 1e-30).std(0).max() > 0.1


def test_wrong_shapes_at_transform_time(blobs):
    vae = fitted(blobs)
    with pytest.raises(ValueError, match="X has 4 features, but VAETransformer is expecting 6"):
        vae.transform(blobs[:, :4])
    with pytest.raises(ValueError, match="latent codes with 2 columns"):
        vae.inverse_transform(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        vae.sample(0)


def test_bernoulli_needs_unit_interval(blobs, images):
    with pytest.raises(ValueError, match=r"needs X in \[0, 1\]"):
        VAETransformer(likelihood="bernoulli").fit(blobs)
    vae = fitted(images)
    with pytest.raises(ValueError, match=r"needs X in \[0, 1\]"):
        vae.score(images * 2)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"beta": -1.0}, "beta"),
        ({"likelihood": "poisson"}, "likelihood"),
        ({"activation": "swish"}, "activation"),
        ({"hidden_layer_sizes": (10, 0)}, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": (10.5,)}, "hidden_layer_sizes"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"network": "transformer"}, "network"),
        ({"device": "gpu0"}, "device"),
    ],
)
def test_invalid_parameters(blobs, params, match):
    with pytest.raises(ValueError, match=match):
        VAETransformer(**params).fit(blobs)


def test_unavailable_cuda_is_a_clear_error(blobs):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="not available"):
        VAETransformer(device="cuda").fit(blobs)


def test_too_few_samples_for_validation():
    with pytest.raises(ValueError, match="n_samples=1 is too few"):
        VAETransformer().fit(np.ones((1, 3)))
    assert VAETransformer(early_stopping=False, max_iter=2).fit(np.eye(3)).n_iter_ == 2


def test_not_fitted():
    for method in ["transform", "inverse_transform", "score_samples"]:
        with pytest.raises(NotFittedError):
            getattr(VAETransformer(), method)(np.zeros((2, 2)))
    with pytest.raises(NotFittedError):
        VAETransformer().sample(2)


# ------------------------------------------------------- missing values


def test_missing_values_are_integrated_out(blobs):
    rng = np.random.RandomState(0)
    X = blobs.copy()
    X[rng.rand(*X.shape) < 0.2] = np.nan
    X[0] = np.nan  # a row with nothing observed
    vae = fitted(X, n_components=3)
    Z = vae.transform(X)
    assert Z.shape == (200, 3) and np.isfinite(Z).all()
    scores = vae.score_samples(X)
    assert np.isfinite(scores).all()
    # log p(nothing observed) = 0, up to the Monte Carlo error of the bound.
    assert scores[0] == pytest.approx(0.0, abs=0.05)
    # A row's code and score do not depend on the other rows.
    np.testing.assert_allclose(vae.transform(X[5:6]), Z[5:6], rtol=1e-12)
    np.testing.assert_allclose(vae.score_samples(X[5:6]), scores[5:6], rtol=1e-12)
    # A feature never observed in training is harmless.
    X[:, 2] = np.nan
    assert np.isfinite(fitted(X).transform(blobs)).all()
    with pytest.raises(ValueError, match="infinity"):
        vae.transform(np.where(np.isnan(X), np.inf, X))


def test_float32_input_of_huge_magnitude_round_trips_finite():
    # np.nanstd squares deviations in the input's dtype: 1e30 ** 2 is inf in
    # float32, which made the feature scale inf (found by the property tests).
    X = np.array([[1.7640523e30], [4.0015720e29], [9.0e29]], dtype=np.float32)
    vae = VAETransformer(1, max_iter=3, early_stopping=False, random_state=0).fit(X)
    assert np.all(np.isfinite(vae.inverse_transform(vae.transform(X))))


def test_denoising_defaults_do_not_stop_at_the_first_epoch():
    """Noisy digits with many components: the default early stopping used
    to keep the weights of epoch 1 (free bits made the validation bound
    worse as training went on), and the "denoised" rows were further from
    the clean ones than the noisy input."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import MinMaxScaler

    X = MinMaxScaler().fit_transform(load_digits().data)[:1000]
    X_noisy = X + 0.25 * np.random.default_rng(0).standard_normal(X.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        vae = VAETransformer(32, random_state=0).fit(X_noisy)
    assert int(np.argmax(vae.validation_scores_)) > 0
    denoised = vae.inverse_transform(vae.transform(X_noisy))
    assert np.mean((denoised - X) ** 2) < 0.75 * np.mean((X_noisy - X) ** 2)


def test_best_epoch_first_warns(blobs, monkeypatch):
    """A fit whose best validation score is its first epoch's says so."""
    scores = iter(range(100))
    monkeypatch.setattr(Trainer, "evaluate", lambda self, data, kl_weight=1.0: next(scores))
    with pytest.warns(ConvergenceWarning, match="first epoch"):
        VAETransformer(random_state=0, max_iter=20, n_iter_no_change=2).fit(blobs)

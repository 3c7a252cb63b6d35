"""Reliability promises of every public estimator (issue 6): safe and
portable persistence, concurrent inference, interruption, divergence, and
validation before any expensive work."""

import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from conftest import fail_in_epoch
from skvae import VAEClassifier, VAEImputer, VAETransformer
from skvae.nn.train import Trainer

SMALL = dict(max_iter=6, hidden_layer_sizes=(16,), random_state=0)


def _data(seed=0, n=120, d=5):
    rng = np.random.RandomState(seed)
    t = rng.standard_normal((n, 2))
    X = np.column_stack([t, t[:, :1] * t[:, 1:], np.sin(t[:, :1]), t[:, 1:] ** 2])[:, :d]
    return X + 0.1 * rng.standard_normal((n, d))


def transformer_case():
    X = _data()
    return VAETransformer(2, **SMALL), X, None, ["transform", "score_samples"]


def imputer_case():
    X = _data()
    X[np.random.RandomState(1).uniform(size=X.shape) < 0.2] = np.nan
    return VAEImputer(**SMALL), X, None, ["transform"]


def classifier_case():
    X = _data()
    y = (X[:, 0] > 0).astype(int)
    y[np.random.RandomState(2).uniform(size=len(y)) < 0.7] = -1
    return VAEClassifier(4, **SMALL), X, y, ["predict_proba", "transform"]


CASES = [transformer_case, imputer_case, classifier_case]
IDS = ["VAETransformer", "VAEImputer", "VAEClassifier"]


def fit_quietly(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def outputs(estimator, X, methods):
    return {m: getattr(estimator, m)(X) for m in methods}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_skops_loads_with_only_skvae_types_trusted(case):
    sio = pytest.importorskip("skops.io")
    estimator, X, y, methods = case()
    fit_quietly(estimator, X, y)
    data = sio.dumps(estimator)
    cls = type(estimator)
    assert sio.get_untrusted_types(data=data) == [f"{cls.__module__}.{cls.__name__}"]
    loaded = sio.loads(data, trusted=[f"{cls.__module__}.{cls.__name__}"])
    for method, expected in outputs(estimator, X, methods).items():
        np.testing.assert_array_equal(getattr(loaded, method)(X), expected)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_pickled_state_is_numpy_and_builtins(case):
    estimator, X, y, methods = case()
    fit_quietly(estimator, X, y)

    def walk(obj):
        if isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v)
        else:
            assert type(obj).__module__ in ("builtins", "numpy"), type(obj)

    walk(estimator.__getstate__())
    loaded = pickle.loads(pickle.dumps(estimator))
    for method, expected in outputs(estimator, X, methods).items():
        np.testing.assert_array_equal(getattr(loaded, method)(X), expected)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_concurrent_calls_match_sequential(case):
    estimator, X, y, methods = case()
    fit_quietly(estimator, X, y)
    expected = outputs(estimator, X, methods)
    calls = [(m, i) for m in methods for i in range(6)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda call: getattr(estimator, call[0])(X), calls))
    for (method, _), result in zip(calls, results):
        np.testing.assert_array_equal(result, expected[method])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_interrupted_fit_is_usable_and_resumable(case, monkeypatch):
    estimator, X, y, methods = case()
    estimator.set_params(max_iter=50)
    fail_in_epoch(monkeypatch, 3, KeyboardInterrupt())
    with pytest.warns(UserWarning, match="interrupted"):
        estimator.fit(X, y)
    assert estimator.n_iter_ == 2
    for result in outputs(estimator, X, methods).values():
        assert np.isfinite(result).all()
    monkeypatch.undo()
    # warm_start continues from the weights kept at the interruption.
    estimator.set_params(warm_start=True, max_iter=3)
    fit_quietly(estimator, X, y)
    assert estimator.n_iter_ == 5


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_divergence_recovers_or_fails_clearly(case, monkeypatch):
    estimator, X, y, methods = case()
    calls = {"n": 0}
    original = Trainer.train_epoch

    def diverging_once(self, *args, **kwargs):
        calls["n"] += 1
        loss = original(self, *args, **kwargs)
        if calls["n"] == 2:
            with torch.no_grad():
                for p in self.module.parameters():
                    p.fill_(float("nan"))
            return float("nan")
        return loss

    monkeypatch.setattr(Trainer, "train_epoch", diverging_once)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        fit_quietly(estimator, X, y)
    for result in outputs(estimator, X, methods).values():
        assert np.isfinite(result).all()

    monkeypatch.setattr(Trainer, "train_epoch", lambda self, *a, **k: float("nan"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="diverged.*learning_rate"):
            estimator.fit(X, y)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_absurd_learning_rate_never_returns_nan(case):
    estimator, X, y, methods = case()
    estimator.set_params(learning_rate=1e8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            estimator.fit(X * 1e8, y)
        except ValueError as exc:
            assert "diverged" in str(exc)
            return
    for result in outputs(estimator, X * 1e8, methods).values():
        assert np.isfinite(result).all()


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize(
    "bad",
    [
        {"params": {"max_iter": 0}},
        {"params": {"device": "no-such-device"}},
        {"X": lambda X: np.where(np.arange(X.shape[1]) == 0, np.inf, X)},
        {"X": lambda X: X.astype(str).astype(object) + "x"},
    ],
    ids=["param", "device", "inf", "strings"],
)
def test_errors_come_before_any_training(case, bad, monkeypatch):
    estimator, X, y, _ = case()

    def no_training(*args, **kwargs):
        raise AssertionError("training started before the input was validated")

    monkeypatch.setattr(Trainer, "__init__", no_training)
    estimator.set_params(**bad.get("params", {}))
    X = bad.get("X", lambda X: X)(X)
    with pytest.raises((ValueError, TypeError)):
        estimator.fit(X, y)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_inference_holds_the_output_and_one_batch_not_a_copy(case):
    """Inference works in row batches: on a 40,000 x 40 float32 input the
    numpy memory a call allocates stays within its output, a one-byte-per-
    cell mask and a few batches, far below one float64 copy of the input.
    The imputer returns a table the size of its input and may hold, besides
    its output, two float64 arrays of that size (its model view and the
    columns being assembled), not more."""
    import tracemalloc

    from skvae._base import INFERENCE_BATCH_SIZE

    estimator, X, y, methods = case()
    rng = np.random.RandomState(0)
    X = np.column_stack([X] * 8)  # 40 features
    X[np.isnan(X)] = 0.0
    if isinstance(estimator, VAEImputer):
        X[rng.uniform(size=X.shape) < 0.2] = np.nan
    if "n_importance_samples" in estimator.get_params():
        estimator.set_params(n_importance_samples=4)  # memory, not accuracy, is tested
    fit_quietly(estimator, X, y)
    big = np.tile(X, (40_000 // X.shape[0] + 1, 1))[:40_000].astype(np.float32)
    batch = INFERENCE_BATCH_SIZE * big.shape[1] * 8
    for method in methods:
        tracemalloc.start()
        try:
            out = getattr(estimator, method)(big)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        copies = 2 if isinstance(estimator, VAEImputer) else 0
        bound = out.nbytes + copies * big.size * 8 + big.size + 4 * batch
        assert peak <= bound, (method, peak, bound)
        if not copies:
            assert bound < big.size * 8  # the bound excludes a float64 copy


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_training_precision_sets_the_products_not_the_state(case, precision, monkeypatch):
    """training_precision="bfloat16" computes the training products in
    bfloat16 (and "float32" never does); either way the fit is
    reproducible, the fitted state is float32 and inference is finite."""
    from sklearn.base import clone

    estimator, X, y, methods = case()
    estimator.set_params(training_precision=precision)
    seen = set()
    forward = torch.nn.Linear.forward

    def recording_forward(self, inputs):
        out = forward(self, inputs)
        seen.add(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.Linear, "forward", recording_forward)
    fit_quietly(estimator, X, y)
    assert (torch.bfloat16 in seen) == (precision == "bfloat16")
    first = outputs(estimator, X, methods)
    second = outputs(fit_quietly(clone(estimator), X, y), X, methods)
    for method, values in first.items():
        assert np.isfinite(np.asarray(values, dtype=float)).all(), method
        np.testing.assert_array_equal(second[method], values)
    assert {a.dtype for a in estimator._params.values()} == {np.dtype(np.float32)}


def test_auto_precision_is_bfloat16_for_large_networks_on_native_hardware(monkeypatch):
    from skvae import _base

    small, large = torch.nn.Linear(100, 100), torch.nn.Linear(1000, 1000)
    monkeypatch.setattr(_base, "_native_bfloat16", lambda device: True)
    assert _base.training_autocast_dtype("auto", small) is None
    assert _base.training_autocast_dtype("auto", large) is torch.bfloat16
    assert _base.training_autocast_dtype("float32", large) is None
    # Or for steps of many rows (an imputer's 20 draws per row): by work.
    assert _base.training_autocast_dtype("auto", small, rows_per_step=512) is None
    assert _base.training_autocast_dtype("auto", small, rows_per_step=1024) is torch.bfloat16
    tiny = torch.nn.Linear(10, 10)  # 1,024 rows but little work per step
    assert _base.training_autocast_dtype("auto", tiny, rows_per_step=1024) is None
    monkeypatch.setattr(_base, "_native_bfloat16", lambda device: False)
    assert _base.training_autocast_dtype("auto", large) is None
    assert _base.training_autocast_dtype("auto", small, rows_per_step=4096) is None
    assert _base.training_autocast_dtype("bfloat16", small) is torch.bfloat16


def test_imputer_small_table_steps_train_in_bfloat16_on_native_hardware(monkeypatch):
    """The default small-table imputer (one layer of 256 units, 20 draws
    per row) crosses the work threshold; a transformer of digits' size
    does not."""
    from skvae import _base
    from skvae.impute import VAEImputer

    seen = []
    original = _base.training_autocast_dtype

    def spy(precision, module, rows_per_step=0):
        seen.append(original(precision, module, rows_per_step))
        return seen[-1]

    monkeypatch.setattr(_base, "_native_bfloat16", lambda device: True)
    monkeypatch.setattr(_base, "training_autocast_dtype", spy)
    rng = np.random.RandomState(0)
    X = rng.standard_normal((100, 30))
    X[rng.rand(*X.shape) < 0.3] = np.nan
    est = VAEImputer(max_iter=1, n_importance_samples=5, random_state=0).fit(X)
    assert est._config["hidden_layer_sizes"] == [256]
    assert seen == [torch.bfloat16]
    VAETransformer(5, max_iter=1, random_state=0).fit(rng.rand(100, 64))
    assert seen[-1] is None


def test_the_cases_cover_every_estimator():
    """A new public estimator must get a case here."""
    from conftest import estimator_classes

    assert {type(case()[0]) for case in CASES} == set(estimator_classes())

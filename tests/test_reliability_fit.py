"""A failed or interrupted fit loses nothing (issue 15, items 1 and 4): a
first fit that fails leaves the estimator unfitted, a refit that fails
leaves the previous model exactly as it was, and Ctrl-C either leaves a
usable model (with a warning) or the previous state; a second Ctrl-C stops
a search."""

import io
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from conftest import fail_in_epoch
from skvae import VAEClassifier, VAEImputer, VAETransformer
from skvae.nn import train as train_module
from skvae.nn.train import Trainer, deferred_interrupts

SMALL = dict(max_iter=4, hidden_layer_sizes=(8,), random_state=0)


def _data(seed=0, n=80, d=4, scale=1.0, shift=0.0):
    rng = np.random.RandomState(seed)
    t = rng.standard_normal((n, 2))
    X = np.column_stack([t, np.sin(t[:, :1]), t[:, 1:] ** 2])[:, :d]
    return (X + 0.1 * rng.standard_normal((n, d))) * scale + shift


def transformer_case(**kw):
    X = _data(**kw)
    return VAETransformer(2, **SMALL), X, None, ["transform", "inverse_transform_of_transform"]


def imputer_case(**kw):
    X = _data(**kw)
    X[np.random.RandomState(1).uniform(size=X.shape) < 0.2] = np.nan
    return VAEImputer(**SMALL), X, None, ["transform"]


def classifier_case(**kw):
    X = _data(**kw)
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    y[np.random.RandomState(2).uniform(size=len(y)) < 0.6] = -1
    return VAEClassifier(2, **SMALL), X, y, ["predict_proba", "transform"]


CASES = [transformer_case, imputer_case, classifier_case]
IDS = ["VAETransformer", "VAEImputer", "VAEClassifier"]


def outputs(estimator, X, methods):
    result = {}
    for method in methods:
        if method == "inverse_transform_of_transform":
            result[method] = estimator.inverse_transform(estimator.transform(X))
        else:
            result[method] = getattr(estimator, method)(X)
    return result


def fit_quietly(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


FAILURES = [
    ValueError("Training diverged (injected)"),
    MemoryError(),
    BrokenPipeError(),
]


@pytest.mark.parametrize("error", FAILURES, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_failed_first_fit_leaves_the_estimator_unfitted(case, error, monkeypatch):
    estimator, X, y, methods = case()
    before = dict(vars(estimator))
    fail_in_epoch(monkeypatch, 3, error)
    with pytest.raises(type(error)):
        estimator.fit(X, y)
    assert vars(estimator) == before
    for method in methods:
        with pytest.raises(NotFittedError):
            outputs(estimator, X, [method])


@pytest.mark.parametrize("error", FAILURES, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_failed_refit_on_new_data_keeps_the_previous_model(case, error, monkeypatch):
    estimator, X, y, methods = case()
    fit_quietly(estimator, X, y)
    expected = outputs(estimator, X, methods)
    state = pickle.dumps(estimator)
    # New data on another scale: a refit that mixed the old network with
    # the new scaling would move every output.
    _, X_new, y_new, _ = case(seed=3, scale=50.0, shift=-20.0)
    fail_in_epoch(monkeypatch, 2, error)
    with pytest.raises(type(error)):
        estimator.fit(X_new, y_new)
    assert pickle.dumps(estimator) == state
    for method, values in outputs(estimator, X, methods).items():
        np.testing.assert_array_equal(values, expected[method])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_failed_warm_start_and_partial_fit_keep_the_histories(case, monkeypatch):
    estimator, X, y, methods = case()
    fit_quietly(estimator, X, y)
    curve, n_iter = list(estimator.loss_curve_), estimator.n_iter_
    estimator.set_params(warm_start=True)
    fail_in_epoch(monkeypatch, 2, ValueError("injected"))
    with pytest.raises(ValueError, match="injected"):
        estimator.fit(X, y)
    assert estimator.loss_curve_ == curve and estimator.n_iter_ == n_iter


def test_broken_pipe_under_verbose_keeps_the_previous_model(monkeypatch):
    """``verbose`` output piped to ``head``: printing raises BrokenPipeError
    once the reader has gone."""
    estimator, X, _, methods = transformer_case()
    fit_quietly(estimator, X, None)
    expected = outputs(estimator, X, methods)

    class ClosedPipe(io.StringIO):
        def write(self, text):
            if "Epoch 2" in text:
                raise BrokenPipeError(32, "Broken pipe")
            return super().write(text)

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    estimator.set_params(verbose=1)
    with pytest.raises(BrokenPipeError):
        estimator.fit(_data(seed=5, scale=3.0))
    monkeypatch.undo()
    for method, values in outputs(estimator, X, methods).items():
        np.testing.assert_array_equal(values, expected[method])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_interrupt_before_the_first_epoch_ends_leaves_the_previous_state(case, monkeypatch):
    estimator, X, y, methods = case()
    fail_in_epoch(monkeypatch, 1, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        estimator.fit(X, y)
    with pytest.raises(NotFittedError):
        outputs(estimator, X, methods[:1])
    monkeypatch.undo()
    fit_quietly(estimator, X, y)
    expected = outputs(estimator, X, methods)
    fail_in_epoch(monkeypatch, 1, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        estimator.fit(X, y)
    for method, values in outputs(estimator, X, methods).items():
        np.testing.assert_array_equal(values, expected[method])


# A process started in the background (`nohup`, `&` in a script) ignores
# SIGINT from its start, and Python then installs no Ctrl-C handler: the
# tests that raise a real SIGINT install Python's own, as an interactive
# session has it, in the test process (this fixture) or in their child
# (SIGINT_HANDLER, first line of its script).
SIGINT_HANDLER = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)"


@pytest.fixture
def python_sigint():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_interrupt_while_building_the_optimiser_is_held_until_it_is_built(monkeypatch, python_sigint):
    """The first optimiser of a process imports much of torch lazily; a
    Ctrl-C then must not leave torch half-imported. It is held until the
    optimiser exists, then raised, and the fit leaves nothing behind."""
    built = []
    original = torch.optim.Adam

    def adam(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)  # Ctrl-C in the middle of the import
        optimizer = original(*args, **kwargs)
        built.append(optimizer)
        return optimizer

    monkeypatch.setattr(torch.optim, "Adam", adam)
    monkeypatch.setattr(train_module, "_torch_ready", False)  # as in a new process
    estimator, X, _, methods = transformer_case()
    with pytest.raises(KeyboardInterrupt):
        estimator.fit(X)
    assert len(built) == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(NotFittedError):
        estimator.transform(X)


def test_deferred_interrupts_hold_the_signal_until_the_block_ends(python_sigint):
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            signal.raise_signal(signal.SIGINT)
            steps.append("after the signal")
    assert steps == ["after the signal"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_second_interrupt_within_the_window_propagates(monkeypatch):
    """The first Ctrl-C ends a fit with the best weights; one that follows
    within INTERRUPT_WINDOW_S seconds (the next fit of a loop or search)
    propagates and leaves that fit's estimator as it was."""
    first, X, _, methods = transformer_case()
    first.set_params(max_iter=20)
    fail_in_epoch(monkeypatch, 3, KeyboardInterrupt())
    with pytest.warns(UserWarning, match="interrupted"):
        first.fit(X)
    assert first.n_iter_ == 2
    second, _, _, _ = transformer_case()
    second.set_params(max_iter=20)
    fail_in_epoch(monkeypatch, 3, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        second.fit(X)
    with pytest.raises(NotFittedError):
        second.transform(X)
    # Past the window, a Ctrl-C is absorbed again.
    monkeypatch.setattr(
        train_module, "_last_absorbed_interrupt",
        time.monotonic() - train_module.INTERRUPT_WINDOW_S - 1,
    )
    fail_in_epoch(monkeypatch, 3, KeyboardInterrupt())
    with pytest.warns(UserWarning, match="interrupted"):
        second.fit(X)


_SEARCH_SCRIPT = SIGINT_HANDLER + textwrap.dedent(
    """
    import sys, warnings
    import numpy as np
    from sklearn.model_selection import GridSearchCV
    from skvae import VAETransformer

    warnings.simplefilter("ignore")
    X = np.random.RandomState(0).standard_normal((3000, 20))
    search = GridSearchCV(
        VAETransformer(2, hidden_layer_sizes=(64,), max_iter=2000, tol=0.0,
                       n_iter_no_change=5000, batch_size=32, verbose=1),
        {"beta": [0.5, 1.0, 2.0, 4.0]}, cv=2,
    )
    search.fit(X)
    print("SEARCH FINISHED", flush=True)
    """
)


def _start_search(tmp_path):
    script = tmp_path / "search.py"
    script.write_text(_SEARCH_SCRIPT)
    return subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _wait_for_line(process, text, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if text in line:
            return True
    return False


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT to a child process")
def test_two_ctrl_c_stop_a_grid_search(tmp_path):
    """A real SIGINT: the first ends the running fit (the search goes on),
    the second, sent within the window, stops the whole search."""
    process = _start_search(tmp_path)
    try:
        assert _wait_for_line(process, "Epoch 2/", timeout=120)
        process.send_signal(signal.SIGINT)
        # The interrupted fit ends; the search starts the next one.
        assert _wait_for_line(process, "Training VAETransformer", timeout=60)
        assert _wait_for_line(process, "Epoch 1/", timeout=60)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert "SEARCH FINISHED" not in out
    assert "KeyboardInterrupt" in err
    assert process.returncode != 0


# ------------------------------------------------------- extreme values


def _outputs_of_every_kind(estimator, X, y):
    fit_quietly(estimator, X, y)
    if isinstance(estimator, VAEImputer):
        return {"transform": estimator.transform(X)}
    results = {"transform": estimator.transform(X), "sample": estimator.sample(4)}
    if isinstance(estimator, VAETransformer):
        results["inverse_transform"] = estimator.inverse_transform(results["transform"])
        results["score_samples"] = estimator.score_samples(X)
    else:
        results["predict_proba"] = estimator.predict_proba(X)
    return results


@pytest.mark.parametrize("magnitude", [1e154, 1e200, 1e250, 1e300])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_huge_finite_values_give_finite_outputs_in_their_units(case, magnitude):
    """Squares of values beyond 1e154 overflow float64: the feature scale
    is computed without squaring them, so every output stays finite and
    in the feature's units."""
    estimator, X, y, _ = case()
    X = X / np.nanmax(np.abs(X)) * magnitude
    for name, values in _outputs_of_every_kind(estimator, X, y).items():
        values = values[0] if isinstance(values, tuple) else values
        assert np.isfinite(values).all(), name
    if isinstance(estimator, VAEImputer):
        filled = estimator.transform(X)
        assert np.abs(filled).max() <= 10 * magnitude
    if isinstance(estimator, VAETransformer):
        reconstruction = estimator.inverse_transform(estimator.transform(X))
        assert 0.01 * magnitude < np.abs(reconstruction).max() < 10 * magnitude


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_values_beyond_the_largest_magnitude_are_rejected_before_training(case, monkeypatch):
    """The issue's reproduction, a column of +-1e308, failed only after
    training had started ("Training diverged ...")."""
    estimator, X, y, methods = case()
    X[:, 1] = np.where(np.arange(len(X)) % 2, 1e308, -1e308)

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(Trainer, "train_epoch", no_training)
    with pytest.raises(ValueError, match="magnitude"):
        estimator.fit(X, y)
    with pytest.raises(NotFittedError):
        outputs(estimator, X, methods[:1])


def test_refit_data_beyond_the_model_units_is_rejected_before_training(monkeypatch):
    """A warm-started fit reuses the first fit's scaling: data that
    overflows float32 in those units fails up front, the model unchanged."""
    estimator, X, _, methods = transformer_case()
    fit_quietly(estimator, X, None)
    expected = outputs(estimator, X, methods)
    estimator.set_params(warm_start=True)
    monkeypatch.setattr(Trainer, "train_epoch", lambda *a, **k: pytest.fail("trained"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no numpy overflow noise first
        with pytest.raises(ValueError, match="first fit"):
            estimator.fit(X * 1e60)
    for method, values in outputs(estimator, X, methods).items():
        np.testing.assert_array_equal(values, expected[method])


def test_standardisation_of_huge_and_tiny_features():
    from skvae._base import standardisation

    rng = np.random.RandomState(0)
    base = rng.standard_normal((50, 1)) + 2.0
    for magnitude in [1e-300, 1e-160, 1e-30, 1.0, 1e30, 1e160, 1e299]:
        shift, scale = standardisation(base * magnitude, "gaussian")
        np.testing.assert_allclose(shift / magnitude, base.mean(0), rtol=1e-12)
        np.testing.assert_allclose(scale / magnitude, base.std(0), rtol=1e-12)
    # A huge constant keeps its model values small.
    constant = np.full((10, 1), 3e299)
    shift, scale = standardisation(constant, "gaussian")
    assert np.abs((constant - shift) / scale).max() <= 1.0


# ---------------------------------------------- partial_fit on ordered chunks


def _drifting_table(n=600, seed=0):
    """Rows sorted by a time t that drifts the features, as a log would."""
    rng = np.random.RandomState(seed)
    t = np.sort(rng.uniform(0, 10, n))
    X = np.column_stack([t, np.sin(t), np.cos(t), 0.1 * t + 0.1 * rng.randn(n), rng.randn(n)])
    return X + 0.05 * rng.randn(n, 5)


def test_partial_fit_rescaling_keeps_what_the_network_learnt():
    """Re-expressing the network in the updated units leaves transform,
    inverse_transform and score_samples unchanged (float32 rounding)."""
    import copy

    X = _drifting_table()
    first, second = X[:300], X[300:] * 3.0
    vae = VAETransformer(2, max_iter=3, random_state=0, hidden_layer_sizes=(16,))
    vae.partial_fit(first)
    moved = copy.deepcopy(vae)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        moved._update_preprocessing(second)
    moved._inference = moved._build_inference_module()
    assert not np.allclose(moved._scale, vae._scale)
    np.testing.assert_allclose(moved.transform(first), vae.transform(first), atol=1e-5)
    Z = vae.transform(first)
    np.testing.assert_allclose(moved.inverse_transform(Z), vae.inverse_transform(Z), atol=1e-5)
    np.testing.assert_allclose(moved.score_samples(first), vae.score_samples(first), atol=1e-4)


@pytest.mark.parametrize("ordered", [True, False])
def test_partial_fit_scaling_follows_every_row_seen(ordered):
    from skvae._base import standardisation

    X = _drifting_table()
    X[np.random.RandomState(1).uniform(size=X.shape) < 0.1] = np.nan
    rows = np.arange(len(X)) if ordered else np.random.RandomState(2).permutation(len(X))
    vae = VAETransformer(2, max_iter=2, random_state=0, hidden_layer_sizes=(8,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for chunk in np.array_split(rows, 6):
            vae.partial_fit(X[chunk])
    shift, scale = standardisation(X, "gaussian")
    np.testing.assert_allclose(vae._shift, shift, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(vae._scale, scale, rtol=1e-10)
    low, high = vae._config["input_bounds"]
    X_model = (X - shift) / scale
    assert (np.nanmin(X_model, axis=0) >= low).all() and (np.nanmax(X_model, axis=0) <= high).all()


def test_partial_fit_warns_once_of_ordered_batches_and_not_of_random_ones():
    X = _drifting_table()
    vae = VAETransformer(2, max_iter=2, random_state=0, hidden_layer_sizes=(8,))
    with pytest.warns(UserWarning, match="come in order") as record:
        for chunk in np.array_split(np.arange(len(X)), 5):
            vae.partial_fit(X[chunk])
    assert sum("come in order" in str(w.message) for w in record) == 1
    vae = VAETransformer(2, max_iter=2, random_state=0, hidden_layer_sizes=(8,))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        for chunk in np.array_split(np.random.RandomState(0).permutation(len(X)), 5):
            vae.partial_fit(X[chunk])


def test_partial_fit_on_ordered_chunks_learns_what_first_chunk_scaling_could_not(monkeypatch):
    """The issue's case on a drifting table: with the first chunk's scaling
    (the old behaviour, by skipping the update) later chunks lie thousands
    of its standard deviations away and past the encoder's bounds."""
    X = _drifting_table(n=800)
    test = np.random.RandomState(3).uniform(size=len(X)) < 0.25
    train = X[~test]

    def score(update):
        vae = VAETransformer(2, random_state=0, hidden_layer_sizes=(32,))
        if not update:
            monkeypatch.setattr(vae, "_update_preprocessing", lambda X, y=None: None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(3):
                for chunk in np.array_split(np.arange(len(train)), 4):
                    vae.partial_fit(train[chunk])
        return vae.score(X[test])

    # -27.7 against -30.9 when written
    assert score(update=True) > score(update=False) + 1.0


def test_partial_fit_widens_the_bounds_of_image_pixels():
    """Bernoulli pixels never lit in the first batch are no longer clamped
    to 0 in later ones."""
    X = (np.random.RandomState(0).uniform(size=(60, 6)) > 0.5).astype(float)
    first = X[:30].copy()
    first[:, 0] = 0.0
    vae = VAETransformer(2, max_iter=2, random_state=0, hidden_layer_sizes=(8,))
    vae.partial_fit(first)
    assert vae._config["input_bounds"][1][0] == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        vae.partial_fit(X[30:])
    assert vae.likelihood_ == "bernoulli"
    assert vae._config["input_bounds"][1][0] >= 1.0
    assert vae._inference.input_upper[0] >= 1.0


# ------------------------------------------- Ctrl-C in the windows around training


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_interrupt_while_building_the_inference_network_keeps_the_previous_model(
    case, monkeypatch
):
    estimator, X, y, methods = case()
    fit_quietly(estimator, X, y)
    expected = outputs(estimator, X, methods)
    state = pickle.dumps(estimator)

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(type(estimator), "_build_inference_module", interrupted)
    with pytest.raises(KeyboardInterrupt):
        estimator.fit(*case(seed=4, scale=5.0)[1:3])
    monkeypatch.undo()
    assert pickle.dumps(estimator) == state
    for method, values in outputs(estimator, X, methods).items():
        np.testing.assert_array_equal(values, expected[method])


def _mixed_table(n=80):
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    t = rng.standard_normal(n)
    frame = pd.DataFrame({
        "a": t + 0.1 * rng.standard_normal(n),
        "b": np.sin(t),
        "level": np.where(t > 0.3, "high", np.where(t < -0.3, "low", "mid")),
    })
    frame.loc[rng.uniform(size=n) < 0.2, "a"] = np.nan
    frame.loc[rng.uniform(size=n) < 0.2, "level"] = np.nan
    return frame


def test_interrupt_in_the_first_calibration_epoch_keeps_the_previous_state(monkeypatch):
    frame = _mixed_table()
    imputer = VAEImputer(max_iter=3, hidden_layer_sizes=(8,), random_state=0)
    fail_in_epoch(monkeypatch, 4, KeyboardInterrupt())  # epoch 1 of calibration model 1
    with pytest.raises(KeyboardInterrupt):
        imputer.fit(frame)
    with pytest.raises(NotFittedError):
        imputer.transform(frame)


def test_interrupt_later_in_calibration_keeps_the_model_without_calibration(monkeypatch):
    frame = _mixed_table()
    imputer = VAEImputer(max_iter=3, hidden_layer_sizes=(8,), random_state=0)
    fail_in_epoch(monkeypatch, 5, KeyboardInterrupt())  # epoch 2 of calibration model 1
    with pytest.warns(UserWarning, match="Calibration interrupted"):
        imputer.fit(frame)
    assert imputer.n_iter_ == 3
    assert (imputer.category_shrinkage_ == 0).all()
    assert not imputer.transform(frame).isna().any().any()


_LAZY_IMPORT_SCRIPT = SIGINT_HANDLER + textwrap.dedent(
    """
    import os, signal, sys, threading
    import numpy as np
    from skvae import VAETransformer

    X = np.random.RandomState(0).standard_normal((50, 3))
    threading.Timer(float(sys.argv[1]), lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    vae = VAETransformer(2, max_iter=3)
    try:
        vae.fit(X)
    except KeyboardInterrupt:
        print("interrupted, fitted:", hasattr(vae, "n_iter_"))
    vae.fit(X)
    print("second fit:", np.isfinite(vae.transform(X)).all())
    """
)


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT to a child process")
@pytest.mark.parametrize("delay", [0.2, 0.7])
def test_ctrl_c_during_the_first_fit_of_a_process_leaves_torch_usable(tmp_path, delay):
    """The first fit of a process imports about 800 modules of torch lazily
    (over a second): a real SIGINT in that window used to leave torch
    half-imported ("module 'sympy' has no attribute 'core'") and every
    later fit failing."""
    script = tmp_path / "lazy.py"
    script.write_text(_LAZY_IMPORT_SCRIPT)
    result = subprocess.run(
        [sys.executable, "-W", "ignore", str(script), str(delay)],
        capture_output=True, text=True, timeout=120,
    )
    assert "second fit: True" in result.stdout, result.stderr[-2000:]
    assert "fitted: True" not in result.stdout


def test_the_cases_cover_every_estimator():
    """A new public estimator must get a case here."""
    from conftest import estimator_classes

    assert {type(case()[0]) for case in CASES} == set(estimator_classes())


@pytest.mark.parametrize(
    "params, words",
    [
        (dict(hidden_layer_sizes=(10**9,)), "parameters"),
        (dict(n_components=10**9), "parameters"),
        (dict(n_importance_samples=10**12, sample_posterior=True), "n_importance_samples"),
    ],
)
def test_imputer_refuses_absurd_sizes_before_allocating(params, words):
    _, X, _, _ = imputer_case()
    with pytest.raises(ValueError, match=words):
        VAEImputer(max_iter=2, **params).fit(X)


def test_imputer_names_the_column_of_huge_values():
    pd = pytest.importorskip("pandas")
    frame = _mixed_table()
    frame["b"] *= 1e301
    with pytest.raises(ValueError, match="feature 'b'"):
        VAEImputer(max_iter=2).fit(frame)


def test_the_first_fit_of_a_process_leaves_global_random_states_alone(tmp_path):
    """prepare_torch runs once per process, at the first fit: it must not
    draw from torch's (or numpy's) global generator either."""
    script = tmp_path / "first_fit.py"
    script.write_text(textwrap.dedent(
        """
        import warnings
        import numpy as np
        import torch
        from skvae import VAETransformer

        warnings.simplefilter("ignore")
        X = np.random.RandomState(0).standard_normal((40, 3))
        torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()
        VAETransformer(2, max_iter=1, random_state=0).fit(X)
        print(torch.equal(torch.random.get_rng_state(), torch_state),
              np.array_equal(np.random.get_state()[1], numpy_state))
        """
    ))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["True", "True"], result.stderr[-2000:]

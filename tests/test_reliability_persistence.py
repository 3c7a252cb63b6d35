"""Reliability, round two (issue 15): loading a file is bounded and checked,
and fit_streaming trains on the data X holds (items 3, 6, 8 and 9).

Tampered files are loaded in a child process under an address-space limit,
so that a check that stops working fails the test quickly instead of
allocating gigabytes."""

import copy
import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from skvae import VAEClassifier, VAEImputer, VAETransformer, fit_streaming

pd = pytest.importorskip("pandas")

HUGE = 10**9
#: Most the resident memory of a process may grow while it loads every
#: tampered file (the issue's bound for one).
MAX_LOAD_GROWTH_MB = 100
#: Address space a loading child may take beyond what it holds after its
#: imports: a regression fails with a MemoryError instead of using it.
CHILD_ADDRESS_SPACE_MB = 1024

SMALL = dict(max_iter=2, hidden_layer_sizes=(8,), random_state=0, device="cpu")


def _fit(estimator, X, y=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


@pytest.fixture(scope="module")
def fitted():
    """One small fitted model of each kind the config describes: dense
    Gaussian, convolutional Bernoulli, M2, mixed numeric and categorical."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] > 0).astype(int)
    y[::2] = -1
    table = pd.DataFrame(
        {"a": X[:, 0], "b": X[:, 1], "c": np.array(["x", "y", "z"])[rng.randint(0, 3, 60)]}
    )
    table.iloc[::7, 0] = np.nan
    images = rng.uniform(size=(60, 64)).round()
    return {
        "dense": (_fit(VAETransformer(2, **SMALL), X), X),
        "conv": (_fit(VAETransformer(2, network="conv", conv_channels=(4,), **SMALL), images),
                 images),
        "m2": (_fit(VAEClassifier(2, **SMALL), X, y), X),
        "mixed": (_fit(VAEImputer(**SMALL), table), table),
    }


def _int_entries(obj, path=()):
    """Paths to every int in a nested config (sizes, feature indices)."""
    if isinstance(obj, bool):
        return
    if isinstance(obj, int):
        yield path
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _int_entries(value, (*path, key))
    elif isinstance(obj, (list, tuple)) and path != ("input_bounds",):
        for i, value in enumerate(obj):
            yield from _int_entries(value, (*path, i))


def _tampered(estimator, path, value):
    """A copy of ``estimator`` whose ``_config`` has ``value`` at ``path``
    (what editing the saved file gives)."""
    tampered = copy.copy(estimator)
    tampered._config = config = copy.deepcopy(estimator._config)
    for key in path[:-1]:
        config = config[key]
    config[path[-1]] = value
    return tampered


def _tampered_cases(fitted):
    """(name, estimator) for every int of every model's config set to HUGE,
    and the issue's examples."""
    cases = []
    for kind, (estimator, _) in fitted.items():
        for path in _int_entries(estimator._config):
            name = f"{kind}:{'.'.join(map(str, path))}"
            cases.append((name, _tampered(estimator, path, HUGE)))
    dense, conv, mixed = fitted["dense"][0], fitted["conv"][0], fitted["mixed"][0]
    issue = [
        ("dense", dense, ("hidden_layer_sizes",), [HUGE]),
        ("dense", dense, ("hidden_layer_sizes",), [8] * 1000),
        ("conv", conv, ("conv_channels",), [20000, 20000]),
        ("mixed", mixed, ("likelihood", 1, "n_categories"), [4 * 10**8]),
    ]
    for kind, estimator, path, value in issue:
        cases.append((f"{kind}:{path[-1]}={value[:2]}", _tampered(estimator, path, value)))
    return cases


#: Ints of a config that size nothing built on loading: the draws per row
#: of VAEImputer's training objective. They are type-checked only; the
#: estimator's parameters that set them are checked when training.
TRAINING_SETTINGS = {"training_samples"}

_LOADER = textwrap.dedent(
    """
    import json, pickle, resource, sys
    import skops.io as sio
    import skvae  # imports before the measure

    def status(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(key))

    limit = (status("VmSize:") + {extra_mb} * 1024) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    start = status("VmRSS:")
    try:  # peak resident memory from now on (Linux 4.0 and later)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # then the peak of the imports counts too: a stricter test
    results = {{}}
    for path, trusted in json.loads(sys.argv[1]):
        try:
            if path.endswith(".pkl"):
                with open(path, "rb") as f:
                    pickle.load(f)
            else:
                sio.load(path, trusted=[trusted])
            results[path] = "loaded"
        except Exception as exc:
            results[path] = f"{{type(exc).__name__}}: {{exc}}"
    growth = (status("VmHWM:") - start) / 1024
    print(json.dumps({{"results": results, "growth_mb": growth}}))
    """
).format(extra_mb=CHILD_ADDRESS_SPACE_MB)


needs_proc = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="limits and measures through /proc"
)


def _load_in_child(files):
    """Load ``files`` ([(path, trusted type)]) in one child process under an
    address-space limit; the outcome of each and the growth of the child's
    peak resident memory over all of them."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _LOADER, json.dumps(files)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["results"], report["growth_mb"]


@needs_proc
def test_tampered_size_fields_fail_to_load_in_bounded_memory(fitted, tmp_path):
    """Issue 15 item 3: before, a file whose config said
    hidden_layer_sizes=[10**9] (or n_components, n_classes, n_features,
    conv_channels, n_categories set huge) made loading allocate 4-256 GB;
    now every size field is checked against the stored arrays first."""
    sio = pytest.importorskip("skops.io")
    files, expected = [], {}
    for i, (name, estimator) in enumerate(_tampered_cases(fitted)):
        cls = type(estimator)
        trusted = f"{cls.__module__}.{cls.__name__}"
        pkl, skops = str(tmp_path / f"{i}.pkl"), str(tmp_path / f"{i}.skops")
        with open(pkl, "wb") as f:
            pickle.dump(estimator, f)
        sio.dump(estimator, skops)
        assert sio.get_untrusted_types(file=skops) == [trusted]
        for path in (pkl, skops):
            files.append((path, trusted))
            expected[path] = name
    results, growth_mb = _load_in_child(files)
    for path, name in expected.items():
        if name.split(":")[1] in TRAINING_SETTINGS:
            assert results[path] == "loaded", (name, results[path])
        else:
            assert results[path].startswith("ValueError: Cannot load"), (name, results[path])
            assert "tampered" in results[path]
    assert growth_mb < MAX_LOAD_GROWTH_MB
    # Every field was tried: sizes of each model kind and the likelihood's parts.
    names = set(expected.values())
    for name in ("dense:n_features", "dense:n_components", "dense:hidden_layer_sizes.0",
                 "conv:conv_channels.0", "conv:image_shape.2", "m2:n_classes",
                 "mixed:likelihood.1.n_categories.0", "mixed:likelihood.0.features.1"):
        assert name in names


@needs_proc
def test_untampered_files_load_in_the_child(fitted, tmp_path):
    """The child loader itself works: the same models, untouched, load,
    and its measure sees the memory they take."""
    sio = pytest.importorskip("skops.io")
    files = []
    for kind, (estimator, _) in fitted.items():
        cls = type(estimator)
        path = str(tmp_path / f"{kind}.skops")
        sio.dump(estimator, path)
        files.append((path, f"{cls.__module__}.{cls.__name__}"))
    results, growth_mb = _load_in_child(files)
    assert set(results.values()) == {"loaded"}
    assert 0 < growth_mb < MAX_LOAD_GROWTH_MB


def _reload(estimator):
    return pickle.loads(pickle.dumps(estimator))


@pytest.mark.parametrize(
    "kind, key, value, message",
    [
        ("dense", "n_components", "2", "positive int"),
        ("dense", "n_features", True, "positive int"),
        ("dense", "hidden_layer_sizes", [8.0], "list of positive ints"),
        ("dense", "hidden_layer_sizes", [8, -1], "list of positive ints"),
        ("dense", "activation", "os.system", "must be one of"),
        ("dense", "likelihood", "poisson", "must be one of"),
        ("dense", "free_bits", float("nan"), "finite number"),
        ("dense", "input_bounds", ([0.0], [1.0]), "input_bounds"),
        ("dense", "unexpected", 1, "unknown entries"),
        ("conv", "image_shape", [1, 4, 4], "does not describe a network"),
        ("conv", "image_shape", [1, 1, 64], "shape"),
        ("m2", "model", "gan", "must be one of"),
        ("mixed", "likelihood", [{"kind": "gaussian", "features": [0, 1, 2]}], "shape"),
    ],
)
def test_config_entries_of_wrong_type_or_value_fail_to_load(fitted, kind, key, value, message):
    estimator = _tampered(fitted[kind][0], (key,), value)
    with pytest.raises(ValueError, match=message):
        _reload(estimator)


def _two_levels(estimator):
    estimator.categories_ = [np.array(["x", "y"], dtype=object)]
    estimator._level_frequencies = [np.array([0.5, 0.5])]


def _wrong_moment(estimator):
    state = copy.deepcopy(estimator._optimizer_state)
    state["state"][0]["exp_avg"] = np.zeros((2, 2))
    estimator._optimizer_state = state


@pytest.mark.parametrize(
    "kind, tamper, message",
    [
        ("dense", lambda e: setattr(e, "_shift", e._shift[:-1]), "_shift must have shape"),
        ("dense", lambda e: setattr(e, "_order", np.zeros_like(e._order)), "permutation"),
        ("dense", lambda e: e._params.update(input_lower=np.zeros(3, dtype=np.float32)),
         r"'input_lower' of shape \(4,\), but the stored array has shape \(3,\)"),
        ("dense", lambda e: e._params.pop("input_lower"), "missing: input_lower"),
        ("dense", lambda e: e._params.update(extra=np.zeros(3)), "unexpected: extra"),
        ("dense", lambda e: e._params.update(input_lower=np.zeros(4, dtype=object)),
         "dtype object"),
        ("m2", lambda e: setattr(e, "classes_", np.arange(3)), "one per class"),
        ("mixed", _two_levels, "categories_ gives"),
        ("mixed", lambda e: setattr(e, "_level_frequencies", [np.ones(5)]),
         "one frequency per level"),
        ("mixed", _wrong_moment, "_optimizer_state has an array"),
    ],
)
def test_inconsistent_fitted_state_fails_to_load(fitted, kind, tamper, message):
    estimator = copy.copy(fitted[kind][0])
    estimator._params = dict(estimator._params)
    tamper(estimator)
    with pytest.raises(ValueError, match=message):
        _reload(estimator)


def test_categorical_tables_are_bounded_even_when_consistent(fitted, monkeypatch):
    """Tables the network computes rather than stores (the (column, level)
    index of categorical columns) count against an allowance; a file
    whose config agrees with its arrays cannot exceed it either."""
    from skvae import _persistence

    estimator = fitted["mixed"][0]
    _reload(estimator)  # within the allowance
    monkeypatch.setattr(_persistence, "_UNSTORED_BYTES", 0)
    monkeypatch.setattr(_persistence, "_UNSTORED_PER_STORED_BYTE", 0)
    with pytest.raises(ValueError, match="MB of tables"):
        _reload(estimator)


@pytest.mark.parametrize("kind", ["dense", "conv", "m2", "mixed"])
def test_loading_checks_leave_models_and_global_rng_alone(fitted, kind):
    estimator, X = fitted[kind]
    state = torch.random.get_rng_state()
    loaded = _reload(estimator)
    assert torch.equal(torch.random.get_rng_state(), state)
    np.testing.assert_array_equal(np.asarray(loaded.transform(X)), np.asarray(estimator.transform(X)))


# ------------------------------------------------------------ fit_streaming


class Recorder:
    """An estimator that keeps a copy of every chunk it is given."""

    def __init__(self):
        self.chunks = []

    def partial_fit(self, X, y=None):
        self.chunks.append(X.copy() if hasattr(X, "iloc") else np.array(X))
        return self


def test_copy_on_write_memmap_streams_its_edits(tmp_path):
    """Issue 15 item 6: before, the chunks held the file's zeros, not the
    sevens the copy-on-write memmap held; the edits must also survive."""
    np.save(tmp_path / "X.npy", np.zeros((100, 3)))
    X = np.load(tmp_path / "X.npy", mmap_mode="c")
    X[:] = 7.0
    recorder = fit_streaming(Recorder(), X, chunk_rows=30, random_state=0)
    assert np.all(np.concatenate(recorder.chunks) == 7.0)
    assert np.all(X == 7.0)


def test_replaced_file_streams_what_the_memmap_holds(tmp_path):
    """Issue 15 item 6: before, a file replaced after X was opened was read
    instead of X (ones instead of X's zeros)."""
    path = tmp_path / "X.npy"
    np.save(path, np.zeros((100, 3)))
    X = np.load(path, mmap_mode="r")
    np.save(tmp_path / "new.npy", np.ones((100, 3)))
    os.replace(tmp_path / "new.npy", path)
    recorder = fit_streaming(Recorder(), X, chunk_rows=30, random_state=0)
    assert np.all(np.concatenate(recorder.chunks) == 0.0)
    assert sum(len(c) for c in recorder.chunks) == 100


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_pages_of_a_memmap_slice_are_released(tmp_path):
    """A slice of a shared memmap is read through the mapping and its pages
    released as well (before, slices kept every page they touched)."""

    def rss_file_kb():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("RssFile"))

    np.save(tmp_path / "X.npy", np.ones((8192 + 10, 2048), dtype=np.float32))
    X = np.load(tmp_path / "X.npy", mmap_mode="r")[10:]
    before = rss_file_kb()
    recorder = fit_streaming(Recorder(), X, chunk_rows=1024, random_state=0)
    assert rss_file_kb() - before < 16_000
    assert sum(c.shape[0] for c in recorder.chunks) == 8192
    assert all(np.all(c == 1.0) for c in recorder.chunks)


def _frame(seed=0, n=200):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"width": rng.standard_normal(n), "height": rng.standard_normal(n)})


STREAM = dict(n_components=2, hidden_layer_sizes=(8,), n_importance_samples=5,
              random_state=0, device="cpu")


def test_dataframe_streams_keep_feature_names():
    """Issue 15 item 8: before, feature_names_in_ was missing after
    streaming a DataFrame; the model equals one streamed from the array."""
    frame = _frame()
    from_frame = fit_streaming(VAETransformer(**STREAM), frame, chunk_rows=100, random_state=0)
    from_array = fit_streaming(
        VAETransformer(**STREAM), frame.to_numpy(), chunk_rows=100, random_state=0
    )
    np.testing.assert_array_equal(from_frame.feature_names_in_, ["width", "height"])
    np.testing.assert_array_equal(
        from_frame.transform(frame), from_array.transform(frame.to_numpy())
    )
    recorder = fit_streaming(Recorder(), frame, chunk_rows=64, random_state=0)
    rows = pd.concat(recorder.chunks)
    assert list(rows.columns) == ["width", "height"]
    assert sorted(rows.index) == list(range(200))


def test_dataframe_streams_take_nullable_columns_as_fit_does():
    """Issue 15 item 8: before, pandas nullable columns with pd.NA failed
    with "float() argument must be ... not 'NAType'"."""
    frame = _frame()
    frame["count"] = pd.array(np.arange(200) % 7, dtype="Int64")
    frame["level"] = pd.array(np.linspace(0, 1, 200), dtype="Float64")
    frame.loc[3, "count"] = pd.NA
    frame.loc[5, "level"] = pd.NA
    as_float = frame.astype("float64")  # pd.NA becomes NaN
    nullable = fit_streaming(VAETransformer(**STREAM), frame, chunk_rows=100, random_state=0)
    plain = fit_streaming(VAETransformer(**STREAM), as_float, chunk_rows=100, random_state=0)
    np.testing.assert_array_equal(nullable.transform(as_float), plain.transform(as_float))


def test_estimator_class_instead_of_instance_is_a_clear_type_error():
    """Issue 15 item 9: before, "vars() argument must have __dict__"."""
    with pytest.raises(TypeError, match=r"instance such as VAETransformer\(\), not the class"):
        fit_streaming(VAETransformer, np.zeros((10, 2)))

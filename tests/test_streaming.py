"""Out-of-core fitting: partial_fit on chunks and fit_streaming from a memmap."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import IncrementalPCA
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import InvalidParameterError

from skvae import VAETransformer, fit_streaming

#: Largest relative excess of held-out reconstruction MSE over ``fit``'s
#: that chunked training may show (measured: within 1.5% on digits).
MSE_TOLERANCE = 0.05
#: Largest shortfall of the held-out score, in nats per row, for a model
#: without feature scaling (measured: within 0.25 nats of fit's -28.2).
SCORE_TOLERANCE = 1.0


class Recorder:
    """An estimator that keeps a copy of every chunk it is given."""

    def __init__(self):
        self.chunks = []

    def partial_fit(self, X, y=None):
        self.chunks.append(np.array(X))
        return self


def write_memmap(path, X, offset=0):
    """X as a memmap over a raw file whose data start at ``offset`` bytes."""
    with open(path, "wb") as f:
        f.write(b"\0" * offset)
        f.write(np.ascontiguousarray(X).tobytes())
    return np.memmap(path, dtype=X.dtype, mode="r", offset=offset, shape=X.shape)


@pytest.fixture(scope="module")
def digits_split():
    X, y = load_digits(return_X_y=True)
    X_train, X_test = train_test_split(X / 16, test_size=0.25, random_state=0, stratify=y)
    return X_train.astype(np.float32), X_test


def quality(model, X_test):
    X_rec = model.inverse_transform(model.transform(X_test))
    return np.mean((X_rec - X_test) ** 2), model.score(X_test)


# Same network, optimiser and number of epochs for fit and for the chunks.
EPOCHS = 8
PARAMS = dict(
    n_components=5,
    hidden_layer_sizes=(64, 32),
    likelihood="bernoulli",
    early_stopping=False,
    max_iter=EPOCHS,
    n_importance_samples=20,
    random_state=0,
    device="cpu",
)


@pytest.fixture(scope="module")
def fit_quality(digits_split):
    X_train, X_test = digits_split
    return quality(VAETransformer(**PARAMS).fit(X_train), X_test)


def test_partial_fit_on_successive_chunks_matches_fit(digits_split, fit_quality):
    X_train, X_test = digits_split
    model = VAETransformer(**PARAMS)
    for _ in range(EPOCHS):
        for chunk in np.array_split(X_train, 4):
            model.partial_fit(chunk)
    mse, score = quality(model, X_test)
    assert model.n_iter_ == 4 * EPOCHS
    assert mse <= (1 + MSE_TOLERANCE) * fit_quality[0]
    assert score >= fit_quality[1] - SCORE_TOLERANCE


def test_fit_streaming_from_memmap_matches_fit(tmp_path, digits_split, fit_quality):
    X_train, X_test = digits_split
    X_disk = np.lib.format.open_memmap(
        tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=X_train.shape
    )
    X_disk[:] = X_train
    X_disk.flush()
    del X_disk
    X_disk = np.load(tmp_path / "X.npy", mmap_mode="r")
    model = fit_streaming(
        VAETransformer(**PARAMS), X_disk, chunk_rows=350, n_epochs=EPOCHS, random_state=0
    )
    mse, score = quality(model, X_test)
    assert model.n_iter_ == 4 * EPOCHS  # 1347 rows in 4 chunks of at most 350
    assert mse <= (1 + MSE_TOLERANCE) * fit_quality[0]
    assert score >= fit_quality[1] - SCORE_TOLERANCE


def test_memmap_and_array_give_the_same_model(tmp_path):
    X = np.random.default_rng(0).uniform(size=(300, 6)).astype(np.float32)
    X_disk = write_memmap(tmp_path / "X.bin", X, offset=24)
    params = dict(hidden_layer_sizes=(8,), n_importance_samples=5, random_state=0, device="cpu")
    a = fit_streaming(VAETransformer(**params), X, chunk_rows=100, n_epochs=2, random_state=3)
    b = fit_streaming(VAETransformer(**params), X_disk, chunk_rows=100, n_epochs=2, random_state=3)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


@pytest.mark.parametrize("source", ["array", "memmap", "memmap slice"])
def test_every_row_once_per_epoch_in_random_chunks(tmp_path, source):
    n, chunk_rows = 1000, 128
    X = np.column_stack([np.arange(n), -np.arange(n)]).astype(np.float64)
    if source == "memmap":
        X = write_memmap(tmp_path / "X.bin", X, offset=16)
    elif source == "memmap slice":  # read by slicing: its offset is its parent's
        X = write_memmap(tmp_path / "X.bin", np.vstack([X, X + [n, -n]]), offset=16)[n:]
    recorder = fit_streaming(Recorder(), X, chunk_rows=chunk_rows, n_epochs=2, random_state=0)
    chunks = recorder.chunks
    per_epoch = -(-n // chunk_rows)
    assert len(chunks) == 2 * per_epoch
    sizes = [c.shape[0] for c in chunks]
    assert max(sizes) <= chunk_rows and max(sizes) - min(sizes) <= 1
    epochs = [np.concatenate(chunks[:per_epoch]), np.concatenate(chunks[per_epoch:])]
    for rows in epochs:  # each row exactly once per epoch, unchanged
        np.testing.assert_array_equal(np.sort(rows[:, 0]), np.asarray(X)[:, 0])
        np.testing.assert_array_equal(rows[:, 1], -rows[:, 0])
    # The first chunk samples the whole of X, and each epoch is a new order.
    first = chunks[0][:, 0]
    low, high = np.asarray(X)[[0, -1], 0]
    assert first.min() < low + n / 4 and first.max() > high - n / 4
    assert not np.array_equal(epochs[0][:, 0], epochs[1][:, 0])


def test_without_shuffle_chunks_are_successive_rows():
    X = np.arange(20.0).reshape(10, 2)
    recorder = fit_streaming(Recorder(), X, chunk_rows=4, shuffle=False)
    assert [c[:, 0].tolist() for c in recorder.chunks] == [[0, 2, 4], [6, 8, 10, 12], [14, 16, 18]]


def test_same_random_state_same_chunks_and_global_state_untouched():
    X = np.arange(200.0).reshape(100, 2)
    state = np.random.get_state()[1].copy()
    a = fit_streaming(Recorder(), X, chunk_rows=30, random_state=0).chunks
    b = fit_streaming(Recorder(), X, chunk_rows=30, random_state=0).chunks
    fit_streaming(Recorder(), X, chunk_rows=30)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_any_estimator_with_partial_fit():
    X = np.random.default_rng(0).standard_normal((400, 5))
    ipca = fit_streaming(IncrementalPCA(n_components=2), X, chunk_rows=100, random_state=0)
    assert ipca.n_samples_seen_ == 400
    np.testing.assert_allclose(ipca.mean_, X.mean(axis=0))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_memmap_pages_are_not_mapped_into_the_process(tmp_path):
    """Reading 64 MB from a memmap leaves the process's file-backed resident
    memory where it was: the rows are read, not paged in through the mapping."""

    def rss_file_kb():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("RssFile"))

    X = np.ones((8192, 2048), dtype=np.float32)
    X_disk = write_memmap(tmp_path / "X.bin", X)
    del X
    before = rss_file_kb()
    recorder = fit_streaming(Recorder(), X_disk, chunk_rows=1024, random_state=0)
    assert rss_file_kb() - before < 16_000
    assert sum(c.shape[0] for c in recorder.chunks) == 8192
    os.remove(tmp_path / "X.bin")


def test_bad_input():
    with pytest.raises(InvalidParameterError, match="partial_fit"):
        fit_streaming(object(), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="2-D"):
        fit_streaming(Recorder(), np.zeros(4))
    with pytest.raises(ValueError, match="0 rows"):
        fit_streaming(Recorder(), np.zeros((0, 3)))
    with pytest.raises(InvalidParameterError, match="chunk_rows"):
        fit_streaming(Recorder(), np.zeros((4, 2)), chunk_rows=0)


def sorted_digits():
    """Digits in [0, 1] as float32, the rows sorted by class (as data stored
    by label come)."""
    X, y = load_digits(return_X_y=True)
    return (X[np.argsort(y, kind="stable")] / 16).astype(np.float32)


@pytest.mark.parametrize("shuffle", [True, False])
def test_fit_streaming_warns_of_ordered_chunks_only_without_shuffle(shuffle):
    # Shuffled chunks are random blocks of rows; partial_fit's order check
    # assumes independent rows and fired on them (rows sorted by class), with
    # advice to use fit_streaming. Without shuffling, the chunks do come in
    # order, and the warning stands.
    model = VAETransformer(**{**PARAMS, "hidden_layer_sizes": (16,), "n_components": 2})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_streaming(model, sorted_digits(), chunk_rows=300, shuffle=shuffle, random_state=0)
    ordered = [w for w in caught if "come in order" in str(w.message)]
    assert len(ordered) == (0 if shuffle else 1)


def test_partial_fit_reads_a_read_only_memmap_without_warning(tmp_path):
    # A slice of np.load(..., mmap_mode="r") is read-only; torch warns (once
    # per process, hence a fresh interpreter) when it wraps one in a tensor.
    # Training only reads it.
    path = tmp_path / "X.npy"
    np.save(path, sorted_digits()[::5])
    code = (
        "import numpy as np; from skvae import VAETransformer\n"
        f"X = np.load({str(path)!r}, mmap_mode='r')\n"
        "assert not X[:200].flags.writeable\n"
        "VAETransformer(2, hidden_layer_sizes=(8,), likelihood='bernoulli', max_iter=1,"
        " random_state=0).partial_fit(X[:200])\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", code],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]

"""Out-of-core fitting: stream shuffled chunks of an on-disk array to
``partial_fit`` in constant memory."""

import mmap
import re
import warnings
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, validate_params

from ._base import draw_seed
from .transformer import ORDERED_BATCHES_WORDS

# Each chunk is assembled from this many contiguous blocks taken from random
# places in X: random enough for SGD, and reads of whole blocks stay fast on
# disk (2 MB per block for 20,000 rows of 784 float32).
_BLOCKS_PER_CHUNK = 32
# partial_fit's warning about batches that come in order (VAETransformer).
_ORDER_WARNING = ".*" + re.escape(ORDERED_BATCHES_WORDS)


@validate_params(
    {
        "estimator": [HasMethods(["partial_fit"])],
        "X": ["array-like"],
        "chunk_rows": [Interval(Integral, 1, None, closed="left")],
        "n_epochs": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=False,
)
def fit_streaming(estimator, X, *, chunk_rows=20_000, n_epochs=1, shuffle=True, random_state=None):
    """Fit ``estimator`` with ``partial_fit`` on chunks of X read from disk.

    For data larger than memory, such as a ``np.memmap`` of float32 rows:
    each epoch reads X once, ``chunk_rows`` rows at a time, and calls
    ``estimator.partial_fit(chunk)``. Only about one chunk is in memory at
    any time, however many rows X has. Works with any estimator that has
    ``partial_fit(X)`` (:class:`~skvae.VAETransformer`,
    :class:`~sklearn.decomposition.IncrementalPCA`, ...).

    With ``shuffle=True`` every chunk is a random sample of X: each epoch
    cuts X into blocks of ``chunk_rows // 32`` contiguous rows, puts the
    blocks in a fresh random order and reads them chunk by chunk, so rows
    stored in some order (by class, by date) are mixed, while each read
    stays a long sequential one; the
    estimator then shuffles the rows within each chunk. In particular the
    first chunk is a random sample of the whole of X, and what the first
    ``partial_fit`` call fixes is estimated from it: for
    :class:`~skvae.VAETransformer`, the likelihood for ``likelihood="auto"``
    and the default hidden layer sizes (its feature scaling follows every
    row seen). Make ``chunk_rows`` large enough for those estimates
    (thousands of rows).

    X is read by slicing rows, so the chunks hold exactly what X holds,
    whatever it is: an ndarray, a ``np.memmap`` (as returned by
    ``np.load(path, mmap_mode="r")``), a slice of one, an h5py or zarr
    array, or a pandas DataFrame, whose chunks are DataFrames (so the
    estimator records ``feature_names_in_`` and takes nullable columns as
    ``fit`` does). Pages of a mapping count toward the process's resident
    memory as they are touched, so those of a shared C-ordered memmap
    (modes "r", "r+", "w+") are released as soon as their rows are copied;
    they stay in the operating system's cache. A copy-on-write memmap
    (mode "c") keeps them: releasing them would discard edits made in
    memory. Every kind of X gives the same chunks for the same
    ``random_state``.

    If the estimator is already fitted, training continues from its state,
    as with ``partial_fit``; clone it first for a fresh start.

    Parameters
    ----------
    estimator : estimator instance with ``partial_fit``
        Fitted in place.
    X : np.memmap, array-like or DataFrame of shape (n_samples, n_features)
        The training data, typically on disk.
    chunk_rows : int, default=20_000
        Most rows per ``partial_fit`` call; bounds the memory used. Each
        epoch makes ``ceil(n_samples / chunk_rows)`` calls on chunks of
        equal size (within one row).
    n_epochs : int, default=1
        Passes over X. For :class:`~skvae.VAETransformer`, one pass is one
        epoch of mini-batch training over all rows; its ``n_iter_`` counts
        ``partial_fit`` calls (chunks).
    shuffle : bool, default=True
        Draw chunks at random (see above). If False, chunks are successive
        rows in their stored order, the first chunk is the first
        ``chunk_rows`` rows, and ``random_state`` is unused.
    random_state : int, RandomState instance or None, default=None
        Seeds the order of the chunks. The estimator's own randomness
        (initialisation, the order within chunks) follows its own
        ``random_state``.

    Returns
    -------
    estimator : the fitted estimator

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skvae import VAETransformer, fit_streaming
    >>> path = os.path.join(tempfile.mkdtemp(), "X.npy")
    >>> X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(5000, 20))
    >>> X[:] = np.random.default_rng(0).standard_normal((5000, 20))
    >>> X.flush(); del X
    >>> X = np.load(path, mmap_mode="r")
    >>> vae = VAETransformer(n_components=2, random_state=0)
    >>> vae = fit_streaming(vae, X, chunk_rows=1000, n_epochs=2, random_state=0)
    >>> vae.n_iter_  # 5 chunks per epoch, 2 epochs
    10
    >>> vae.transform(X[:3]).shape
    (3, 2)
    >>> del X; os.remove(path)
    """
    if isinstance(estimator, type):
        raise TypeError(
            "fit_streaming takes an estimator instance such as "
            f"{estimator.__name__}(), not the class {estimator.__name__}."
        )
    shape = getattr(X, "shape", None)
    if shape is None:
        X = np.asarray(X)
        shape = X.shape
    if len(shape) != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {tuple(shape)}.")
    n_samples = int(shape[0])
    if n_samples == 0:
        raise ValueError("X has 0 rows; fit_streaming needs at least one.")
    # Equal chunks of at most chunk_rows rows (no short one at the end).
    n_chunks = -(-n_samples // chunk_rows)
    bounds = np.linspace(0, n_samples, n_chunks + 1).round().astype(np.int64)
    block_rows = max(1, min(chunk_rows, n_samples) // _BLOCKS_PER_CHUNK)
    block_starts = np.arange(0, n_samples, block_rows)
    # A local generator: numpy's global state is left alone, as in fit.
    rng = np.random.default_rng(draw_seed(random_state))
    with _ChunkReader(X) as reader:
        for _ in range(n_epochs):
            # Rows in a random order of blocks, cut into chunks.
            starts = rng.permutation(block_starts) if shuffle else block_starts
            lengths = np.minimum(starts + block_rows, n_samples) - starts
            ends = np.cumsum(lengths)
            begins = ends - lengths
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                first = np.searchsorted(ends, lo, side="right")
                last = np.searchsorted(begins, hi, side="left")
                seg = slice(first, last)
                seg_starts = starts[seg] + np.maximum(0, lo - begins[seg])
                seg_stops = starts[seg] + np.minimum(lengths[seg], hi - begins[seg])
                # Read in file order; the estimator shuffles within the chunk.
                in_file_order = np.argsort(seg_starts)
                chunk = reader.read(seg_starts[in_file_order], seg_stops[in_file_order])
                with warnings.catch_warnings():
                    if shuffle:
                        # Random blocks of rows: a chunk's means vary more than
                        # those of random rows (rows within a block are alike),
                        # without the order partial_fit's check looks for.
                        warnings.filterwarnings(
                            "ignore", message=_ORDER_WARNING, category=UserWarning
                        )
                    estimator.partial_fit(chunk)
                del chunk  # free it before the next one is read
    return estimator


class _ChunkReader:
    """Reads sets of row ranges of X into one new array (or DataFrame)
    each time, releasing the pages of a shared memmap once copied."""

    def __init__(self, X):
        self.X = X
        self._mapping = _shared_mapping(X)
        if self._mapping is not None:
            # Where X's rows start in the mapping, and their size in bytes.
            address = np.frombuffer(self._mapping, dtype=np.uint8).ctypes.data
            self._offset = X.ctypes.data - address
            self._row_bytes = X.dtype.itemsize * int(np.prod(X.shape[1:]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._mapping = None

    def read(self, starts, stops):
        X = self.X
        if hasattr(X, "iloc"):  # a DataFrame: keep its column names and dtypes
            return X.iloc[np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)])]
        if self._mapping is None:
            return np.concatenate([np.asarray(X[a:b]) for a, b in zip(starts, stops)])
        out = np.empty((int(np.sum(stops - starts)), *X.shape[1:]), dtype=X.dtype)
        position = 0
        for a, b in zip(starts, stops):
            out[position : position + b - a] = X[a:b]
            position += b - a
            self._release(a, b)
        return out

    def _release(self, start, stop):
        """Unmap the pages of rows ``start:stop`` from this process; they
        stay in the operating system's cache and are read back from there
        if touched again."""
        begin = self._offset + int(start) * self._row_bytes
        end = min(len(self._mapping), self._offset + int(stop) * self._row_bytes)
        begin -= begin % mmap.PAGESIZE
        if end > begin:
            self._mapping.madvise(mmap.MADV_DONTNEED, begin, end - begin)


def _shared_mapping(X):
    """The shared file mapping (``mmap.mmap``) under the C-ordered memmap X
    whose pages may be released after reading, or None: for other arrays,
    for a copy-on-write memmap (releasing its pages would discard edits),
    and where the platform cannot release pages."""
    if (
        not isinstance(X, np.memmap)
        or X.mode == "c"
        or not X.flags.c_contiguous
        or not hasattr(mmap, "MADV_DONTNEED")
    ):
        return None
    base = X.base
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    return base if base is not None and hasattr(base, "madvise") else None

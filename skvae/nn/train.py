"""Mini-batch training: one optimiser, one epoch loop, shared by every model.

A model trained here implements ``training_loss(*batch, kl_weight=...,
generator=...)`` returning one loss per sample. The epoch bookkeeping that
scikit-learn users see (early stopping, warnings, histories) lives in the
estimators; this module only runs epochs and evaluates.
"""

import contextlib

import numpy as np
import torch


def state_to_numpy(obj):
    """Recursively turn tensors into numpy arrays (plain, CPU, picklable)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().numpy().copy()
    if isinstance(obj, dict):
        return {k: state_to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(state_to_numpy(v) for v in obj)
    return obj


def numpy_to_state(obj):
    """Inverse of :func:`state_to_numpy` (arrays become CPU tensors)."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.array(obj))
    if isinstance(obj, dict):
        return {k: numpy_to_state(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(numpy_to_state(v) for v in obj)
    return obj


class Trainer:
    """Adam over mini-batches of tensors already placed on the model's device.

    Parameters
    ----------
    module : nn.Module
        Implements ``training_loss``.
    learning_rate : float
    batch_size : int
    seed : int
        Seeds the generators for shuffling and for the model's noise.
    autocast_dtype : torch.dtype or None, default=None
        With a dtype (``torch.bfloat16``), the training objective runs
        under :func:`torch.autocast`: matrix products and convolutions take
        inputs of that dtype and accumulate in float32, everything else
        (likelihoods, KL, the parameters and Adam's moments) stays float32.
        Evaluation always runs in float32.
    """

    def __init__(self, module, *, learning_rate, batch_size, seed, autocast_dtype=None):
        self.module = module
        self.autocast_dtype = autocast_dtype
        self.device = next(module.parameters()).device
        self.batch_size = int(batch_size)
        # The fused kernel updates all parameters in one pass: about 1.3x
        # faster per step than the default on CPU, same arithmetic.
        fused = self.device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.Adam(
            module.parameters(), lr=learning_rate, fused=fused or None
        )
        self._shuffle = torch.Generator().manual_seed(int(seed))
        self._noise = torch.Generator(self.device).manual_seed(int(seed) + 1)
        self._eval_seed = int(seed) + 2

    def train_epoch(self, data, kl_weight_start=1.0, kl_weight_end=None):
        """One pass over ``data`` (a tuple of tensors with equal first
        dimension) in random order; returns the mean loss per sample.

        The KL weight moves linearly from ``kl_weight_start`` to
        ``kl_weight_end`` across the epoch's steps (KL warm-up).
        """
        if kl_weight_end is None:
            kl_weight_end = kl_weight_start
        module, optimizer = self.module, self.optimizer
        module.train()
        n = data[0].shape[0]
        order = torch.randperm(n, generator=self._shuffle).to(data[0].device)
        n_steps = -(-n // self.batch_size)
        # Accumulated on the device: no host synchronisation per step.
        total = torch.zeros((), device=self.device)
        for step, start in enumerate(range(0, n, self.batch_size)):
            idx = order[start : start + self.batch_size]
            batch = [t.index_select(0, idx).to(self.device, non_blocking=True) for t in data]
            weight = kl_weight_start + (kl_weight_end - kl_weight_start) * step / n_steps
            with self._autocast():
                loss = module.training_loss(
                    *batch, kl_weight=weight, generator=self._noise
                ).sum(dtype=torch.float32)
            optimizer.zero_grad(set_to_none=True)
            (loss / idx.shape[0]).backward()
            optimizer.step()
            total += loss.detach()
        return float(total) / n

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    @torch.no_grad()
    def evaluate(self, data, kl_weight=1.0):
        """Mean loss per sample over ``data``, with the same noise at every
        call so that successive epochs are compared on equal terms."""
        module = self.module
        module.eval()
        noise = torch.Generator(self.device).manual_seed(self._eval_seed)
        n = data[0].shape[0]
        total = torch.zeros((), device=self.device, dtype=torch.float64)
        for start in range(0, n, max(self.batch_size, 1024)):
            batch = [t[start : start + max(self.batch_size, 1024)].to(self.device) for t in data]
            loss = module.training_loss(*batch, kl_weight=kl_weight, generator=noise)
            total += loss.sum(dtype=torch.float64)
        return float(total) / n

    def snapshot(self):
        """A copy of the module's parameters and buffers."""
        return {k: v.detach().clone() for k, v in self.module.state_dict().items()}

    def restore(self, snapshot):
        self.module.load_state_dict(snapshot)

    def reset_optimizer(self, learning_rate):
        """Forget Adam's moments and continue with ``learning_rate``."""
        self.optimizer.state.clear()
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate

    def optimizer_state(self):
        return state_to_numpy(self.optimizer.state_dict())

    def load_optimizer_state(self, state):
        self.optimizer.load_state_dict(numpy_to_state(state))

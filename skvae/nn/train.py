"""Mini-batch training: one optimiser, one epoch loop, shared by every model.

A model trained here implements ``training_loss(*batch, kl_weight=...,
generator=...)`` returning one loss per sample. :class:`Trainer` runs epochs
and evaluates; :func:`run_epochs` is the one epoch loop of every model
skvae trains (early stopping by a :class:`StoppingRule`, divergence
recovery, interruption, progress lines), following a :class:`Schedule`.
What scikit-learn users see of it (histories, ``ConvergenceWarning``) is
recorded by the estimators from what it reports.
"""

import contextlib
import ctypes
import math
import os
import signal
import threading
import time
import warnings
from dataclasses import dataclass

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


# A Ctrl-C that follows one absorbed by training within this many seconds
# is not absorbed: it propagates (stopping, for instance, a whole search).
INTERRUPT_WINDOW_S = 5.0
_last_absorbed_interrupt = -math.inf


def absorb_interrupt():
    """Whether training may absorb the Ctrl-C being handled (stop, keep the
    best weights, warn): False when it comes within
    ``INTERRUPT_WINDOW_S`` seconds of one absorbed before, so that a
    second Ctrl-C stops the fits that a search or a loop runs one after
    the other instead of ending each of them early."""
    global _last_absorbed_interrupt
    now = time.monotonic()
    absorbed = now - _last_absorbed_interrupt > INTERRUPT_WINDOW_S
    _last_absorbed_interrupt = now
    return absorbed


@contextlib.contextmanager
def deferred_interrupts():
    """Hold a Ctrl-C that arrives during the block until the block ends,
    then raise it: for work that must not be left half done, such as
    torch's lazy imports on the first optimiser of a process (an interrupt
    there can leave torch half-imported) or replacing an estimator's
    fitted state. Only in the main thread with Python's default handler
    (elsewhere signals cannot be caught, or the user handles them)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


_torch_ready = False

# Adam's moments below these magnitudes are set to zero every
# _FLUSH_STEPS steps (Trainer._flush_tiny_moments). The first moment of a
# weight whose gradient stays zero (the weights of an input that is always
# 0, such as MNIST's border pixels; a unit that never fires) decays by
# beta1 = 0.9 a step and reaches float32's subnormal range (below 1.2e-38)
# after a few hundred steps, where the CPU's arithmetic is many times
# slower: VAEClassifier on MNIST-5k (protocol 3) ends its fit with 349,400
# subnormal moments and fits in 0.80x the time with the flush (0.70x with
# its earlier steps of 64 rows; python3 dev.py bench subnormal; ad hoc
# profile: its Adam step took 3.8 ms instead of 0.4 ms from the eighth
# epoch on). A moment below 1e-30 moves its weight by at most lr * 1e-21
# (bias correction included, over Adam's eps of 1e-8), which changes no
# float32 weight of magnitude above about lr * 1e-14; a second moment below
# 1e-36 adds at most 3.2e-17 to the denominator's eps, less than half its
# last bit. So fits are the same, bit for bit (tests/nn/test_train.py,
# bench subnormal). From 1e-30, a first moment takes 175 steps of decay to
# become subnormal, more than _FLUSH_STEPS.
_TINY_FIRST_MOMENT = 1e-30
_TINY_SECOND_MOMENT = 1e-36
_FLUSH_STEPS = 128


def prepare_torch():
    """Import, once per process, what torch imports lazily the first time a
    module runs on the "meta" device or an optimiser is built (about 800
    modules, over a second): with Ctrl-C held until it is done, since an
    interrupt in the middle leaves torch half-imported and every later fit
    of the process failing. Called at the start of every fit."""
    global _torch_ready
    if _torch_ready:
        return
    # Nothing here draws from torch's global generator.
    with deferred_interrupts():
        weight = torch.empty(1, 1, device="meta")
        torch.nn.functional.linear(weight, weight)
        torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
        _torch_ready = True


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
        prepare_torch()  # the first optimiser of a process imports much of torch
        self.optimizer = torch.optim.Adam(
            module.parameters(), lr=learning_rate, fused=fused or None
        )
        self._params = [p for p in module.parameters() if p.requires_grad]
        self._fused_state = None  # see _step
        self._steps_since_flush = 0  # see _flush_tiny_moments
        self._shuffle = torch.Generator().manual_seed(int(seed))
        self._noise = torch.Generator(self.device).manual_seed(int(seed) + 1)
        self._eval_seed = int(seed) + 2

    def train_epoch(
        self, data, kl_weight_start=1.0, kl_weight_end=None, capacity_start=None, capacity_end=None
    ):
        """One pass over ``data`` (a tuple of tensors with equal first
        dimension) in random order; returns the mean loss per sample.

        The KL weight moves linearly from ``kl_weight_start`` to
        ``kl_weight_end`` across the epoch's steps (KL warm-up), and so does
        the target KL of the capacity objective from ``capacity_start`` to
        ``capacity_end`` when given (passed to the model's ``training_loss``
        as ``capacity``).
        """
        if kl_weight_end is None:
            kl_weight_end = kl_weight_start
        if capacity_start is not None and capacity_end is None:
            capacity_end = capacity_start
        module = self.module
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
            objective = {"kl_weight": weight}
            if capacity_start is not None:
                objective["capacity"] = (
                    capacity_start + (capacity_end - capacity_start) * step / n_steps
                )
            with self._autocast():
                loss = module.training_loss(
                    *batch, **objective, generator=self._noise
                ).sum(dtype=torch.float32)
            for param in self._params:  # optimizer.zero_grad(set_to_none=True)
                param.grad = None
            (loss / idx.shape[0]).backward()
            self._step()
            self._steps_since_flush += 1
            if self._steps_since_flush >= _FLUSH_STEPS:
                self._flush_tiny_moments()
            total += loss.detach()
        return float(total) / n

    def _step(self):
        """``optimizer.step()``, bit for bit, in about a third of its time on
        CPU: once Adam's state exists, the fused kernel is called directly
        on the optimiser's own tensors (what ``torch.optim.Adam`` does for
        one device and dtype, without regrouping the tensors at every
        step: about 300 of the 3,000-5,000 microseconds of a small
        network's step). The optimiser's own step runs whenever the direct
        call would differ from it: the first step (which creates the
        state), after its state or settings change, a parameter without a
        gradient, or another device or dtype."""
        fused = self._fused_state
        if fused is None or any(param.grad is None for param in self._params):
            self.optimizer.step()
            self._fused_state = self._direct_fused_state()
            return
        group, exp_avgs, exp_avg_sqs, steps = fused
        beta1, beta2 = group["betas"]
        with torch.no_grad():
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                self._params, [param.grad for param in self._params], exp_avgs, exp_avg_sqs,
                [], steps, amsgrad=False, lr=group["lr"], beta1=beta1, beta2=beta2,
                weight_decay=group["weight_decay"], eps=group["eps"], maximize=False,
                grad_scale=None, found_inf=None,
            )

    def _moments(self):
        """Adam's moment tensors, each with the magnitude below which
        ``_flush_tiny_moments`` sets its entries to zero."""
        for state in self.optimizer.state.values():
            for key, tiny in (("exp_avg", _TINY_FIRST_MOMENT), ("exp_avg_sq", _TINY_SECOND_MOMENT)):
                if state.get(key) is not None:
                    yield state[key], tiny

    @torch.no_grad()
    def _flush_tiny_moments(self):
        """Set Adam's moments below ``_TINY_FIRST_MOMENT`` and
        ``_TINY_SECOND_MOMENT`` to zero, before they decay into float32's
        slow subnormal range. No float32 weight above about lr * 1e-14 in
        magnitude changes by it (see the constants)."""
        self._steps_since_flush = 0
        for moment, tiny in self._moments():
            if moment.dtype == torch.float32 and moment.device.type == "cpu":
                moment.masked_fill_(moment.abs() < tiny, 0.0)

    @torch.no_grad()
    def subnormal_moments(self):
        """How many of Adam's moments are subnormal float32 numbers (nonzero,
        below 1.2e-38): none after a flush (a diagnostic for tests and
        ``bench subnormal``)."""
        tiny = torch.finfo(torch.float32).tiny
        return sum(
            int(((moment != 0) & (moment.abs() < tiny)).sum()) for moment, _ in self._moments()
        )

    def _direct_fused_state(self):
        """(param group, exp_avg, exp_avg_sq, step tensors) for ``_step``'s
        direct call, or None when it would not be the optimiser's own step."""
        groups = self.optimizer.param_groups
        state = self.optimizer.state
        if len(groups) != 1 or self.device.type != "cpu":
            return None
        group = groups[0]
        plain = (
            group.get("fused") and not group["amsgrad"] and not group["maximize"]
            and not group.get("decoupled_weight_decay", False)
            and not group.get("differentiable", False)
            and not torch.is_tensor(group["lr"])
            and not any(torch.is_tensor(b) for b in group["betas"])
            and len(group["params"]) == len(self._params)
            and all(a is b for a, b in zip(group["params"], self._params))
        )
        if not plain or any(param not in state for param in self._params):
            return None
        dtypes = {param.dtype for param in self._params}
        if len(dtypes) != 1 or not dtypes <= {torch.float32, torch.float64}:
            return None
        return (
            group,
            [state[param]["exp_avg"] for param in self._params],
            [state[param]["exp_avg_sq"] for param in self._params],
            [state[param]["step"] for param in self._params],
        )

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
        self._fused_state = None
        self.reset_learning_rate(learning_rate)

    def reset_learning_rate(self, learning_rate):
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate

    def optimizer_state(self):
        return state_to_numpy(self.optimizer.state_dict())

    def load_optimizer_state(self, state):
        self.optimizer.load_state_dict(numpy_to_state(state))
        self._fused_state = None


_thread_controller = None
_mkl = False  # not looked up yet; None where there is none


def mkl_library():
    """The MKL inside torch's CPU library (a :class:`ctypes.CDLL` whose
    ``MKL_Set_Num_Threads_Local`` and ``MKL_Get_Max_Threads`` have their C
    signatures), or None: torch built without MKL (as on ARM), or not
    found.

    torch links MKL statically, so threadpoolctl does not see it, and once
    ``torch.set_num_threads(n)`` has been called MKL keeps n threads for the
    calling thread whatever OpenMP limits say. Its thread-local setting is
    the one handle on that: it applies to the calling thread only (where
    torch runs CPU ops and their backward pass), returns the previous
    value, and 0 hands the thread back to the global setting.
    """
    global _mkl
    if _mkl is False:
        _mkl = None
        names = ("libtorch_cpu.so", "libtorch_cpu.dylib", "torch_cpu.dll")
        folder = os.path.join(os.path.dirname(torch.__file__), "lib")
        paths = [os.path.join(folder, name) for name in names]
        path = next((path for path in paths if os.path.exists(path)), None)
        if torch.backends.mkl.is_available() and path is not None:
            try:
                library = ctypes.CDLL(path)
                library.MKL_Set_Num_Threads_Local.argtypes = [ctypes.c_int]
                library.MKL_Set_Num_Threads_Local.restype = ctypes.c_int
                library.MKL_Get_Max_Threads.argtypes = []
                library.MKL_Get_Max_Threads.restype = ctypes.c_int
            except (OSError, AttributeError):
                pass
            else:
                _mkl = library
    return _mkl


@contextlib.contextmanager
def intra_op_threads(n_threads):
    """Run the block with at most ``n_threads`` torch CPU threads (never
    more than are set already), and restore the setting after.

    The limit goes through threadpoolctl, as a user's ``threadpool_limits``
    does: ``torch.set_num_threads`` would also pin the thread count of the
    math libraries inside torch, which then ignore later OpenMP limits
    (and results computed under them would change in their last bits).
    MKL inside torch, out of threadpoolctl's reach, gets the same limit
    through its thread-local setting, set back after, when it does not
    follow the OpenMP limit: where a user has called
    ``torch.set_num_threads`` its matrix products would otherwise keep the
    user's count (and on an AMD EPYC, scores then differed from
    those of a search's worker processes, which run on one thread, by
    5e-10 relative). One controller serves every call: building one scans
    the process's libraries (about a millisecond, as long as a small
    inference call).
    """
    global _thread_controller
    if n_threads is None or n_threads >= torch.get_num_threads():
        yield
        return
    n_threads = max(1, int(n_threads))
    if _thread_controller is None:
        from threadpoolctl import ThreadpoolController

        _thread_controller = ThreadpoolController()
    mkl = mkl_library()
    with _thread_controller.limit(limits=n_threads, user_api="openmp"):
        # Only where MKL does not follow the OpenMP limit, so that a process
        # in which nobody called torch.set_num_threads runs as before,
        # without an MKL call (an ad hoc A/B with the setting always made
        # read 24.5 s against 22.5 s on Credit, within this machine's noise).
        pinned = mkl is not None and mkl.MKL_Get_Max_Threads() > n_threads
        previous = mkl.MKL_Set_Num_Threads_Local(n_threads) if pinned else None
        try:
            yield
        finally:
            if previous is not None:
                mkl.MKL_Set_Num_Threads_Local(previous)


@dataclass(frozen=True)
class Schedule:
    """The schedule of one fit.

    Parameters
    ----------
    max_epochs : int
        Epochs of the fit: a maximum under early stopping, the length of
        the schedule when ``fixed_length``.
    batch_size : int
        Rows per Adam step.
    learning_rate : float
        Adam's step size.
    fixed_length : bool, default=False
        The epochs are the method itself (as MIWAE's): without validation
        all of them run, a training-loss plateau does not end them, and
        reaching the last one is no sign of non-convergence.
    threads : int or None, default=None
        Most torch CPU threads while training (None: as set). Small networks
        lose little on one thread on a quiet machine and gain much on a
        busy one, where a second thread waits for a core at every operation.
    cosine : bool, default=False
        The step size decays along half a cosine, from ``learning_rate`` in
        the first epoch towards 0 after the last: epoch ``e`` (from 0) of
        ``max_epochs`` runs at ``learning_rate * (1 + cos(pi * e /
        max_epochs)) / 2``.
    """

    max_epochs: int
    batch_size: int
    learning_rate: float
    fixed_length: bool = False
    threads: int = None
    cosine: bool = False

    def epoch_learning_rate(self, base, epoch):
        """The step size of epoch ``epoch`` (from 0) of this schedule, for
        a base step size ``base``."""
        if not self.cosine:
            return base
        return base * (1 + math.cos(math.pi * epoch / self.max_epochs)) / 2


class StoppingRule:
    """Early stopping on a score that should rise (scikit-learn's MLP rule).

    An epoch improves when its score beats the best so far by at least
    ``tol``; training should stop once more than ``patience`` epochs in a
    row have not improved. Epochs reported with ``counts=False`` (a KL
    warm-up or a capacity ramp, trained on an objective still changing)
    are not recorded: never the best, never a step towards stopping.
    ``best`` and ``count`` carry the state of an earlier fit (warm start).
    """

    def __init__(self, tol, patience, *, best=-math.inf, count=0):
        self.tol = float(tol)
        self.patience = int(patience)
        self.best = best
        self.count = count

    def update(self, score, counts=True):
        """Record one epoch's score; True when it is the best so far (the
        weights to keep)."""
        if not counts:
            return False
        improved = score >= self.best + self.tol
        best = score > self.best
        self.best = max(self.best, score)
        self.count = 0 if improved else self.count + 1
        return best

    @property
    def should_stop(self):
        return self.count > self.patience


@dataclass
class TrainingOutcome:
    """What :func:`run_epochs` reports: epochs run, whether the stopping
    rule ended them, whether the user interrupted them, and the epoch of
    the best validation score (counted from 1 within this call; None
    without validation or improvement)."""

    epochs: int = 0
    converged: bool = False
    interrupted: bool = False
    best_epoch: int = None


def run_epochs(
    trainer,
    train,
    val,
    schedule,
    stopping,
    *,
    kl_weight,
    capacity=None,
    first_epoch=0,
    warmup_epochs=0,
    validation_kl_weight=1.0,
    max_retries=3,
    on_epoch=None,
    log=None,
    phase="Epoch",
):
    """The epoch loop of every model skvae trains.

    Runs up to ``schedule.max_epochs`` epochs of ``trainer`` over ``train``
    (a tuple of tensors), scoring ``val`` after each (when given; minus
    the validation loss) or else minus the training loss with
    ``stopping``, and stops when it says so (never for a fixed-length
    schedule without validation). The KL weight of epoch ``e`` (counted
    over all fits, from ``first_epoch``) ramps from ``kl_weight(e)`` to
    ``kl_weight(e + 1)``, and so does the capacity objective's target KL
    from ``capacity(e)`` when ``capacity`` is given (see
    :meth:`Trainer.train_epoch`); epochs below ``warmup_epochs`` are not
    recorded by ``stopping`` (neither kept as the best nor counted).

    A non-finite epoch restores the weights of the last finite one and
    divides the step size by ten, at most ``max_retries`` times, then
    raises ``ValueError``. Ctrl-C (KeyboardInterrupt) after at least one
    completed epoch ends the loop with the last finite epoch's weights
    (``outcome.interrupted``); one before the first epoch ends, or one
    within ``INTERRUPT_WINDOW_S`` seconds of an earlier absorbed one (see
    :func:`absorb_interrupt`), propagates. With validation, the weights of
    the best epoch are restored at the end.

    ``on_epoch(loss, score)`` is called after each completed epoch
    (``score`` None without validation); ``log``, when given, receives
    one progress line per epoch (``phase`` names it).
    """
    outcome = TrainingOutcome()
    learning_rate = float(schedule.learning_rate)
    run_all = schedule.fixed_length and val is None
    best = None
    last_good = trainer.snapshot()
    retries = 0
    started = time.perf_counter()
    try:
        with intra_op_threads(schedule.threads):
            while outcome.epochs < schedule.max_epochs:
                epoch_start = time.perf_counter()
                epoch = first_epoch + outcome.epochs
                if schedule.cosine:
                    trainer.reset_learning_rate(
                        schedule.epoch_learning_rate(learning_rate, outcome.epochs)
                    )
                targets = (capacity(epoch), capacity(epoch + 1)) if capacity else ()
                loss = trainer.train_epoch(
                    train, kl_weight(epoch), kl_weight(epoch + 1), *targets
                )
                if not math.isfinite(loss):
                    retries += 1
                    if retries > max_retries:
                        raise ValueError(
                            "Training diverged: the loss became non-finite "
                            f"{retries} times, even with learning_rate reduced to "
                            f"{learning_rate:.3g}. Lower learning_rate, standardise "
                            "X, or check X for extreme values."
                        )
                    trainer.restore(last_good)
                    learning_rate /= 10
                    trainer.reset_optimizer(learning_rate)
                    warnings.warn(
                        f"The loss became non-finite in epoch {epoch + 1}; "
                        "restored the weights of the last finite epoch and reduced "
                        f"the learning rate to {learning_rate:.3g}.",
                        RuntimeWarning,
                    )
                    continue
                last_good = trainer.snapshot()
                outcome.epochs += 1
                score = None
                if val is not None:
                    score = -trainer.evaluate(val, validation_kl_weight)
                    if stopping.update(score, counts=epoch + 1 >= warmup_epochs):
                        best = last_good
                        outcome.best_epoch = outcome.epochs
                else:
                    stopping.update(-loss, counts=epoch + 1 >= warmup_epochs)
                if on_epoch is not None:
                    on_epoch(loss, score)
                if log is not None:
                    now = time.perf_counter()
                    log(_progress_line(
                        phase, epoch + 1, first_epoch + schedule.max_epochs, loss, score,
                        now - epoch_start, now - started, outcome.epochs, schedule,
                        stopping if not run_all else None,
                        targets[1] if targets else None,
                    ))
                if stopping.should_stop and not run_all:
                    outcome.converged = True
                    if log is not None:
                        what = "Validation score" if val is not None else "Training loss"
                        log(
                            f"{what} did not improve more than tol={stopping.tol} for "
                            f"{stopping.patience} consecutive epochs. Stopping."
                        )
                    break
    except KeyboardInterrupt:
        if outcome.epochs == 0 or not absorb_interrupt():
            raise
        outcome.interrupted = True
        trainer.restore(last_good)
    if best is not None:
        trainer.restore(best)
    return outcome


def _progress_line(
    phase, epoch, last_epoch, loss, score, seconds, elapsed, done, schedule, stopping,
    capacity=None,
):
    """One line of progress: the epoch out of the most, the loss (and
    validation score), the capacity objective's target KL reached (when
    there is one), the epoch's time, the time so far and an estimate of
    what is left (at most, when early stopping may end sooner)."""
    line = f"{phase} {epoch}/{last_epoch}: loss {loss:.4f}"
    if capacity is not None:
        line += f", target KL {capacity:.2f} nats"
    if score is not None:
        line += f", validation score {score:.4f}"
    left = (schedule.max_epochs - done) * elapsed / done
    bound = "at most " if stopping is not None else ""
    return f"{line}, {seconds:.2f}s (elapsed {elapsed:.1f}s, {bound}{left:.0f}s left)"

"""Estimator mechanics shared by every skvae estimator.

Parameters, seeding, the conversion between numpy and torch, the epoch loop
with early stopping, warnings and histories, batched inference, and
persistence. Fitted state is kept as numpy arrays and built-in values; the
only live torch object an estimator holds after ``fit`` is a float64 copy
of the network used for inference, rebuilt on unpickling.
"""

import math
import re
import warnings
from dataclasses import replace
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._limits import check_importance_samples
from .nn import Trainer, model_from_config
from .nn.likelihoods import GAUSSIAN_MIN_SCALE, LIKELIHOODS, likelihood_class
from .nn.model import REFINEMENT_DRAWS
from .nn.networks import ACTIVATIONS
from .nn.train import (
    Schedule,
    StoppingRule,
    deferred_interrupts,
    intra_op_threads,
    numpy_to_state,
    prepare_torch,
    run_epochs,
    state_to_numpy,
)

# Rows per batch at inference; bounds the memory of transform and friends.
INFERENCE_BATCH_SIZE = 4096
# Latent draws per batch when estimating importance-weighted bounds.
_IW_DRAWS_PER_BATCH = 2**13
# How often a diverged epoch is retried with a ten times smaller step.
_MAX_DIVERGENCE_RETRIES = 3


def resolve_device(device, *, strict=True):
    """The torch device for ``device`` ("auto", "cpu", "cuda", "cuda:1", ...).

    With ``strict=False`` an unavailable accelerator falls back to the CPU
    (used when loading a model fitted elsewhere).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a valid torch device: {exc}") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }.get(dev.type, False)
    if not available:
        if not strict:
            return torch.device("cpu")
        raise ValueError(
            f"device={device!r} was requested but is not available on this "
            "machine; use device='auto' or device='cpu'."
        )
    return dev


def check_n_samples(n_samples):
    """``sample``'s number of rows: a positive integer (not a bool)."""
    if (
        not isinstance(n_samples, (Integral, np.integer))
        or isinstance(n_samples, (bool, np.bool_))
        or n_samples < 1
    ):
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    return int(n_samples)


def shared_tensor(array, device):
    """``array`` as a tensor on ``device``, sharing its memory on the CPU
    (no copy). Training only reads these tensors (batches are gathered
    into new ones), so a read-only array, such as a slice of a memmap
    opened with ``mode="r"`` given to ``partial_fit``, is used as it is,
    without torch's warning that writing to it would be undefined."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The given NumPy array is not writable", category=UserWarning
        )
        return torch.from_numpy(array).to(device)


# learning_rate="auto": Adam's usual 1e-3 for a fit of at least
# _AUTO_LR_STEPS steps per epoch, and for fewer steps 1e-3 times
# sqrt(_AUTO_LR_STEPS / steps), at most _AUTO_LR_MAX_FACTOR times 1e-3. Early
# stopping counts epochs (n_iter_no_change, max_iter), so a small table,
# with few steps in each, stopped with weights still improving:
# breast_cancer (383 rows, 6 steps per epoch) ran all 200 epochs at 1e-3,
# and at 2.9e-3 it stops after 92-154 epochs with held-out scores 1.2-4.3
# nats better (k = 2 and 5, seeds 0-2) in 0.5-0.8x the time; digits (19
# steps) keeps its reconstruction error at 1.6e-3 in 0.6-0.9x the time;
# MNIST-5k (53 steps) keeps 1e-3, its test error 9% worse at 3e-3 (ad hoc
# runs; python3 dev.py bench reduction and bench posteriors show the
# defaults).
AUTO_LEARNING_RATE = 1e-3
_AUTO_LR_STEPS = 50
_AUTO_LR_MAX_FACTOR = 3.0


def auto_learning_rate(n_train, batch_size):
    """The step size ``learning_rate="auto"`` gives a fit on ``n_train``
    rows in batches of ``batch_size``: ``AUTO_LEARNING_RATE`` (1e-3) from
    ``_AUTO_LR_STEPS`` (50) steps per epoch, larger as the square root of
    the steps missing below, at most ``_AUTO_LR_MAX_FACTOR`` (3) times it.

    >>> auto_learning_rate(10_000, 64)
    0.001
    >>> round(auto_learning_rate(800, 64), 5)
    0.00196
    >>> auto_learning_rate(100, 64)
    0.003
    """
    steps = max(1, math.ceil(n_train / max(1, batch_size)))
    factor = min(_AUTO_LR_MAX_FACTOR, max(1.0, math.sqrt(_AUTO_LR_STEPS / steps)))
    return AUTO_LEARNING_RATE * factor


# batch_size="auto" (an option; the estimators' default stays 64):
# AUTO_BATCH_SIZE rows per step, doubled (up to _AUTO_BATCH_MAX) while an
# epoch keeps at least _AUTO_BATCH_MIN_STEPS steps and a step stays small
# enough for one thread (_SINGLE_THREAD_MAX_WORK multiply-adds, rows x draws
# x multiply_adds_per_row). A step of a small network costs a few
# milliseconds of per-operation overhead whatever its rows up to there, so
# an epoch of larger batches costs proportionally less; with
# learning_rate="auto" the steps grow with the batch. MNIST's networks
# (about 1e6 multiply-adds per row) keep 64: their steps are compute-bound.
# Measured as the default (bench synthesis and bench reduction with
# --set batch_size=auto): ISLR Wage fits in 3.78 s instead of 7.94 s
# (batches of 128), but its synthetic rows' train-on-synthetic R^2 fell
# from 0.254 to 0.221 and held-out reconstruction RMSE rose from 0.679 to
# 0.719 (k = 2); digits' 2-D codes classified 0.662 instead of 0.709. Fewer
# than 8 steps per epoch cost more (ad hoc: breast_cancer, 345 rows, in
# batches of 128 scored 1.4-2.0 nats worse). Hence an option, not the default.
AUTO_BATCH_SIZE = 64
_AUTO_BATCH_MAX = 512
_AUTO_BATCH_MIN_STEPS = 8


def auto_batch_size(n_train, work_per_row):
    """The rows per step ``batch_size="auto"`` gives a fit on ``n_train``
    rows of a network doing ``work_per_row`` multiply-adds per training row
    (latent draws included; None when unknown): ``AUTO_BATCH_SIZE`` (64),
    doubled up to ``_AUTO_BATCH_MAX`` (512) while an epoch keeps at least
    ``_AUTO_BATCH_MIN_STEPS`` (8) steps and a step at most
    ``_SINGLE_THREAD_MAX_WORK`` multiply-adds.

    >>> auto_batch_size(2_000, 30_000)
    128
    >>> auto_batch_size(2_000, 5_000)
    128
    >>> auto_batch_size(2_000, 1_000_000)
    64
    >>> auto_batch_size(100_000, 5_000)
    512
    """
    batch = AUTO_BATCH_SIZE
    if work_per_row is None:
        return batch
    while (
        2 * batch <= _AUTO_BATCH_MAX
        and n_train >= _AUTO_BATCH_MIN_STEPS * 2 * batch
        and 2 * batch * work_per_row <= _SINGLE_THREAD_MAX_WORK
    ):
        batch *= 2
    return batch


def nominal_batch_size(batch_size):
    """``batch_size`` with "auto" read as its smallest value, for checks
    made before the network exists (see :func:`auto_batch_size`)."""
    return AUTO_BATCH_SIZE if batch_size == "auto" else batch_size


def draw_seed(random_state):
    """A 31-bit seed from ``random_state`` that leaves numpy's global state
    alone when ``random_state`` is None."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


# "auto" trains in bfloat16 from this many weights in matrix products, or
# for steps of at least this many rows (latent draws included) doing at
# least this many multiply-adds (rows times weights): below, casting the
# weights at every step costs about what the faster products save
# (measured on MNIST-5k and breast_cancer networks). VAEImputer's
# small-table steps (64 rows with 20 draws each, so 1,280 rows, through a
# layer of 256 units: about 1e7 multiply-adds for airquality's 6 columns,
# 3e7 for breast_cancer's 30) train faster in bfloat16: fit_transform on
# seed 0's mask, float32 -> bfloat16 (ad hoc, one run each), airquality
# 5.0 -> 3.7 s, wine 4.8 -> 3.3 s, concrete 26.7 -> 15.7 s, imputations as
# accurate. VAETransformer's default steps of 64 rows stay in float32
# below 500,000 weights.
_AUTOCAST_MIN_WEIGHTS = 500_000
_AUTOCAST_MIN_ROWS = 1024
_AUTOCAST_MIN_WORK = 2**23


def _native_bfloat16(device):
    """Whether ``device`` multiplies bfloat16 matrices in hardware: a CPU
    with Intel AMX tiles or AVX-512 BF16 dot products (AMD Zen 4 and
    later, Intel Cooper Lake and later), by torch's own dispatch checks."""
    if device.type != "cpu":
        return False
    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except Exception:  # a torch without the checks: assume not
        return False


def training_autocast_dtype(training_precision, module, rows_per_step=0):
    """The autocast dtype for training ``module`` (None: plain float32),
    from an estimator's ``training_precision``. "auto" is bfloat16 on
    hardware with native bfloat16 products for a network of at least
    ``_AUTOCAST_MIN_WEIGHTS`` weights, or for steps of ``rows_per_step``
    rows (latent draws included) of at least ``_AUTOCAST_MIN_ROWS`` rows
    and ``_AUTOCAST_MIN_WORK`` multiply-adds."""
    if training_precision == "bfloat16":
        return torch.bfloat16
    if training_precision == "float32":
        return None
    params = list(module.parameters())
    n_weights = sum(p.numel() for p in params if p.dim() >= 2)
    large = n_weights >= _AUTOCAST_MIN_WEIGHTS or (
        rows_per_step >= _AUTOCAST_MIN_ROWS and rows_per_step * n_weights >= _AUTOCAST_MIN_WORK
    )
    if large and _native_bfloat16(params[0].device):
        return torch.bfloat16
    return None



# The ``training_precision`` entry of every estimator's docstring, from the
# rule above (its thresholds included), put in by ``shared_docstring``.
TRAINING_PRECISION_DOC = f"""\
training_precision : {{"auto", "float32", "bfloat16"}}, default="auto"
    Precision of the matrix products and convolutions while training.
    "bfloat16" runs the training objective under ``torch.autocast``:
    those products read bfloat16 inputs and accumulate in float32,
    while the likelihood, the KL term, the weights and the optimiser
    stay float32 (mixed precision). "auto" is "bfloat16" on a CPU with
    native bfloat16 matrix units (Intel AMX, AVX-512 BF16) for networks
    of at least {_AUTOCAST_MIN_WEIGHTS:,} weights or training steps of
    at least {_AUTOCAST_MIN_ROWS:,} rows, latent draws included, and
    2**{_AUTOCAST_MIN_WORK.bit_length() - 1} multiply-adds (rows times weights: the imputer's
    20-draw steps on small tables), and "float32" otherwise (smaller
    steps gain nothing; GPUs are untested). Inference (``transform``,
    ``score_samples``, ...) always computes in full precision."""


# The fitted attributes ``learning_rate_`` and ``batch_size_`` of
# VAETransformer and VAEClassifier, put in by ``shared_docstring``.
RESOLVED_SCHEDULE_DOC = """\
learning_rate_ : float
    The step size of the last fit (``learning_rate`` with "auto"
    resolved).
batch_size_ : int
    The rows per step of the last fit (``batch_size`` with "auto"
    resolved, at most the training rows)."""

_SHARED_DOCS = {
    "training_precision": TRAINING_PRECISION_DOC,
    "resolved_schedule": RESOLVED_SCHEDULE_DOC,
}


def shared_docstring(cls):
    """Class decorator: put the docstring entries that several estimators
    share (``_SHARED_DOCS``: ``TRAINING_PRECISION_DOC``,
    ``RESOLVED_SCHEDULE_DOC``) in place of their marker lines
    (``%(training_precision)s`` or ``%(resolved_schedule)s`` alone on a
    line, at the entry's indent)."""

    def entry(match):
        indent = match.group(1)
        lines = _SHARED_DOCS[match.group(2)].split("\n")
        return "\n".join(indent + line if line else line for line in lines)

    markers = "|".join(_SHARED_DOCS)
    cls.__doc__ = re.sub(rf"^( *)%\(({markers})\)s$", entry, cls.__doc__, flags=re.M)
    return cls

# Most multiply-adds in one training step's matrix products and
# convolutions (rows x draws x multiply_adds_per_row) for which training
# runs on one CPU thread, dense or convolutional networks alike. Steps this
# small gain nothing from a second thread on a quiet machine (0.93-1.01x
# the time of one for the imputer and digits' dense and conv networks),
# and on a busy one (another process, a parallel search) each operation
# waits for the descheduled thread (4.1-5.3x the time of one beside a
# single busy process; MNIST's networks, above the line, 0.82-0.85x quiet
# and 2.5-2.7x busy; python3 dev.py bench threads). Inference batches
# follow the same line: CPS1985's transform, sample and score take 0.83-0.90x
# the time of one thread on two when quiet, 3.4-5.5x beside a busy process.
_SINGLE_THREAD_MAX_WORK = 2**26


def cpu_threads(module, rows, device):
    """Most torch threads for passing ``rows`` rows at once (a training
    step's or an inference batch's, latent draws included) through
    ``module``: 1 for small work on a CPU, None (torch's setting)
    otherwise."""
    if device.type != "cpu":
        return None
    work = multiply_adds_per_row(module)
    if work is None:
        return None  # a convolution of unknown geometry: leave it as set
    return 1 if rows * work <= _SINGLE_THREAD_MAX_WORK else None


def multiply_adds_per_row(module):
    """Multiply-adds of one row's pass through ``module``'s matrix products
    and convolutions: a weight matrix's size for a fully connected layer,
    and for the convolutional networks their own count (``multiply_adds``:
    a kernel costs its size at every position it is applied at). None when
    the module holds a convolution outside such a network."""
    if hasattr(module, "multiply_adds"):
        return module.multiply_adds
    if isinstance(module, torch.nn.modules.conv._ConvNd):
        return None
    total = sum(p.numel() for p in module.parameters(recurse=False) if p.dim() >= 2)
    for child in module.children():
        work = multiply_adds_per_row(child)
        if work is None:
            return None
        total += work
    return total


def build_module(config, seed=None, params=None, device="cpu", dtype=torch.float32):
    """Construct a model from its config without touching torch's global RNG,
    initialised from ``seed`` or loaded from ``params`` (numpy arrays)."""
    # Layer constructors draw default initial weights from the global
    # generator; fork it so that fitting leaves the user's state alone.
    with torch.random.fork_rng(devices=[]):
        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        module = model_from_config(config, generator=generator)
    if params is not None:
        module.load_state_dict(numpy_to_state(params))
    return module.to(device=device, dtype=dtype)


# Largest magnitude a Gaussian model takes: outputs are model values times
# a feature's scale plus its shift, and with features up to 1e300 they stay
# within float64's range (about 1.8e308) for model values up to 1e8.
MAX_MAGNITUDE = 1e300


def _nanstd_float64(X, mean, block=4096):
    """Standard deviation of each column, ignoring NaN, with the deviations
    squared in float64 a block of rows at a time: np.nanstd squares them
    in X's own dtype, and float32 values beyond about 1e19 overflow.
    Where squares overflow or underflow float64 (deviations beyond about
    1e154, or all below 1e-150), the deviations are first divided by the
    column's largest."""
    divisor = np.ones(X.shape[1])
    for attempt in range(2):
        total = np.zeros(X.shape[1])
        count = np.zeros(X.shape[1])
        largest = np.zeros(X.shape[1])
        for start in range(0, X.shape[0], block):
            deviation = X[start : start + block].astype(np.float64) - mean
            largest = np.fmax(largest, np.nanmax(np.abs(deviation), axis=0, initial=0.0))
            total += np.nansum((deviation / divisor) ** 2, axis=0)
            count += np.count_nonzero(~np.isnan(deviation), axis=0)
        redo = np.isinf(total) | ((largest > 0) & (largest < 1e-150))
        if attempt or not redo.any():
            return divisor * np.sqrt(total / count)
        divisor = np.where(redo, largest, 1.0)


def _nanmean_float64(X):
    """Mean of each column, ignoring NaN, in float64; where the sum
    overflows (values beyond about 1e300), of the values divided by the
    column's largest, times it."""
    mean = np.nanmean(X, axis=0, dtype=np.float64)
    overflow = np.isinf(mean)
    if overflow.any():
        largest = np.nanmax(np.abs(X[:, overflow]), axis=0).astype(np.float64)
        mean[overflow] = np.nanmean(X[:, overflow] / largest, axis=0, dtype=np.float64) * largest
    return mean


def check_magnitude(X, names=None):
    """Gaussian models take features up to ``MAX_MAGNITUDE`` in absolute
    value; larger ones would overflow float64 in the model's outputs
    (inverse_transform, sample, imputed values): say so before training.
    ``names`` name X's columns in the message (default: their indices)."""
    if X.shape[0] == 0 or (X.dtype.kind == "f" and X.dtype.itemsize < 8):
        return  # float32 and smaller cannot hold such values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        # Reductions rather than np.abs(X): no copy of a large X.
        largest = np.fmax(np.abs(np.fmax.reduce(X, axis=0)), np.abs(np.fmin.reduce(X, axis=0)))
    largest = np.where(np.isnan(largest), 0.0, largest)
    if np.any(largest > MAX_MAGNITUDE):
        j = int(np.argmax(largest))
        name = f"feature {j if names is None else names[j]}"
        raise ValueError(
            f"X has values of magnitude up to {largest[j]:.3g} ({name}), "
            f"beyond the {MAX_MAGNITUDE:.0e} a Gaussian model takes: its outputs "
            "would overflow float64. Rescale the feature (e.g. divide it by a "
            "constant, or take its logarithm)."
        )


def standardisation(X, likelihood, names=None):
    """Shift and scale that map X to the units the model sees.

    Models whose likelihood is ``standardised`` (Gaussian) see standardised
    features (constant features keep scale 1); the others (Bernoulli-type)
    see X itself, within the likelihood's ``support``. Features beyond
    ``MAX_MAGNITUDE`` raise a ValueError (``names``, when given, name X's
    columns in it).
    """
    n_features = X.shape[1]
    if not likelihood_class(likelihood).standardised:
        return np.zeros(n_features), np.ones(n_features)
    _, mean, std = feature_moments(X, names)
    return scaling_from_moments(mean, std)


def feature_moments(X, names=None):
    """Per feature: the number of observed (not NaN) values, their mean and
    standard deviation (NaN where none is observed), in float64 and
    without overflow for any finite X within ``MAX_MAGNITUDE``."""
    check_magnitude(X, names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN features
        mean = _nanmean_float64(X)
        std = _nanstd_float64(X, mean)
    count = X.shape[0] - np.count_nonzero(np.isnan(X), axis=0)
    return count.astype(np.float64), mean, std


def combine_moments(a, b):
    """The (count, mean, std) of two sets of rows from those of each
    (Chan et al.'s pairwise update, as StandardScaler.partial_fit), with
    the spreads divided by their largest first so that nothing overflows."""
    (n_a, mean_a, std_a), (n_b, mean_b, std_b) = a, b
    n = n_a + n_b
    with np.errstate(invalid="ignore", divide="ignore"):
        w_a = np.where(n > 0, n_a / n, 0.0)
        w_b = np.where(n > 0, n_b / n, 0.0)
        mean_a0, mean_b0 = np.where(n_a > 0, mean_a, 0.0), np.where(n_b > 0, mean_b, 0.0)
        std_a0, std_b0 = np.where(n_a > 0, std_a, 0.0), np.where(n_b > 0, std_b, 0.0)
        delta = mean_b0 - mean_a0
        mean = mean_a0 + delta * w_b
        unit = np.maximum.reduce([std_a0, std_b0, np.abs(delta)])
        unit = np.where(unit > 0, unit, 1.0)
        variance = (
            w_a * (std_a0 / unit) ** 2 + w_b * (std_b0 / unit) ** 2
            + w_a * w_b * (delta / unit) ** 2
        )
    std = unit * np.sqrt(variance)
    return n, np.where(n > 0, mean, np.nan), np.where(n > 0, std, np.nan)


def _rounding(mean):
    """What rounding leaves of a feature's spread, relative to its mean."""
    return np.maximum(10 * np.finfo(np.float64).eps * np.abs(mean), np.finfo(np.float64).tiny)


def varies(mean, std):
    """Whether each feature varies beyond rounding (see
    ``scaling_from_moments``); False where nothing is observed."""
    return ~np.isnan(std) & (std > _rounding(mean))


def scaling_from_moments(mean, std):
    """Shift and scale of standardised features from their mean and
    standard deviation. A feature with no observed value (NaN moments)
    gets shift 0, scale 1; a constant one (up to rounding, relative to its
    own magnitude, so that features measured in tiny units such as 1e-30
    keep their variation) keeps scale 1, or for huge constants (1e300) the
    size of their rounding, so that their model values stay small."""
    shift = np.where(np.isnan(mean), 0.0, mean)
    scale = np.where(varies(shift, std), std, np.maximum(_rounding(shift), 1.0))
    return shift, scale


# Rescaling ratios beyond these reset a feature's weights instead (see
# rescale_dense_gaussian): float32 weights cannot absorb them.
_RESCALE_RATIOS = (1e-12, 1e12)


def rescale_dense_gaussian(params, shift, scale, new_shift, new_scale, learnt):
    """The parameters (``state_to_numpy`` form) of a dense Gaussian VAE
    re-expressed for features standardised with ``new_shift`` and
    ``new_scale`` instead of ``shift`` and ``scale``, computing the same
    function of the original units: the encoder's first layer reads
    ``x_old = (x_new * new_scale + new_shift - shift) / scale``; the
    decoder's output layer and the Gaussian's scales give
    ``(out_old * scale + shift - new_shift) / new_scale`` and
    ``sigma_old * scale / new_scale``.

    Features not ``learnt`` (constant in the rows seen so far, where the
    old scale was a convention) and those whose scale changes by more than
    ``_RESCALE_RATIOS`` start afresh instead: the encoder ignores them
    (as it did, since they were constant), the decoder predicts their old
    value with the likelihood's initial scale. Returns a new dict."""
    params = dict(params)
    ratio = new_scale / scale  # x_old = ratio * x_new + offset
    offset = (new_shift - shift) / scale
    keep = learnt & (ratio > _RESCALE_RATIOS[0]) & (ratio < _RESCALE_RATIOS[1])
    ratio, offset = np.where(keep, ratio, 1.0), np.where(keep, offset, 0.0)
    weight, bias = "encoder.body.0.weight", "encoder.body.0.bias"
    if weight not in params:  # no hidden layer: the head reads x
        weight, bias = "encoder.head.weight", "encoder.head.bias"
    W = params[weight].astype(np.float64) * keep
    params[bias] = (params[bias] + W @ offset).astype(params[bias].dtype)
    params[weight] = (W * ratio).astype(params[weight].dtype)
    last = max(
        (k for k in params if k.startswith("decoder.net.") and k.endswith(".weight")),
        key=lambda k: int(k.split(".")[2]),
    )
    out_bias = last[: -len("weight")] + "bias"
    W, b = params[last].astype(np.float64), params[out_bias].astype(np.float64)
    old_value = (shift - new_shift) / new_scale
    params[last] = np.where(keep[:, None], W / ratio[:, None], 0.0).astype(params[last].dtype)
    params[out_bias] = np.where(keep, (b - offset) / ratio, old_value).astype(
        params[out_bias].dtype
    )
    # sigma = softplus(raw) + min_scale, as in likelihoods.Gaussian.
    raw = params["likelihood.raw_scale"].astype(np.float64)
    sigma = np.where(keep, (np.logaddexp(0.0, raw) + GAUSSIAN_MIN_SCALE) / ratio, 1.0)
    excess = np.maximum(sigma - GAUSSIAN_MIN_SCALE, 1e-12)
    params["likelihood.raw_scale"] = (excess + np.log(-np.expm1(-excess))).astype(
        params["likelihood.raw_scale"].dtype
    )
    return params


# "auto" picks Bernoulli for data in [0, 1] with at least this share of
# values within _BINARY_TOLERANCE of 0 or 1.
_BINARY_SHARE = 0.8
_BINARY_TOLERANCE = 0.05


def resolve_likelihood(likelihood, X):
    """The likelihood name for ``likelihood`` ("auto" or a name) and data X.

    "auto" is Bernoulli for (nearly) binary data in [0, 1], such as
    black-and-white images, where it reconstructs best; Gaussian on
    standardised features otherwise, graded intensities included.
    """
    if likelihood != "auto":
        return likelihood
    if np.nanmin(X) < 0 or np.nanmax(X) > 1:
        return "gaussian"
    near_binary = np.count_nonzero(np.minimum(X, 1 - X) <= _BINARY_TOLERANCE)
    observed = X.size - np.count_nonzero(np.isnan(X))
    return "bernoulli" if near_binary >= _BINARY_SHARE * observed else "gaussian"


def check_support(X, likelihood):
    """Fail fast when X has values outside the ``support`` of the
    likelihood named ``likelihood`` (Bernoulli-type ones: [0, 1])."""
    support = likelihood_class(likelihood).support
    if support is None:
        return
    lowest, highest = support
    lo, hi = np.nanmin(X), np.nanmax(X)
    if lo < lowest or hi > highest:
        raise ValueError(
            f"likelihood={likelihood!r} needs X in [{lowest:g}, {highest:g}], but X "
            f"has values in [{lo:.4g}, {hi:.4g}]. Rescale X (e.g. MinMaxScaler) or "
            "use likelihood='gaussian'."
        )


def resolve_hidden_layer_sizes(hidden_layer_sizes, n_features, n_samples=None):
    """The hidden widths to use; None picks them from the data's size.

    The first layer gets ``max(2 * n_features, n_samples / 8)`` units
    rounded to a power of two and clipped to [64, 512], the second half as
    many (at least 32): wide enough to pass the features through, and more
    capacity where there are more rows to fit it.
    """
    if hidden_layer_sizes is None:
        target = max(2 * n_features, (n_samples or 0) / 8, 1)
        first = int(min(512, max(64, 2 ** round(math.log2(target)))))
        return [first, max(32, first // 2)]
    sizes = np.atleast_1d(np.asarray(hidden_layer_sizes))
    if sizes.size == 0:
        return []  # no hidden layer: linear encoder and decoder maps
    if sizes.ndim != 1 or not np.issubdtype(sizes.dtype, np.integer) or np.any(sizes < 1):
        raise ValueError(
            "hidden_layer_sizes must be a positive int or a sequence of positive "
            f"ints, got {hidden_layer_sizes!r}."
        )
    return [int(s) for s in sizes]


def image_shape_values(image_shape, name="image_shape"):
    """``image_shape`` as a tuple of ints, (height, width) or (channels,
    height, width); ValueError (naming it ``name``) otherwise."""
    values = np.asarray(image_shape)
    if (
        values.ndim != 1
        or values.size not in (2, 3)
        or not np.issubdtype(values.dtype, np.integer)
        or np.any(values < 1)
    ):
        raise ValueError(
            f"{name} must be (height, width) or (channels, height, width) "
            f"of positive ints, got {image_shape!r}."
        )
    return tuple(int(v) for v in values)


def resolve_conv_layers(network, n_features, image_shape, conv_channels, hidden_layer_sizes):
    """The config entries of a convolutional network (none for "dense").

    ``image_shape`` must hold exactly ``n_features`` values; None reads the
    rows as square one-channel images. ``conv_channels`` None picks the
    stages from the image size (see ``default_conv_channels``), and
    ``hidden_layer_sizes`` None one fully connected layer of 256 units
    between the convolutions and the latent code.
    """
    if network != "conv":
        return {}
    if image_shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"network='conv' needs image_shape: X has {n_features} features, "
                "which is not a perfect square (a square one-channel image). Pass "
                "image_shape=(height, width) or (channels, height, width)."
            )
        shape = [1, side, side]
    else:
        values = image_shape_values(image_shape)
        shape = [1, *values] if len(values) == 2 else list(values)
        if math.prod(shape) != n_features:
            raise ValueError(
                f"image_shape={values} holds {math.prod(shape)} "
                f"values per image, but X has {n_features} features; their product "
                "must equal the number of features."
            )
    if conv_channels is None:
        channels = default_conv_channels(shape)
    else:
        channels = np.atleast_1d(np.asarray(conv_channels))
        if (
            channels.ndim != 1
            or channels.size == 0
            or not np.issubdtype(channels.dtype, np.integer)
            or np.any(channels < 1)
        ):
            raise ValueError(
                "conv_channels must be a positive int or a non-empty sequence of "
                f"positive ints, got {conv_channels!r}."
            )
        channels = [int(c) for c in channels]
    hidden = (
        [256]
        if hidden_layer_sizes is None
        else resolve_hidden_layer_sizes(hidden_layer_sizes, n_features)
    )
    return {"image_shape": shape, "conv_channels": channels, "hidden_layer_sizes": hidden}


def default_conv_channels(image_shape):
    """Channels per stride-2 stage for images of ``(C, H, W)``.

    One stage per halving while the shorter side is at least 8 pixels (at
    least one stage; two for 28x28, one for 8x8), starting at 16 channels
    and doubling up to 128. Few channels and strided convolutions instead of
    pooling keep a CPU epoch within a few times a dense network's.
    """
    side, n_stages = min(image_shape[1:]), 0
    while side >= 8 or n_stages == 0:
        side, n_stages = -(-side // 2), n_stages + 1
    return [min(128, 16 * 2**i) for i in range(n_stages)]


class BaseVAE(BaseEstimator):
    """Common parameters and the training loop of skvae's estimators.

    ``fit`` and ``partial_fit`` call ``_fit``, which runs these hooks in
    order:

    - ``_validate_fit_data(X, y, reset)`` (required): validated X and y, in
      whatever form the other hooks take.
    - ``_setup(X, y)`` (required; first fit only): preprocessing state and
      the module config ``self._config``.
    - ``_update_preprocessing(X, y)``: later ``partial_fit`` calls: fold
      X into the preprocessing state, keeping the model's function of the
      original units (default: nothing).
    - ``_training_arrays(X, y)`` (required): the numpy arrays the module's
      ``training_loss`` takes, one row per sample.
    - ``_split(arrays, use_validation, seed)``: the training and validation
      arrays (default: a random ``validation_fraction`` of the rows).
    - ``_schedule(n_train, work_per_row)``: the :class:`~skvae.nn.train.Schedule` (default:
      ``max_iter``, ``batch_size``, ``learning_rate``).
    - ``_validation_kl_weight()``: the KL weight of the validation
      objective (default: ``beta``).
    - ``_capacity_schedule()``: the capacity objective's target KL as a
      function of the epoch, or None (default: None, the beta-ELBO).
    - ``_ramp_epochs()``: the first epochs, while the objective still
      changes, that early stopping does not count (default: ``kl_warmup``).
    - ``_build_inference_module()``: the module used after fitting (default:
      a float64 copy, for exact scores).
    - ``_after_training(X, y)``: anything computed from the trained model
      (default: nothing).

    Training itself is ``_train``, through ``_train_module``, the one routine
    that trains every model of an estimator.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "network": [StrOptions({"dense", "conv"})],
        "image_shape": ["array-like", None],
        "conv_channels": ["array-like", Interval(Integral, 1, None, closed="left"), None],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left"), None],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "likelihood": [StrOptions({"auto", *LIKELIHOODS})],
        "beta": [Interval(Real, 0, None, closed="left")],
        "free_bits": [Interval(Real, 0, None, closed="left")],
        "kl_warmup": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_importance_samples": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "training_precision": [StrOptions({"auto", "float32", "bfloat16"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    # ------------------------------------------------------------------ fit

    def _is_first_pass(self, incremental):
        fitted = hasattr(self, "_params")
        return not fitted or not (incremental or self.warm_start)

    def _fit(self, X, y=None, *, incremental=False):
        """Validate, set up on the first pass, train, and finish; all or
        nothing.

        A fit that raises (bad input found late, divergence, a broken
        pipe under ``verbose``, a MemoryError, Ctrl-C outside the epochs
        that absorb it) leaves the estimator exactly as it was: unfitted
        after a failed first fit, the previous model after a failed refit.
        """
        prepare_torch()
        previous = self._state_copy()
        try:
            return self._fit_steps(X, y, incremental=incremental)
        except BaseException:
            with deferred_interrupts():
                self.__dict__ = previous
            raise

    def _state_copy(self):
        """The estimator's attributes, with the containers that fitting
        changes in place (histories) copied: what ``_fit`` restores."""
        return {
            key: value.copy() if isinstance(value, (list, dict)) else value
            for key, value in vars(self).items()
        }

    def _fit_steps(self, X, y=None, *, incremental=False):
        first_pass = self._is_first_pass(incremental)
        device = resolve_device(self.device)
        X, y = self._validate_fit_data(X, y, reset=first_pass)
        use_validation = self.early_stopping and not incremental
        if first_pass:
            self._seed = draw_seed(self.random_state)
            self._n_fit_calls = 0
            self._params = None
            self._optimizer_state = None
            self.loss_curve_ = []
            self.validation_scores_ = [] if use_validation else None
            self.best_loss_ = math.inf
            self.best_validation_score_ = -math.inf if use_validation else None
            self.n_iter_ = 0
            self._no_improvement_count = 0
            self._setup(X, y)
        elif use_validation and self.validation_scores_ is None:
            # warm-started fit after partial_fit: start the validation history
            self.validation_scores_, self.best_validation_score_ = [], -math.inf
        elif incremental:
            self._update_preprocessing(X, y)
        init_seed, shuffle_seed, split_seed = np.random.SeedSequence(
            [self._seed, self._n_fit_calls]
        ).generate_state(3)
        self._n_fit_calls += 1

        with np.errstate(over="ignore"):  # overflow is reported just below
            arrays = self._training_arrays(X, y)
        for array in arrays:
            # Reductions rather than np.isfinite(array): no copy of a large X.
            if array.dtype.kind == "f" and array.size and not (
                np.isfinite(array.max()) and np.isfinite(array.min())
            ):
                raise ValueError(
                    "X has feature values too far from those of the first fit "
                    "for the model's units (they overflow float32 once scaled by "
                    "the feature scaling of the first fit). Rescale X, or fit a "
                    "new model (warm_start=False)."
                )
        train, val = self._split(arrays, use_validation, split_seed)
        self._train(train, val, device, init_seed, shuffle_seed, incremental)
        self._inference = self._build_inference_module()
        self._after_training(X, y)
        return self

    def _after_training(self, X, y=None):
        """Hook: state computed from the trained model (default: none)."""

    def _update_preprocessing(self, X, y=None):
        """Hook: fold a later ``partial_fit`` batch into the preprocessing
        state (default: none; the first batch's stays)."""

    def _split(self, arrays, use_validation, seed):
        n = arrays[0].shape[0]
        if not use_validation:
            return arrays, None
        n_val = math.ceil(self.validation_fraction * n)
        if n - n_val < 1:
            raise ValueError(
                f"n_samples={n} is too few to hold out validation_fraction="
                f"{self.validation_fraction} for early stopping; provide more "
                "samples or set early_stopping=False."
            )
        perm = np.random.default_rng(seed).permutation(n)
        val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        return tuple(a[train_idx] for a in arrays), tuple(a[val_idx] for a in arrays)

    def _kl_weight(self, epoch):
        """beta, ramped linearly over the first ``kl_warmup`` epochs."""
        if self.kl_warmup == 0:
            return float(self.beta)
        return float(self.beta) * min(1.0, epoch / self.kl_warmup)

    def _schedule(self, n_train, work_per_row=None):
        """The :class:`~skvae.nn.train.Schedule` of one ``fit`` on
        ``n_train`` rows of a network doing ``work_per_row`` multiply-adds
        per training row (None when unknown). Subclasses resolve their
        "auto" values here; ``batch_size="auto"`` is
        :func:`auto_batch_size` and ``learning_rate="auto"``
        :func:`auto_learning_rate`."""
        batch_size = self.batch_size
        if batch_size == "auto":
            batch_size = auto_batch_size(n_train, work_per_row)
        batch_size = min(batch_size, n_train)
        learning_rate = self.learning_rate
        if learning_rate == "auto":
            learning_rate = auto_learning_rate(n_train, batch_size)
        return Schedule(
            max_epochs=self.max_iter,
            batch_size=batch_size,
            learning_rate=float(learning_rate),
        )

    def _validation_kl_weight(self):
        """The KL weight of the validation objective: beta, as in the
        objective trained (free bits included, see ``VAE.training_loss``)."""
        return float(self.beta)

    def _capacity_schedule(self):
        """The target KL (nats) of the capacity objective as a function of
        the epoch (counted over all fits), or None to train the beta-ELBO."""
        return None

    def _ramp_epochs(self):
        """Epochs from the first that early stopping does not count, while
        the objective is still changing: the KL warm-up."""
        return self.kl_warmup

    def _train_module(self, module, train, val, schedule, seed, *, on_epoch=None,
                      stopping=None, first_epoch=0, optimizer_state=None, phase="Epoch"):
        """Train ``module`` (on its device) on the arrays ``train`` (and
        ``val``) with :func:`~skvae.nn.train.run_epochs`: the one training
        routine of every model an estimator trains, the estimator's own
        and any helper model (VAEImputer's calibration). ``optimizer_state``
        resumes Adam (warm start). Returns the trainer and the
        :class:`~skvae.nn.train.TrainingOutcome`."""
        device = next(module.parameters()).device
        rows = schedule.batch_size * module.decodes_per_row
        if schedule.threads is None:
            schedule = replace(schedule, threads=cpu_threads(module, rows, device))
        trainer = Trainer(
            module,
            learning_rate=schedule.learning_rate,
            batch_size=schedule.batch_size,
            seed=seed,
            autocast_dtype=training_autocast_dtype(self.training_precision, module, rows),
        )
        if optimizer_state is not None:
            trainer.load_optimizer_state(optimizer_state)
            trainer.reset_learning_rate(schedule.learning_rate)
        if stopping is None:
            stopping = StoppingRule(self.tol, self.n_iter_no_change)
        to_tensor = lambda arrays: tuple(shared_tensor(a, device) for a in arrays)  # noqa: E731
        outcome = run_epochs(
            trainer,
            to_tensor(train),
            to_tensor(val) if val is not None else None,
            schedule,
            stopping,
            kl_weight=self._kl_weight,
            capacity=self._capacity_schedule(),
            first_epoch=first_epoch,
            warmup_epochs=self._ramp_epochs(),
            validation_kl_weight=self._validation_kl_weight(),
            max_retries=_MAX_DIVERGENCE_RETRIES,
            on_epoch=on_epoch,
            log=(lambda line: print(line, flush=True)) if self.verbose else None,
            phase=phase,
        )
        return trainer, outcome

    def _train(self, train, val, device, init_seed, shuffle_seed, incremental):
        """Train this estimator's model on ``train`` (early stopping on
        ``val``), continuing from ``_params`` when set, and record the
        histories, warnings and the weights kept."""
        module = build_module(
            self._config,
            seed=init_seed if self._params is None else None,
            params=self._params,
            device=device,
        )
        n_train = train[0].shape[0]
        work = multiply_adds_per_row(module)
        schedule = self._schedule(n_train, None if work is None else work * module.decodes_per_row)
        batch_size_ = schedule.batch_size
        if incremental:
            schedule = replace(schedule, max_epochs=1)
            if self.batch_size == "auto":
                # As for the rate: a chunk's size says nothing of the table's.
                # batch_size_ keeps the size, not its clipping to this chunk.
                batch_size_ = getattr(self, "batch_size_", AUTO_BATCH_SIZE)
                schedule = replace(schedule, batch_size=min(batch_size_, n_train))
            if self.learning_rate == "auto":
                # A chunk's size says nothing of the table's: keep the rate
                # of the fit this continues, or start from the base rate.
                schedule = replace(
                    schedule, learning_rate=getattr(self, "learning_rate_", AUTO_LEARNING_RATE)
                )
        self.learning_rate_ = schedule.learning_rate
        self.batch_size_ = batch_size_
        with_val = val is not None
        if self.verbose:
            length = "" if schedule.fixed_length and not with_val else "at most "
            print(
                f"Training {type(self).__name__}: {train[0].shape[0]} rows"
                + (f" ({val[0].shape[0]} more held out for validation)" if with_val else "")
                + f", {length}{schedule.max_epochs} epochs in batches of {schedule.batch_size}"
                + f", learning rate {schedule.learning_rate:.3g}"
                + (" decaying along half a cosine" if schedule.cosine else ""),
                flush=True,
            )
        stopping = StoppingRule(
            self.tol,
            self.n_iter_no_change,
            best=self.best_validation_score_ if with_val else -self.best_loss_,
            count=self._no_improvement_count,
        )

        def record(loss, score):
            self.n_iter_ += 1
            self.loss_curve_.append(loss)
            self.best_loss_ = min(self.best_loss_, loss)
            if score is not None:
                self.validation_scores_.append(score)
                # The rule's best: epochs of a warm-up or ramp are not recorded.
                self.best_validation_score_ = stopping.best
            self._no_improvement_count = stopping.count

        trainer, outcome = self._train_module(
            module, train, val, schedule, shuffle_seed,
            on_epoch=record, stopping=stopping, first_epoch=self.n_iter_,
            optimizer_state=self._optimizer_state,
        )
        if outcome.interrupted:
            warnings.warn(
                f"Training interrupted by the user after {self.n_iter_} epochs; "
                "the model keeps the best weights found so far.",
                UserWarning,
            )
        elif not incremental and not outcome.converged and not (
            schedule.fixed_length and val is None
        ):
            warnings.warn(
                f"Maximum iterations ({schedule.max_epochs}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        first_fit = self.n_iter_ == outcome.epochs
        if with_val and first_fit and outcome.best_epoch == 1 and outcome.epochs > 1:
            warnings.warn(
                "The best validation score was that of the first epoch, so the "
                "model keeps weights trained for one epoch only. The validation "
                "objective got worse as training went on: try a smaller "
                "learning_rate, a larger validation_fraction, or "
                "early_stopping=False.",
                ConvergenceWarning,
            )
        self._params = state_to_numpy(module.state_dict())
        self._optimizer_state = trainer.optimizer_state()

    # ----------------------------------------------------------- inference

    def _inference_device(self):
        return resolve_device(self.device, strict=False)

    def _build_inference_module(self):
        device = self._inference_device()
        dtype = torch.float32 if device.type == "mps" else torch.float64
        return build_module(self._config, params=self._params, device=device, dtype=dtype).eval()

    def _map_batches(
        self, fn, *arrays, batch_size=INFERENCE_BATCH_SIZE, module=None, prepare=None, draws=1,
        gradients=False,
    ):
        """Apply ``fn`` to row batches of ``arrays`` (as tensors on the
        device and in the dtype of ``module``, by default the inference
        network) and stack the numpy results.

        ``prepare``, when given, maps each batch of ``arrays`` to the arrays
        ``fn`` takes (e.g. scaling to model units), so that nothing the size
        of the whole input is ever materialised besides the output.
        ``draws``: the latent draws ``fn`` decodes per row. Batches whose
        work is small run on one CPU thread (:func:`cpu_threads`), as
        training steps do: a second thread gains little there on a quiet
        machine, and on a busy one every operation waits for it.
        ``gradients``: run under ``torch.no_grad`` instead of
        ``torch.inference_mode``, so that ``fn`` may turn gradients on (the
        posterior refinement of the bound).
        """
        module = self._inference if module is None else module
        param = next(module.parameters())
        n = arrays[0].shape[0]
        threads = cpu_threads(module, min(n, batch_size) * draws, param.device)
        output = None
        mode = torch.no_grad() if gradients else torch.inference_mode()
        with mode, intra_op_threads(threads):
            for start in range(0, n, batch_size):
                batch = [a[start : start + batch_size] for a in arrays]
                if prepare is not None:
                    batch = prepare(*batch)
                tensors = [torch.tensor(a, device=param.device) for a in batch]
                tensors = [t.to(param.dtype) if t.is_floating_point() else t for t in tensors]
                result = fn(*tensors).cpu().numpy()
                if output is None:
                    # One allocation for the whole result: small per-batch
                    # arrays kept between large temporaries fragment the heap
                    # and make resident memory grow with the number of rows.
                    output = np.empty((n, *result.shape[1:]), dtype=result.dtype)
                output[start : start + result.shape[0]] = result
        if output is None:
            raise ValueError("Found array with 0 sample(s); at least 1 is required.")
        return output

    def _from_model_units(self, values):
        """``values`` (model units, an array this call owns) in the original
        units, in place: no full-size temporaries. Returns ``values``."""
        values *= self._scale
        values += self._shift
        return values

    def _importance_noise(self, n_samples, module=None):
        """``n_samples`` standard-normal draws shared by all rows (fixed per
        model), so that each row's result is deterministic and independent
        of the batch; on the device and in the dtype of ``module`` (by
        default the inference network)."""
        check_importance_samples(n_samples, self._config)
        return self._fixed_noise((n_samples, 1), module=module)

    def _fixed_noise(self, shape, *, stream=0, module=None):
        """Standard-normal draws of shape ``(*shape, n_components)``, fixed
        per model: drawn in float64 from the model's seed plus ``stream``
        (each use its own stream), then put on the device and in the dtype
        of ``module`` (by default the inference network)."""
        module = self._inference if module is None else module
        param = next(module.parameters())
        generator = torch.Generator().manual_seed((self._seed + stream) % 2**63)
        eps = torch.randn(
            *shape, self._config["n_components"], generator=generator, dtype=torch.float64
        )
        return eps.to(device=param.device, dtype=param.dtype)

    def _log_likelihood_bound(self, *arrays, prepare=None, refinement_steps=0):
        """Importance-weighted bound on log p(x) per row, in model units;
        ``arrays`` and ``prepare`` as in ``_map_batches`` (the prepared
        batch is x and optionally the mask of observed entries). With
        ``refinement_steps``, the draws come from each row's posterior
        refined by that many steps (:meth:`VAE.refined_posterior`)."""
        eps = self._importance_noise(self.n_importance_samples)
        refinement_eps = self._refinement_noise(refinement_steps) if refinement_steps else None
        rows = max(1, _IW_DRAWS_PER_BATCH // self.n_importance_samples)
        module = self._inference
        return self._map_batches(
            lambda x, m=None: module.log_likelihood_bound(x, eps, m, refinement_eps),
            *arrays,
            batch_size=rows,
            prepare=prepare,
            draws=self.n_importance_samples,
            gradients=refinement_eps is not None,
        )

    def _refinement_noise(self, n_steps):
        """The standard normal draws of ``n_steps`` steps of posterior
        refinement, ``(n_steps, REFINEMENT_DRAWS, 1, n_components)``,
        shared by all rows and fixed per model (a stream apart from
        :meth:`_importance_noise`'s), in the inference network's dtype."""
        return self._fixed_noise((n_steps, REFINEMENT_DRAWS, 1), stream=1)

    # --------------------------------------------------------- persistence

    def __getstate__(self):
        state = dict(super().__getstate__())
        # The inference network is rebuilt from the numpy parameters on load.
        state.pop("_inference", None)
        return state

    def __setstate__(self, state):
        from ._persistence import check_loaded_state

        # The network is rebuilt from the file's config: check it first.
        check_loaded_state(state, type(self).__name__)
        super().__setstate__(state)
        if getattr(self, "_params", None) is not None:
            self._inference = self._build_inference_module()

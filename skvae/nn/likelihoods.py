"""Observation models p(x | decoder output), one object per kind.

Each likelihood factorises over features and exposes the same interface:

- ``n_outputs``: how many raw decoder outputs it consumes;
- ``log_prob(x, out, mask=None)``: log-density per sample, summed over the
  observed features (``mask`` is True where a value is observed); ``out`` may
  carry extra leading dimensions (importance samples), ``x`` broadcasts;
- ``mean(out)``: the expected value of x, in the units the model sees;
- ``sample(out, generator)``: a draw of x.

Likelihoods are ``nn.Module`` objects so that learned parameters (the
Gaussian's per-feature scale) live in the VAE's state dict.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class Likelihood(nn.Module):
    """Base class: a factorised observation model over ``n_features``."""

    #: Raw decoder outputs per feature.
    outputs_per_feature = 1

    def __init__(self, n_features):
        super().__init__()
        self.n_features = int(n_features)

    @property
    def n_outputs(self):
        return self.n_features * self.outputs_per_feature

    def log_prob_elements(self, x, out):
        """Per-element log-density, shape of ``out`` broadcast with ``x``."""
        raise NotImplementedError

    def log_prob(self, x, out, mask=None):
        """Log-density of each sample, summed over observed features."""
        elements = self.log_prob_elements(x, out)
        if mask is not None:
            elements = torch.where(mask, elements, 0.0)
        return elements.sum(dim=-1)

    def mean(self, out):
        raise NotImplementedError

    def sample(self, out, generator=None):
        raise NotImplementedError


class Gaussian(Likelihood):
    """Gaussian with a decoded mean and a learned per-feature scale.

    The scale does not depend on z (as in factor analysis), which keeps
    training stable; it is floored at ``min_scale`` so that a feature that
    is constant in the training data cannot drive the density to infinity.

    Parameters
    ----------
    n_features : int
    min_scale : float, default=1e-3
        Smallest standard deviation, in the units the model sees
        (standardised features, where the estimator standardises).
    """

    def __init__(self, n_features, min_scale=1e-3):
        super().__init__(n_features)
        self.min_scale = float(min_scale)
        # softplus(raw) + min_scale == 1 at initialisation.
        start = math.log(math.expm1(1.0 - self.min_scale))
        self.raw_scale = nn.Parameter(torch.full((self.n_features,), start))

    @property
    def scale(self):
        return F.softplus(self.raw_scale) + self.min_scale

    def log_prob_elements(self, x, out):
        scale = self.scale
        return -0.5 * ((x - out) / scale) ** 2 - torch.log(scale) - _HALF_LOG_2PI

    def mean(self, out):
        return out

    def sample(self, out, generator=None):
        noise = torch.randn(
            out.shape, generator=generator, device=out.device, dtype=out.dtype
        )
        return out + self.scale * noise


class Bernoulli(Likelihood):
    """Bernoulli with decoded logits, for binary data or intensities in [0, 1].

    ``log_prob`` is the negative binary cross-entropy, computed on logits
    (never sigmoid followed by log). For x strictly between 0 and 1 it is
    not a normalised density; use :class:`ContinuousBernoulli` or
    :class:`Gaussian` where a density is needed.
    """

    def log_prob_elements(self, x, out):
        return -F.binary_cross_entropy_with_logits(
            out, x.expand_as(out), reduction="none"
        )

    def mean(self, out):
        return torch.sigmoid(out)

    def sample(self, out, generator=None):
        return torch.bernoulli(torch.sigmoid(out), generator=generator)


# |logit| below which the continuous Bernoulli uses its Taylor expansions.
_CB_SMALL = 1e-2


class ContinuousBernoulli(Likelihood):
    """Continuous Bernoulli: a proper density on [0, 1] (Loaiza-Ganem and
    Cunningham, NeurIPS 2019).

    p(x | l) = C(l) sigmoid(l)^x (1 - sigmoid(l))^(1 - x), with the
    normaliser written in logits as C(l) = l / tanh(l / 2) (2 at l = 0).
    """

    @staticmethod
    def _log_normaliser(logits):
        a = logits.abs()
        small = a < _CB_SMALL
        safe = torch.where(small, torch.ones_like(a), a)
        large = torch.log(safe) - torch.log(torch.tanh(safe / 2))
        return torch.where(small, torch.log(2 + a**2 / 6), large)

    def log_prob_elements(self, x, out):
        bernoulli = -F.binary_cross_entropy_with_logits(
            out, x.expand_as(out), reduction="none"
        )
        return bernoulli + self._log_normaliser(out)

    def mean(self, out):
        small = out.abs() < _CB_SMALL
        safe = torch.where(small, torch.ones_like(out), out)
        # E[x] = sigmoid(l) / tanh(l / 2) - 1 / l, and 1/2 + l / 12 near 0.
        large = torch.sigmoid(safe) / torch.tanh(safe / 2) - 1 / safe
        return torch.where(small, 0.5 + out / 12, large)

    def sample(self, out, generator=None):
        u = torch.rand(out.shape, generator=generator, device=out.device, dtype=out.dtype)
        # Inverse CDF, written for l > 0 and mirrored (x(l, u) = 1 - x(-l, 1 - u)).
        a = out.abs()
        v = torch.where(out >= 0, u, 1 - u)
        safe = torch.where(a < _CB_SMALL, torch.ones_like(a), a)
        x_pos = 1 + torch.log(v + (1 - v) * torch.exp(-safe)) / safe
        x_pos = torch.where(a < _CB_SMALL, v, x_pos)
        return torch.where(out >= 0, x_pos, 1 - x_pos).clamp(0.0, 1.0)


LIKELIHOODS = {
    "gaussian": Gaussian,
    "bernoulli": Bernoulli,
    "continuous_bernoulli": ContinuousBernoulli,
}


def make_likelihood(name, n_features):
    """The likelihood object called ``name`` over ``n_features`` features."""
    try:
        return LIKELIHOODS[name](n_features)
    except KeyError:
        raise ValueError(
            f"Unknown likelihood {name!r}; expected one of {sorted(LIKELIHOODS)}."
        ) from None

"""Approximate posteriors q(z | x): the one home of their arithmetic.

Every model skvae trains (the VAE, M2) and every estimator that reads a
posterior (VAETransformer's ``component_kl_``) draws, scores and measures
q(z | x) through the object here, so that another family (a normalizing
flow after the Gaussian) is one new class beside it.

Draws are reparameterised: ``z = rsample(eps)`` for standard normal noise
``eps`` that the caller draws (from its own ``torch.Generator``), so that
gradients flow through z and randomness never comes from torch's global
state.
"""

import math

import torch

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# Keeps exp(log_var) finite in float32 whatever the encoder outputs.
LOG_VAR_BOUND = 30.0


def standard_normal_log_prob(z):
    """log N(z; 0, I), summed over the last dimension (the prior p(z))."""
    return (-0.5 * z.pow(2) - _HALF_LOG_2PI).sum(dim=-1)


class DiagonalGaussian:
    """q(z | x) = N(mean, diag(exp(log_var))), one per row (and per label,
    for M2), over the last dimension.

    Parameters
    ----------
    mean, log_var : Tensor
        Of equal shape ``(..., n_components)``; taken as they are (see
        :meth:`bounded` for an encoder's raw output).

    Examples
    --------
    >>> import torch
    >>> q = DiagonalGaussian(torch.zeros(1, 2), torch.zeros(1, 2))
    >>> q.kl()
    tensor([0.])
    >>> q.rsample(torch.ones(1, 2))
    tensor([[1., 1.]])
    """

    def __init__(self, mean, log_var):
        self.mean = mean
        self.log_var = log_var

    @classmethod
    def bounded(cls, mean, log_var):
        """From an encoder's output, with the log-variance clamped to
        [-LOG_VAR_BOUND, LOG_VAR_BOUND] so that its exponential is finite."""
        return cls(mean, log_var.clamp(-LOG_VAR_BOUND, LOG_VAR_BOUND))

    @classmethod
    def from_stats(cls, stats):
        """From one tensor holding the means then the log-variances on its
        last dimension (a linear head's output), clamped as :meth:`bounded`."""
        mean, log_var = stats.chunk(2, dim=-1)
        return cls.bounded(mean, log_var)

    def rsample(self, eps):
        """z = mean + sigma * eps, differentiable in the parameters; ``eps``
        may carry extra leading dimensions (several draws per row)."""
        return self.mean + eps * torch.exp(0.5 * self.log_var)

    def log_prob_of_noise(self, eps):
        """log q(z | x), summed over the components, at the draw
        ``z = rsample(eps)`` (cheaper from the noise than from z)."""
        return (-0.5 * eps.pow(2) - 0.5 * self.log_var - _HALF_LOG_2PI).sum(dim=-1)

    def kl_per_component(self, free_bits=0.0):
        """KL(q || N(0, I)) of each component, in closed form (Kingma and
        Welling, 2014, appendix B): -1/2 (1 + log_var - mean^2 - exp(log_var)).
        With ``free_bits`` > 0 each term is floored at that many nats
        (Kingma et al., 2016), which removes the pull towards an unused,
        "collapsed" component; only training uses it."""
        per_component = 0.5 * (self.mean.pow(2) + self.log_var.exp() - 1.0 - self.log_var)
        if free_bits > 0:
            per_component = per_component.clamp_min(free_bits)
        return per_component

    def kl(self, free_bits=0.0):
        """KL(q || N(0, I)) per row: :meth:`kl_per_component` summed."""
        return self.kl_per_component(free_bits).sum(dim=-1)

    def widened(self, scale):
        """The same Gaussian with its standard deviations times ``scale``
        (a defensive importance-sampling proposal)."""
        if scale == 1.0:
            return self
        return DiagonalGaussian(self.mean, self.log_var + 2 * math.log(scale))

"""The VAE module: encode, reparameterise, decode, and per-sample bounds.

Loss terms are returned per sample; callers reduce them. Randomness comes in
as explicit noise tensors or a ``torch.Generator``, never from torch's global
random state.
"""

import math

import torch
from torch import nn

from .likelihoods import make_likelihood
from .networks import init_parameters, make_networks

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# Keeps exp(log_var) finite in float32 whatever the encoder outputs.
_LOG_VAR_BOUND = 30.0


def gaussian_kl(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per sample, in closed form.

    Kingma and Welling (2014), appendix B:
    -1/2 * sum(1 + log_var - mean^2 - exp(log_var)).
    """
    return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(dim=-1)


def standard_normal_log_prob(z):
    """log N(z; 0, I), summed over the last dimension."""
    return (-0.5 * z.pow(2) - _HALF_LOG_2PI).sum(dim=-1)


class VAE(nn.Module):
    """A variational autoencoder with a standard normal prior.

    Parameters
    ----------
    encoder : nn.Module
        ``x -> (mean, log_var)`` of q(z | x).
    decoder : nn.Module
        ``z -> out``, the raw parameters of p(x | z).
    likelihood : skvae.nn.Likelihood
        Observation model consuming the decoder output.
    n_components : int
        Dimension of the latent space.
    input_bounds : tuple of two tensors or None
        Per-feature lower and upper bounds applied to the encoder's input
        (the training range, widened), so that a test value far outside
        what the encoder saw cannot produce a meaningless code. The
        likelihood always sees the unclipped x.
    """

    def __init__(self, encoder, decoder, likelihood, n_components, input_bounds=None):
        super().__init__()
        self.n_components = int(n_components)
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        lower, upper = input_bounds if input_bounds is not None else (None, None)
        self.register_buffer("input_lower", lower)
        self.register_buffer("input_upper", upper)

    @classmethod
    def from_config(cls, config, generator=None):
        """Build from a plain dict of built-in values.

        Keys: ``network``, ``n_features``, ``n_components``, ``likelihood``,
        ``hidden_layer_sizes``, ``activation`` and optionally
        ``image_shape`` and ``conv_channels`` (for ``network="conv"``) and
        ``input_bounds`` (a pair of per-feature lists, or None). Parameters are initialised from ``generator`` when
        given.
        """
        likelihood = make_likelihood(config["likelihood"], config["n_features"])
        encoder, decoder = make_networks(
            config["network"],
            n_features=config["n_features"],
            n_components=config["n_components"],
            n_outputs=likelihood.n_outputs,
            hidden_layer_sizes=config["hidden_layer_sizes"],
            activation=config["activation"],
            image_shape=config.get("image_shape"),
            conv_channels=config.get("conv_channels"),
        )
        bounds = config.get("input_bounds")
        if bounds is not None:
            bounds = tuple(torch.tensor(b, dtype=torch.float32) for b in bounds)
        model = cls(encoder, decoder, likelihood, config["n_components"], bounds)
        if generator is not None:
            init_parameters(model, generator)
        return model

    def encode(self, x, mask=None):
        """Mean and log-variance of q(z | x); missing entries read as 0."""
        if self.input_lower is not None:
            x = torch.clamp(x, self.input_lower, self.input_upper)
        if mask is not None:
            x = torch.where(mask, x, 0.0)
        mean, log_var = self.encoder(x)
        return mean, log_var.clamp(-_LOG_VAR_BOUND, _LOG_VAR_BOUND)

    @staticmethod
    def reparameterize(mean, log_var, eps):
        """z = mean + sigma * eps; ``eps`` may carry extra leading dims."""
        return mean + eps * torch.exp(0.5 * log_var)

    def decode(self, z):
        return self.decoder(z)

    def elbo_terms(self, x, eps, mask=None):
        """Expected log-likelihood (one sample) and KL, each per sample."""
        mean, log_var = self.encode(x, mask)
        out = self.decode(self.reparameterize(mean, log_var, eps))
        return self.likelihood.log_prob(x, out, mask), gaussian_kl(mean, log_var)

    def training_loss(self, x, mask=None, *, kl_weight=1.0, generator=None):
        """Negative beta-weighted ELBO per sample (the quantity minimised)."""
        eps = torch.randn(
            x.shape[0],
            self.n_components,
            generator=generator,
            device=x.device,
            dtype=x.dtype,
        )
        log_lik, kl = self.elbo_terms(x, eps, mask)
        return kl_weight * kl - log_lik

    def log_weights(self, x, eps, mask=None):
        """Importance log-weights log p(x, z) - log q(z | x), shape (K, n).

        ``eps`` has shape ``(K, n, n_components)`` or ``(K, 1, n_components)``
        (the same K draws for every row, which keeps each row's bound
        independent of the other rows in the batch).
        """
        mean, log_var = self.encode(x, mask)
        z = self.reparameterize(mean, log_var, eps)
        log_lik = self.likelihood.log_prob(x, self.decode(z), mask)
        # log q(z | x) at z = mean + sigma * eps.
        log_q = (-0.5 * eps.pow(2) - 0.5 * log_var - _HALF_LOG_2PI).sum(dim=-1)
        return log_lik + standard_normal_log_prob(z) - log_q

    def log_likelihood_bound(self, x, eps, mask=None):
        """Importance-weighted lower bound on log p(x) per sample (Burda et
        al., 2016); with K = 1 it is the ELBO."""
        log_w = self.log_weights(x, eps, mask)
        return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])

    def extra_repr(self):
        return f"n_components={self.n_components}"

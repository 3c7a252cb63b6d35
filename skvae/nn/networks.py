"""Encoders and decoders.

Every encoder maps a batch ``x`` of shape ``(n, n_features)`` to the mean and
log-variance of a diagonal Gaussian posterior, each ``(n, n_components)``.
Every decoder maps latent codes ``z`` of shape ``(..., n, n_components)`` (any
leading dimensions, e.g. importance samples) to the raw parameters that the
likelihood object consumes, ``(..., n, n_outputs)``. The VAE module and the
estimators rely on nothing else, so networks of different kinds are
interchangeable.
"""

import math

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "logistic": nn.Sigmoid,
    "identity": nn.Identity,
}


def _mlp(sizes, activation, final_activation):
    """Linear layers through ``sizes`` with ``activation`` between them."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if final_activation or i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class DenseEncoder(nn.Module):
    """Fully connected encoder ``x -> (mean, log_var)``.

    Parameters
    ----------
    n_features : int
        Width of the input.
    n_components : int
        Dimension of the latent space.
    hidden_layer_sizes : sequence of int
        Widths of the hidden layers, input side first.
    activation : str
        A key of ``ACTIVATIONS``.
    """

    def __init__(self, n_features, n_components, hidden_layer_sizes, activation):
        super().__init__()
        sizes = [n_features, *hidden_layer_sizes]
        self.body = _mlp(sizes, activation, final_activation=True)
        # One head for both moments: a single matrix product instead of two.
        self.head = nn.Linear(sizes[-1], 2 * n_components)

    def forward(self, x):
        mean, log_var = self.head(self.body(x)).chunk(2, dim=-1)
        return mean, log_var


class DenseDecoder(nn.Module):
    """Fully connected decoder ``z -> likelihood parameters``.

    Parameters
    ----------
    n_components : int
        Dimension of the latent space.
    n_outputs : int
        Number of raw outputs the likelihood needs.
    hidden_layer_sizes : sequence of int
        Widths of the hidden layers, latent side first.
    activation : str
        A key of ``ACTIVATIONS``.
    """

    def __init__(self, n_components, n_outputs, hidden_layer_sizes, activation):
        super().__init__()
        sizes = [n_components, *hidden_layer_sizes, n_outputs]
        self.net = _mlp(sizes, activation, final_activation=False)

    def forward(self, z):
        return self.net(z)


def make_networks(
    network,
    *,
    n_features,
    n_components,
    n_outputs,
    hidden_layer_sizes,
    activation,
):
    """Build a matching ``(encoder, decoder)`` pair.

    The decoder mirrors the encoder: its hidden widths are the encoder's in
    reverse order.
    """
    if network == "dense":
        hidden = [int(h) for h in hidden_layer_sizes]
        encoder = DenseEncoder(n_features, n_components, hidden, activation)
        decoder = DenseDecoder(n_components, n_outputs, hidden[::-1], activation)
        return encoder, decoder
    raise ValueError(f"Unknown network kind {network!r}.")


def init_parameters(module, generator):
    """Initialise every linear and convolutional layer from ``generator``.

    Same distribution as PyTorch's default initialisation (Kaiming-uniform
    with ``a=sqrt(5)``), but drawn from a local generator so that fitting is
    reproducible without touching torch's global random state.
    """
    for layer in module.modules():
        weight = getattr(layer, "weight", None)
        if not isinstance(weight, nn.Parameter) or weight.dim() < 2:
            continue
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
        bias = getattr(layer, "bias", None)
        if isinstance(bias, nn.Parameter):
            # For Linear, Conv and ConvTranspose, PyTorch uses dim 1 as fan-in.
            fan_in = weight.shape[1] * math.prod(weight.shape[2:])
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            with torch.no_grad():
                bias.uniform_(-bound, bound, generator=generator)

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


def full_precision(t):
    """``t`` as float32 if autocast computed it in a 16-bit float, else
    unchanged (float64 inference stays float64). Networks return their
    outputs through it, so that likelihoods and KL terms are computed in
    full precision under mixed-precision training."""
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


# On the CPU, torch's MKL float32 kernels take 2-4x longer for a matrix
# product whose result has fewer than _NARROW columns than for the same
# product padded with zeros to _NARROW columns (python3 dev.py bench gemm;
# bench layout for whole fits). A dense layer with fewer than _NARROW
# inputs or outputs applied to at least _TALL rows therefore computes with
# its weight (and input, when gradients are computed) padded with zeros:
# the output layer of a decoder of a few columns (its output and weight
# gradient) and the first layer of a decoder of a few latent components
# (its gradients), e.g. in an imputer's training step of 64 rows x 20
# draws. The padding adds exact zeros, and the products stay the plain
# ones, whose results do not depend on the number of threads.
_NARROW, _TALL = 16, 256


class Linear(nn.Linear):
    """:class:`torch.nn.Linear` (the same parameters, initialisation and
    state dict) that pads narrow float32 products on the CPU to _NARROW
    columns, where MKL computes them faster (see _NARROW). Everything else
    (other dtypes and devices, autocast, wide or short products) is
    :func:`torch.nn.functional.linear` unchanged."""

    def forward(self, x):
        # Padding the input pays only in the backward pass (the input's
        # and the weight's gradients are the narrow products).
        backward = torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad)
        pad_in = max(0, _NARROW - self.in_features) if backward else 0
        pad_out = max(0, _NARROW - self.out_features)
        if (
            not (pad_in or pad_out)
            or x.numel() < _TALL * self.in_features
            or x.dtype != torch.float32
            or self.weight.dtype != torch.float32
            or x.device.type != "cpu"
            or torch.is_autocast_enabled("cpu")
        ):
            return super().forward(x)
        weight, bias = self.weight, self.bias
        if pad_in:
            x = nn.functional.pad(x, (0, pad_in))
            weight = nn.functional.pad(weight, (0, pad_in))
        if pad_out:
            weight = nn.functional.pad(weight, (0, 0, 0, pad_out))
            bias = None if bias is None else nn.functional.pad(bias, (0, pad_out))
        output = nn.functional.linear(x, weight, bias)
        # Contiguous, as F.linear's output: elementwise work downstream is
        # slower on a strided slice.
        return output[..., : self.out_features].contiguous() if pad_out else output


def _mlp(sizes, activation, final_activation):
    """Linear layers through ``sizes`` with ``activation`` between them."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Linear(n_in, n_out))
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
        self.head = Linear(sizes[-1], 2 * n_components)

    def forward(self, x):
        mean, log_var = full_precision(self.head(self.body(x))).chunk(2, dim=-1)
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
        return full_precision(self.net(z))


def conv_geometry(image_shape, n_stages):
    """Spatial sizes ``[(H, W), ...]`` after each stride-2 stage (input first).

    A 3x3 convolution with stride 2 and padding 1 maps a side of length s to
    ceil(s / 2), so odd sizes lose nothing; the decoder's transposed
    convolutions pick their output padding to land back on s exactly.
    """
    sizes = [tuple(int(s) for s in image_shape[-2:])]
    for _ in range(n_stages):
        h, w = sizes[-1]
        sizes.append((-(-h // 2), -(-w // 2)))
    return sizes


def _as_chw(image_shape):
    shape = tuple(int(s) for s in image_shape)
    return shape if len(shape) == 3 else (1, *shape)


# Largest number of activations one decoder pass holds per chunk: importance
# sampling decodes K draws for every row at once, and feature maps are much
# wider than a dense layer, so big batches are decoded in pieces.
_MAX_CHUNK_ACTIVATIONS = 2**24


def _multiply_adds(network):
    """Multiply-adds per row of a convolutional network's forward pass: each
    convolution's kernel times the positions it is applied at
    (``network._conv_positions``, in the order of ``network.conv``), plus
    the weights of its fully connected layers."""
    convs = [m for m in network.conv if isinstance(m, nn.modules.conv._ConvNd)]
    dense = [m for m in network.modules() if isinstance(m, nn.Linear)]
    return sum(c.weight.numel() * n for c, n in zip(convs, network._conv_positions)) + sum(
        layer.weight.numel() for layer in dense
    )


class ConvEncoder(nn.Module):
    """Convolutional encoder ``x -> (mean, log_var)`` for flattened images.

    Each stage is a 3x3 convolution with stride 2 (it halves the height and
    width, rounding up); the feature maps are then flattened and passed
    through fully connected layers to the two moments. Rows of ``x`` are
    images flattened in C order from ``image_shape``.

    Parameters
    ----------
    image_shape : tuple of int
        ``(height, width)`` or ``(channels, height, width)``.
    n_components : int
        Dimension of the latent space.
    channels : sequence of int
        Output channels of each convolution, input side first.
    hidden_layer_sizes : sequence of int
        Widths of the fully connected layers after the convolutions.
    activation : str
        A key of ``ACTIVATIONS``.
    """

    def __init__(self, image_shape, n_components, channels, hidden_layer_sizes, activation):
        super().__init__()
        self.image_shape = _as_chw(image_shape)
        layers = []
        c_in = self.image_shape[0]
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), ACTIVATIONS[activation]()]
            c_in = c_out
        self.conv = nn.Sequential(*layers)
        geometry = conv_geometry(self.image_shape, len(channels))
        # Output positions of each convolution, for multiply_adds.
        self._conv_positions = [a * b for a, b in geometry[1:]]
        h, w = geometry[-1]
        sizes = [c_in * h * w, *hidden_layer_sizes]
        self.body = _mlp(sizes, activation, final_activation=True)
        self.head = Linear(sizes[-1], 2 * n_components)

    @property
    def multiply_adds(self):
        """Multiply-adds of one row's forward pass, convolutions included."""
        return _multiply_adds(self)

    def forward(self, x):
        lead = x.shape[:-1]
        h = self.conv(x.reshape(-1, *self.image_shape)).flatten(1)
        mean, log_var = full_precision(self.head(self.body(h))).chunk(2, dim=-1)
        return mean.reshape(*lead, -1), log_var.reshape(*lead, -1)


class ConvDecoder(nn.Module):
    """Transposed-convolution decoder ``z -> likelihood parameters``.

    The mirror image of :class:`ConvEncoder`: fully connected layers up to
    the smallest feature map, then 3x3 transposed convolutions with stride 2
    whose output padding restores each stage's exact size, so the output
    always has the input's height and width (odd sizes included, nothing is
    cropped). The last convolution emits ``n_outputs / (height * width)``
    channels; flattened in C order they are the likelihood's raw outputs
    (for one output per feature, exactly the input's layout).

    Parameters
    ----------
    n_components : int
        Dimension of the latent space.
    image_shape : tuple of int
        ``(height, width)`` or ``(channels, height, width)``.
    n_outputs : int
        Number of raw outputs the likelihood needs; a multiple of
        ``height * width``.
    channels : sequence of int
        The encoder's channels (input side first); used in reverse.
    hidden_layer_sizes : sequence of int
        The encoder's fully connected widths; used in reverse.
    activation : str
        A key of ``ACTIVATIONS``.
    """

    def __init__(
        self, n_components, image_shape, n_outputs, channels, hidden_layer_sizes, activation
    ):
        super().__init__()
        _, height, width = _as_chw(image_shape)
        if n_outputs % (height * width):
            raise ValueError(
                f"n_outputs={n_outputs} is not a multiple of the image area "
                f"{height}x{width}; a convolutional decoder emits whole feature maps."
            )
        out_channels = n_outputs // (height * width)
        channels = list(channels)
        sizes = conv_geometry((height, width), len(channels))
        c_last = channels[-1] if channels else out_channels
        h, w = sizes[-1]
        self.start_shape = (c_last, h, w)
        dense = [n_components, *list(hidden_layer_sizes)[::-1], c_last * h * w]
        # Without convolutions the dense layers produce the outputs directly.
        self.body = _mlp(dense, activation, final_activation=bool(channels))
        layers = []
        # Input positions of each transposed convolution (each multiplies
        # its whole kernel), for multiply_adds.
        self._conv_positions = []
        targets = [out_channels, *channels[:-1]]
        for i in reversed(range(len(channels))):
            (h_out, w_out), (h_in, w_in) = sizes[i], sizes[i + 1]
            padding = (h_out - (2 * h_in - 1), w_out - (2 * w_in - 1))
            self._conv_positions.append(h_in * w_in)
            layers.append(
                nn.ConvTranspose2d(
                    channels[i], targets[i], 3, stride=2, padding=1, output_padding=padding
                )
            )
            if i > 0:
                layers.append(ACTIVATIONS[activation]())
        self.conv = nn.Sequential(*layers)
        widest = max([c * a * b for c, (a, b) in zip(channels, sizes[1:])] + [n_outputs])
        self.chunk_size = max(1, _MAX_CHUNK_ACTIVATIONS // widest)

    @property
    def multiply_adds(self):
        """Multiply-adds of one row's forward pass, convolutions included."""
        return _multiply_adds(self)

    def _decode(self, z):
        return self.conv(self.body(z).reshape(-1, *self.start_shape)).flatten(1)

    def forward(self, z):
        lead = z.shape[:-1]
        z = z.reshape(-1, z.shape[-1])
        if z.shape[0] <= self.chunk_size:
            out = self._decode(z)
        else:
            out = torch.cat([self._decode(part) for part in z.split(self.chunk_size)])
        return full_precision(out).reshape(*lead, -1)


def make_networks(
    network,
    *,
    n_features,
    n_components,
    n_outputs,
    hidden_layer_sizes,
    activation,
    image_shape=None,
    conv_channels=None,
):
    """Build a matching ``(encoder, decoder)`` pair.

    The decoder mirrors the encoder: its hidden widths are the encoder's in
    reverse order. ``"conv"`` needs ``image_shape`` (whose product is
    ``n_features``) and ``conv_channels``, the channels of the encoder's
    convolutions; ``hidden_layer_sizes`` are then the fully connected layers
    between the convolutions and the latent code.
    """
    hidden = [int(h) for h in hidden_layer_sizes]
    if network == "dense":
        encoder = DenseEncoder(n_features, n_components, hidden, activation)
        decoder = DenseDecoder(n_components, n_outputs, hidden[::-1], activation)
        return encoder, decoder
    if network == "conv":
        shape = _as_chw(image_shape)
        if math.prod(shape) != n_features:
            raise ValueError(
                f"image_shape={tuple(image_shape)} holds {math.prod(shape)} values, "
                f"but there are n_features={n_features}."
            )
        channels = [int(c) for c in conv_channels]
        encoder = ConvEncoder(shape, n_components, channels, hidden, activation)
        decoder = ConvDecoder(n_components, shape, n_outputs, channels, hidden, activation)
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

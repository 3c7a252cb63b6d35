import math

import pytest
import torch

from skvae.nn import networks
from skvae.nn.networks import (
    ConvDecoder,
    ConvEncoder,
    DenseDecoder,
    DenseEncoder,
    conv_geometry,
    init_parameters,
    make_networks,
)


def conv_pair(image_shape, channels=(4, 8), hidden=(16,), n_components=3, n_outputs=None):
    n_features = math.prod(image_shape)
    return make_networks(
        "conv",
        n_features=n_features,
        n_components=n_components,
        n_outputs=n_features if n_outputs is None else n_outputs,
        hidden_layer_sizes=hidden,
        activation="relu",
        image_shape=image_shape,
        conv_channels=channels,
    )


def test_dense_pair_shapes():
    encoder, decoder = make_networks(
        "dense", n_features=6, n_components=2, n_outputs=6, hidden_layer_sizes=[8, 4],
        activation="relu",
    )
    assert isinstance(encoder, DenseEncoder) and isinstance(decoder, DenseDecoder)
    mean, log_var = encoder(torch.randn(5, 6))
    assert mean.shape == log_var.shape == (5, 2)
    assert decoder(torch.randn(7, 5, 2)).shape == (7, 5, 6)


@pytest.mark.parametrize(
    "image_shape",
    [(8, 8), (28, 28), (7, 9), (3, 8, 8), (2, 5, 11), (1, 1), (1, 13), (3, 1, 1)],
)
@pytest.mark.parametrize("channels", [(4,), (4, 8), (2, 4, 8)])
def test_conv_shapes_for_any_image_size(image_shape, channels):
    encoder, decoder = conv_pair(image_shape, channels)
    assert isinstance(encoder, ConvEncoder) and isinstance(decoder, ConvDecoder)
    n_features = math.prod(image_shape)
    mean, log_var = encoder(torch.rand(5, n_features))
    assert mean.shape == log_var.shape == (5, 3)
    # Any leading dimensions (importance samples), output as wide as the input.
    assert decoder(torch.randn(5, 3)).shape == (5, n_features)
    assert decoder(torch.randn(4, 5, 3)).shape == (4, 5, n_features)
    assert decoder(torch.randn(2, 1, 5, 3)).shape == (2, 1, 5, n_features)


def test_conv_geometry_rounds_up_and_decoder_restores_odd_sizes():
    assert conv_geometry((28, 28), 3) == [(28, 28), (14, 14), (7, 7), (4, 4)]
    assert conv_geometry((1, 7, 9), 2) == [(7, 9), (4, 5), (2, 3)]
    _, decoder = conv_pair((7, 9), (4, 8))
    feature_maps = decoder.conv(torch.randn(2, *decoder.start_shape))
    assert feature_maps.shape == (2, 1, 7, 9)


def test_conv_output_layout_is_the_input_layout():
    # With no hidden layer and one stage, the decoder's output pixel (i, j)
    # only depends on the feature map near (i/2, j/2): a single nonzero
    # feature at the top-left corner lights up the top-left of the image,
    # in the input's row-major layout.
    _, decoder = conv_pair((6, 10), channels=(1,), hidden=())
    with torch.no_grad():
        decoder.conv[0].weight.fill_(1.0)
        decoder.conv[0].bias.zero_()
        feature_map = torch.zeros(1, 1, 3, 5)
        feature_map[0, 0, 0, 0] = 1.0
        image = decoder.conv(feature_map).reshape(6, 10)
    assert image[:2, :2].abs().sum() > 0
    assert image[2:].abs().sum() == 0 and image[:, 2:].abs().sum() == 0


def test_several_outputs_per_pixel_come_as_whole_maps():
    _, decoder = conv_pair((2, 5, 7), n_outputs=2 * 70)
    assert decoder(torch.randn(3, 3)).shape == (3, 140)
    with pytest.raises(ValueError, match="not a multiple of the image area 5x7"):
        conv_pair((5, 7), n_outputs=36)


def test_image_shape_must_match_n_features():
    with pytest.raises(ValueError, match=r"image_shape=\(8, 7\) holds 56 values.*n_features=64"):
        make_networks(
            "conv", n_features=64, n_components=2, n_outputs=64, hidden_layer_sizes=[],
            activation="relu", image_shape=(8, 7), conv_channels=[4],
        )


def test_unknown_network_kind():
    with pytest.raises(ValueError, match="Unknown network kind 'rnn'"):
        make_networks(
            "rnn", n_features=4, n_components=2, n_outputs=4, hidden_layer_sizes=[],
            activation="relu",
        )


def test_chunked_decoding_matches_one_pass():
    _, decoder = conv_pair((9, 9))
    z = torch.randn(6, 5, 3)
    whole = decoder(z)
    decoder.chunk_size = 4
    torch.testing.assert_close(decoder(z), whole)


def test_conv_codes_do_not_depend_on_the_rest_of_the_batch():
    encoder, _ = conv_pair((3, 8, 8))
    x = torch.rand(6, 192, dtype=torch.float64)
    encoder = encoder.double()
    mean, _ = encoder(x)
    torch.testing.assert_close(encoder(x[2:3])[0], mean[2:3])


def test_init_parameters_is_reproducible_for_conv_layers():
    a, _ = conv_pair((8, 8))
    b, _ = conv_pair((8, 8))
    init_parameters(a, torch.Generator().manual_seed(3))
    init_parameters(b, torch.Generator().manual_seed(3))
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    # Bias bounds follow the conv fan-in (in_channels * kernel area).
    conv = a.conv[0]
    assert conv.bias.abs().max() <= 1 / math.sqrt(1 * 9)


def test_conv_trains_through_the_vae():
    from skvae.nn import VAE

    config = {
        "network": "conv", "n_features": 49, "n_components": 2, "likelihood": "bernoulli",
        "hidden_layer_sizes": [16], "activation": "relu", "image_shape": [1, 7, 7],
        "conv_channels": [4],
    }
    model = VAE.from_config(config, generator=torch.Generator().manual_seed(0))
    x = (torch.rand(32, 49, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    loss = model.training_loss(x, generator=torch.Generator().manual_seed(2)).mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    bound = model.log_likelihood_bound(x, torch.randn(10, 1, 2))
    assert bound.shape == (32,) and torch.isfinite(bound).all()


@pytest.mark.parametrize("network", ["dense", "conv"])
def test_outputs_are_full_precision_under_autocast_and_keep_float64(network):
    """Under bfloat16 autocast the networks hand float32 to the likelihood
    and the KL term; in float64 (inference) they stay float64."""
    if network == "dense":
        encoder, decoder = make_networks(
            "dense", n_features=16, n_components=2, n_outputs=16, hidden_layer_sizes=[8],
            activation="relu",
        )
    else:
        encoder, decoder = conv_pair((4, 4), n_components=2)
    x = torch.rand(5, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inner = decoder.net[0] if network == "dense" else decoder.body[0]
        assert inner(torch.zeros(5, 2)).dtype == torch.bfloat16  # the products
        mean, log_var = encoder(x)
        out = decoder(mean)
    assert mean.dtype == log_var.dtype == out.dtype == torch.float32
    encoder, decoder = encoder.double(), decoder.double()
    mean, log_var = encoder(x.double())
    assert mean.dtype == log_var.dtype == decoder(mean).dtype == torch.float64


def spy_on_linear(monkeypatch):
    """The weight shapes torch's F.linear receives (the padded ones)."""
    shapes = []
    linear = torch.nn.functional.linear
    monkeypatch.setattr(
        torch.nn.functional, "linear",
        lambda x, weight, bias=None: shapes.append(tuple(weight.shape)) or linear(x, weight, bias),
    )
    return shapes


@pytest.mark.parametrize(
    "lead, n_in, n_out, bias, padded",
    [
        ((1280,), 256, 9, True, (16, 256)),
        ((20, 64), 8, 256, True, (256, 16)),
        ((300,), 12, 5, False, (16, 16)),
    ],
)
def test_linear_padded_products_match_torch_linear(monkeypatch, lead, n_in, n_out, bias, padded):
    """skvae's Linear computes what torch.nn.Linear does, values and
    gradients, with its narrow products padded with zeros, on 2-d and 3-d
    inputs, with and without a bias."""
    generator = torch.Generator().manual_seed(0)
    layer = networks.Linear(n_in, n_out, bias=bias)
    reference = torch.nn.Linear(n_in, n_out, bias=bias)
    init_parameters(layer, generator)
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(*lead, n_in, generator=generator)
    grad = torch.randn(*lead, n_out, generator=generator)
    outputs, grads = [], []
    shapes = spy_on_linear(monkeypatch)
    for module in (layer, reference):
        x_ = x.clone().requires_grad_()
        out = module(x_)
        out.backward(grad)
        outputs.append(out)
        grads.append([x_.grad, *(p.grad for p in module.parameters())])
    assert shapes == [padded, (n_out, n_in)]
    assert outputs[0].shape == (*lead, n_out) and outputs[0].is_contiguous()
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-5, atol=1e-5)
    for mine, theirs in zip(*grads):
        assert mine.shape == theirs.shape
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-4)


def test_linear_is_torch_linear_elsewhere(monkeypatch):
    """Where padding gains nothing (wide or short products, float64,
    autocast, a narrow input without gradients) the layer is torch.nn.Linear's forward, and it is always a
    torch.nn.Linear with the same state dict keys."""
    layer = networks.Linear(256, 9)
    assert isinstance(layer, torch.nn.Linear)
    assert list(layer.state_dict()) == ["weight", "bias"]
    shapes = spy_on_linear(monkeypatch)
    layer.double()(torch.randn(1280, 256, dtype=torch.float64))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        layer.float()(torch.randn(1280, 256))
    layer(torch.randn(255, 256))  # too short
    networks.Linear(16, 16)(torch.randn(1280, 16))  # wide enough
    with torch.no_grad():  # a narrow input costs nothing without gradients
        networks.Linear(8, 256)(torch.randn(1280, 8))
    assert shapes == [(9, 256), (9, 256), (9, 256), (16, 16), (256, 8)]


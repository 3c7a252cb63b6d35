"""Bounds on the sizes a user can ask for, checked before anything is
allocated.

A network is counted on torch's "meta" device, which records shapes and
allocates nothing, so that ``hidden_layer_sizes=(10**9,)`` or
``n_components=10**9`` fails with a ValueError that names the parameters
instead of a raw allocation error (or the machine's memory) part-way
through a fit. The bounds are generous: far beyond any network this
package is meant for, below what takes a machine down.
"""

import functools
import json

import torch
from torch import nn

from .nn import model_from_config

#: Most parameters a network may have: 2**30 (1.07e9) are 4 GiB of float32
#: weights, and training holds four times that (weights, gradients and
#: Adam's two moments) besides a float64 copy for inference.
MAX_PARAMETERS = 2**30
#: Most layer outputs a training step may keep for its backward pass:
#: 2**30 values are 4 GiB in float32 (and as much again for gradients).
MAX_TRAINING_VALUES = 2**30
#: Most values one layer may output for a batch at inference (float64,
#: freed layer by layer): 2**32 values are 32 GiB.
MAX_INFERENCE_VALUES = 2**32
#: Rows per batch at inference: a copy of skvae._base.INFERENCE_BATCH_SIZE,
#: not imported, so that _base can import this module.
_INFERENCE_ROWS = 4096

_ADVICE = "use smaller hidden_layer_sizes, n_components, conv_channels or batch_size"


def network_size(config):
    """Sizes of the network that ``config`` describes, built on the meta
    device: ``(n_parameters, encoder_values, decoder_values, widest,
    decodes_per_row)``, where ``encoder_values`` and ``decoder_values``
    are the values their layers output for one row (one latent draw) and
    ``widest`` the largest single layer output for one row.

    Remembered per config (a few milliseconds each time otherwise, paid by
    every ``score`` through :func:`check_importance_samples`)."""
    return _network_size(json.dumps(config, sort_keys=True))


@functools.lru_cache(maxsize=64)
def _network_size(config_json):
    config = json.loads(config_json)
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        module = model_from_config(config)
        n_parameters = sum(p.numel() for p in module.parameters())
        encoder = module.body if hasattr(module, "body") else module.encoder
        decoder = module.decoder
        n_latent = next(m for m in decoder.modules() if isinstance(m, nn.Linear)).in_features
        sizes = {}
        for name, part, width in (
            ("encoder", encoder, module.likelihood.n_inputs),
            ("decoder", decoder, n_latent),
        ):
            outputs = []
            hooks = [
                m.register_forward_hook(lambda m, i, out: outputs.append(out.numel()))
                for m in part.modules()
                if next(m.children(), None) is None
            ]
            try:
                part(torch.empty(1, width))
            finally:
                for hook in hooks:
                    hook.remove()
            sizes[name] = outputs
    widest = max(sizes["encoder"] + sizes["decoder"] + [width])
    return (
        n_parameters,
        sum(sizes["encoder"]),
        sum(sizes["decoder"]),
        widest,
        int(module.decodes_per_row),
    )


def check_network_size(config, batch_rows):
    """Raise ValueError when the network of ``config`` has more than
    ``MAX_PARAMETERS`` parameters, its training steps of ``batch_rows``
    rows more than ``MAX_TRAINING_VALUES`` layer outputs, or a layer more
    than ``MAX_INFERENCE_VALUES`` values for a batch at inference. Returns
    the number of parameters."""
    n_parameters, encoder, decoder, widest, decodes = network_size(config)
    if n_parameters > MAX_PARAMETERS:
        raise ValueError(
            f"The network would have {n_parameters:,} parameters "
            f"({4 * n_parameters / 2**30:,.1f} GiB in float32), more than the "
            f"{MAX_PARAMETERS:,} allowed; {_ADVICE}."
        )
    step = batch_rows * (encoder + decodes * decoder)
    if step > MAX_TRAINING_VALUES:
        raise ValueError(
            f"A training step of {batch_rows} rows would hold {step:,} layer "
            f"outputs ({4 * step / 2**30:,.1f} GiB in float32), more than the "
            f"{MAX_TRAINING_VALUES:,} allowed; {_ADVICE}."
        )
    if widest * _INFERENCE_ROWS > MAX_INFERENCE_VALUES:
        raise ValueError(
            f"A layer of the network outputs {widest:,} values per row, more "
            f"than the {MAX_INFERENCE_VALUES // _INFERENCE_ROWS:,} allowed (inference "
            f"runs {_INFERENCE_ROWS} rows at a time); {_ADVICE}."
        )
    return n_parameters


def check_importance_samples(n_importance_samples, config):
    """Raise ValueError when ``n_importance_samples`` latent draws of one
    row would hold more than ``MAX_INFERENCE_VALUES`` values in a layer of
    the network of ``config`` (inference decodes every draw of a row at
    once)."""
    widest = network_size(config)[3]
    if int(n_importance_samples) * widest > MAX_INFERENCE_VALUES:
        raise ValueError(
            f"n_importance_samples={n_importance_samples} is too many: the draws "
            f"of one row would hold {int(n_importance_samples) * widest:,} values "
            f"in a layer of {widest:,} outputs, more than the "
            f"{MAX_INFERENCE_VALUES:,} allowed; use at most "
            f"{MAX_INFERENCE_VALUES // widest:,} draws."
        )

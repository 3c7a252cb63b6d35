"""Pure PyTorch core of skvae: networks, likelihoods, the VAE module, training.

Nothing in this sub-package imports scikit-learn; the estimators in
:mod:`skvae` translate between numpy/pandas and the tensors used here.
"""

from .likelihoods import (
    Bernoulli,
    ContinuousBernoulli,
    Gaussian,
    Likelihood,
    make_likelihood,
)
from .m2 import M2
from .model import VAE
from .networks import ConvDecoder, ConvEncoder, DenseDecoder, DenseEncoder, make_networks
from .posteriors import DiagonalGaussian, FlowPosterior, IAFFlows, PlanarFlows
from .train import Trainer

#: Model classes by the ``"model"`` key of a config dict (default "vae").
MODELS = {"vae": VAE, "m2": M2}


def model_from_config(config, generator=None):
    """Build the model a config dict describes (see ``VAE.from_config``)."""
    return MODELS[config.get("model", "vae")].from_config(config, generator=generator)


__all__ = [
    "M2",
    "VAE",
    "Bernoulli",
    "ContinuousBernoulli",
    "ConvDecoder",
    "ConvEncoder",
    "DenseDecoder",
    "DenseEncoder",
    "DiagonalGaussian",
    "FlowPosterior",
    "Gaussian",
    "IAFFlows",
    "Likelihood",
    "PlanarFlows",
    "Trainer",
    "make_likelihood",
    "make_networks",
    "model_from_config",
]

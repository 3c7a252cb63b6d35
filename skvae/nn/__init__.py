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
from .model import VAE
from .networks import DenseDecoder, DenseEncoder, make_networks
from .train import Trainer

__all__ = [
    "VAE",
    "Bernoulli",
    "ContinuousBernoulli",
    "DenseDecoder",
    "DenseEncoder",
    "Gaussian",
    "Likelihood",
    "Trainer",
    "make_likelihood",
    "make_networks",
]

"""skvae: variational autoencoders as scikit-learn estimators."""

from .impute import VAEImputer
from .transformer import VAETransformer

__version__ = "0.1.0"

__all__ = ["VAEImputer", "VAETransformer", "__version__"]

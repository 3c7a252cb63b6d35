"""skvae: variational autoencoders as scikit-learn estimators."""

from .transformer import VAETransformer

__version__ = "0.1.0"

__all__ = ["VAETransformer", "__version__"]

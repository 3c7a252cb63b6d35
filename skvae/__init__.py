"""skvae: variational autoencoders as scikit-learn estimators."""

from .impute import VAEImputer
from .semi_supervised import VAEClassifier
from .streaming import fit_streaming
from .transformer import VAETransformer

__version__ = "0.1.0"

__all__ = ["VAEClassifier", "VAEImputer", "VAETransformer", "__version__", "fit_streaming"]

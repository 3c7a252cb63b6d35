"""
Convolutional networks for images
=================================

scikit-learn keeps images as flattened rows, and so does skvae: with
``network="conv"`` and ``image_shape``, :class:`~skvae.VAETransformer`
reshapes each row into an image for a convolutional encoder and a
transposed-convolution decoder, and gives back rows of the same shape.
This example fits the same VAE with a dense and with a convolutional
network to scikit-learn's 8 x 8 digits and compares their reconstructions
and fit times, with PCA as the baseline.
"""

# %%
# The data
# --------
# 1,797 digits of 8 x 8 pixels with intensities 0-16, scaled to [0, 1];
# a quarter is kept aside for testing, the same quarter for every model.

# sphinx_gallery_start_ignore
import os
import warnings

from sklearn.exceptions import ConvergenceWarning

FAST = bool(os.environ.get("SKVAE_EXAMPLES_FAST"))  # the test suite's quick run
if FAST:
    warnings.simplefilter("ignore", ConvergenceWarning)
# sphinx_gallery_end_ignore
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skvae import VAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16
# sphinx_gallery_start_ignore
if FAST:
    X, y = X[:300], y[:300]
# sphinx_gallery_end_ignore
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

# %%
# Three models with ten components
# --------------------------------
# The convolutional VAE needs only ``network="conv"`` and the shape of one
# image; its defaults pick one stride-2 stage of 16 channels for 8 x 8
# images (``conv_channels``) and a dense layer of 256 units behind it
# (``hidden_layer_sizes``). Everything else, the likelihood included
# (a Gaussian for graded intensities), is the same as the dense VAE's.

n_components = 10
models = {
    "PCA": PCA(n_components, random_state=0),
    "dense VAE": VAETransformer(n_components, random_state=0),
    "conv VAE": VAETransformer(
        n_components, network="conv", image_shape=(8, 8), random_state=0
    ),
}
# sphinx_gallery_start_ignore
if FAST:
    for name in ["dense VAE", "conv VAE"]:
        models[name].set_params(max_iter=3)
# sphinx_gallery_end_ignore

reconstructions = {}
for name, model in models.items():
    start = time.perf_counter()
    model.fit(X_train)
    seconds = time.perf_counter() - start
    reconstructions[name] = model.inverse_transform(model.transform(X_test))
    mse = np.mean((reconstructions[name] - X_test) ** 2)
    epochs = f", {model.n_iter_} epochs" if hasattr(model, "n_iter_") else ""
    print(f"{name:>9}: test MSE {mse:.4f}, fit {seconds:.1f} s{epochs}")

# %%
# The mean squared error is over all test pixels, in [0, 1] units. Fit
# times were measured on the machine that built this page; a convolution
# costs more per epoch than a dense layer of the same reach. A
# ``ConvergenceWarning`` above means a fit used all ``max_iter=200``
# epochs while its validation rows were still improving a little.
#
# Reconstructions
# ---------------
# The first twelve test digits and what each model makes of them.

n_show = 12
fig, axes = plt.subplots(4, n_show, figsize=(n_show * 0.9, 4.2))
for row, (label, images) in enumerate([("test", X_test), *reconstructions.items()]):
    for col in range(n_show):
        ax = axes[row, col]
        ax.imshow(images[col].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center")
fig.suptitle(f"Test digits and their reconstructions from {n_components} components")

# %%
# Samples
# -------
# Both VAEs are generative models: ``sample`` draws codes from the prior
# and decodes them; ``noise=False`` returns the decoder's mean image
# rather than adding the Gaussian pixel noise the model has learned.

fig, axes = plt.subplots(2, n_show, figsize=(n_show * 0.9, 2.2))
for row, name in enumerate(["dense VAE", "conv VAE"]):
    samples = models[name].sample(n_show, random_state=0, noise=False)
    for col in range(n_show):
        ax = axes[row, col]
        ax.imshow(np.clip(samples[col], 0, 1).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center")
fig.suptitle("Generated digits")

# %%
# Larger images
# -------------
# The same two parameters serve MNIST's 28 x 28 digits
# (``image_shape=(28, 28)``, two stages of 16 and 32 channels by default)
# or colour images (``image_shape=(3, height, width)``). The bigger the
# image, the more the convolutions' shared weights help; the network is
# also a parameter like any other, so ``GridSearchCV`` can choose between
# ``"dense"`` and ``"conv"`` by held-out score.

plt.show()

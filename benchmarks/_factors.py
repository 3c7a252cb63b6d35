"""Data sets with known, independent factors of variation, generated in
code (nothing downloaded): for the disentanglement benchmark."""

import numpy as np

SHAPES = ("square", "ellipse", "triangle")
FACTOR_NAMES = ("shape", "scale", "rotation", "x", "y")


def _inside(shape, u, v):
    """Whether the points (u, v) of the shape's own frame (unit size) lie
    inside it."""
    if shape == 0:  # square, half-width 1
        return np.maximum(np.abs(u), np.abs(v)) <= 1.0
    if shape == 1:  # ellipse, semi-axes 1.2 and 0.6
        return (u / 1.2) ** 2 + (v / 0.6) ** 2 <= 1.0
    # equilateral triangle, circumradius 1.3, one vertex up
    r = 1.3
    inside = v >= -r / 2
    for angle in (np.pi / 6, 5 * np.pi / 6):
        # edges through the top vertex (0, r)
        nx, ny = np.cos(angle), np.sin(angle)
        inside &= (u * nx + (v - r) * ny) <= 0
    return inside


def make_shapes(n_samples=4000, size=32, *, supersample=4, random_state=0):
    """Images of simple shapes with five independent factors, drawn
    uniformly: shape (square, ellipse, triangle), scale (half-size 3 to
    7 pixels), rotation (0 to 60 degrees, under every shape's symmetry, so
    that each angle is a different image), x and y of the centre (8 to
    24 of 32 pixels). Anti-aliased by averaging ``supersample`` x
    ``supersample`` points per pixel; pixels in [0, 1].

    Returns X of shape (n_samples, size * size) and the factors, shape
    (n_samples, 5), in the order of ``FACTOR_NAMES``."""
    rng = np.random.default_rng(random_state)
    shape = rng.integers(0, len(SHAPES), n_samples)
    scale = rng.uniform(3.0, 7.0, n_samples)
    rotation = rng.uniform(0.0, np.pi / 3, n_samples)
    low, high = 8.0, size - 8.0
    x, y = rng.uniform(low, high, n_samples), rng.uniform(low, high, n_samples)
    fine = (np.arange(size * supersample) + 0.5) / supersample
    px, py = np.meshgrid(fine, fine)  # px: column (x), py: row (y, downwards)
    images = np.empty((n_samples, size, size))
    for i in range(n_samples):
        dx, dy = px - x[i], y[i] - py  # y up in the shape's frame
        c, s = np.cos(rotation[i]), np.sin(rotation[i])
        u, v = (c * dx + s * dy) / scale[i], (-s * dx + c * dy) / scale[i]
        mask = _inside(shape[i], u, v).astype(np.float64)
        images[i] = mask.reshape(size, supersample, size, supersample).mean(axis=(1, 3))
    factors = np.column_stack([shape, scale, rotation, x, y])
    return images.reshape(n_samples, -1), factors


def make_mixed_sources(n_samples=4000, n_sources=4, n_features=12, *, noise=0.05,
                       random_state=0):
    """A table of ``n_features`` columns made from ``n_sources`` independent
    sources, uniform on [-1, 1], by a random two-layer network with tanh
    units (nonlinear, so that no linear unmixing recovers them exactly),
    plus Gaussian noise of ``noise`` times each column's spread. Returns X
    and the sources, shape (n_samples, n_sources)."""
    rng = np.random.default_rng(random_state)
    sources = rng.uniform(-1.0, 1.0, (n_samples, n_sources))
    hidden = np.tanh(sources @ rng.normal(0, 1.5, (n_sources, 2 * n_features))
                     + rng.normal(0, 0.5, 2 * n_features))
    X = hidden @ rng.normal(0, 1, (2 * n_features, n_features)) + sources @ rng.normal(
        0, 1, (n_sources, n_features))
    X += noise * X.std(axis=0) * rng.standard_normal(X.shape)
    return X, sources

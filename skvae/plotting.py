"""Plots of a fitted :class:`~skvae.VAETransformer`'s latent space.

- :func:`plot_latent_traversal`: what each latent component does to one
  row, decoded along a line of values of that component with the others
  kept (images as a grid, tables as lines per feature).

matplotlib is an optional dependency (``pip install matplotlib``, or
skvae's ``plot`` extra); it is imported when a plot is made. The
functions draw on :class:`matplotlib.figure.Figure` objects, never
through pyplot's global state, so they work without a display.
"""

import math
from numbers import Integral

import numpy as np
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import _num_samples, check_is_fitted

from ._base import image_shape_values

# Values of a component drawn by default: the standard normal prior's
# central 99% or so, in 7 steps.
_DEFAULT_VALUES = np.linspace(-2.5, 2.5, 7)

# A tabular plot has a legend when it draws at most this many features.
_MAX_LEGEND_ENTRIES = 10

# Columns of subplots in a tabular plot.
_TABLE_COLUMNS = 3


def _import_figure():
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "plot_latent_traversal needs matplotlib, an optional dependency of skvae: "
            "pip install matplotlib"
        ) from error
    return Figure


def _check_estimator(estimator):
    """The fitted estimator's ``component_kl_`` as a float array."""
    missing = [
        name for name in ("transform", "inverse_transform")
        if not callable(getattr(estimator, name, None))
    ]
    if missing:
        raise TypeError(
            "plot_latent_traversal encodes a row and decodes changed codes: it needs "
            f"an estimator with transform and inverse_transform, such as a fitted "
            f"skvae.VAETransformer; {type(estimator).__name__} has no "
            f"{' or '.join(missing)}."
        )
    check_is_fitted(estimator)
    kl = getattr(estimator, "component_kl_", None)
    if kl is None:
        raise TypeError(
            "plot_latent_traversal orders the latent components by component_kl_, "
            f"which {type(estimator).__name__} does not have: pass a fitted "
            "skvae.VAETransformer (from a Pipeline, its last step, with X passed "
            "through the steps before it)."
        )
    kl = np.asarray(kl, dtype=np.float64)
    if kl.ndim != 1 or kl.size == 0:
        raise ValueError(
            f"component_kl_ must hold one value per latent component; got shape {kl.shape}."
        )
    return kl


def _check_row(row, n_samples):
    if isinstance(row, bool) or not isinstance(row, Integral):
        raise TypeError(f"row must be an int (a position in X), got {row!r}.")
    if not -n_samples <= row < n_samples:
        raise ValueError(
            f"row={row} is out of range: X has {n_samples} row{'s' * (n_samples != 1)} "
            f"(positions 0 to {n_samples - 1}, or negative from the end)."
        )
    return int(row) % n_samples


def _check_components(components, kl):
    """Indices of the components to draw, in drawing order."""
    n_components = kl.size
    by_kl = np.argsort(-kl, kind="stable")
    if components is None:
        return by_kl.tolist()
    if isinstance(components, bool):
        raise TypeError(
            f"components must be None, an int or a list of ints, got {components!r}."
        )
    if isinstance(components, Integral):
        if not 1 <= components <= n_components:
            raise ValueError(
                f"components={components} asks for the top {components} components by "
                f"component_kl_, but the model has {n_components}: pass an int from 1 "
                f"to {n_components}."
            )
        return by_kl[: int(components)].tolist()
    chosen = np.asarray(components)
    if chosen.ndim != 1 or chosen.size == 0:
        raise ValueError(
            f"components must be None, an int or a non-empty list of ints, got "
            f"{components!r}."
        )
    if not np.issubdtype(chosen.dtype, np.integer):
        raise TypeError(
            f"components must be None, an int or a list of ints, got {components!r}."
        )
    out = chosen[(chosen < 0) | (chosen >= n_components)]
    if out.size:
        raise ValueError(
            f"components {out.tolist()} are out of range: the model has {n_components} "
            f"latent components (indices 0 to {n_components - 1})."
        )
    if np.unique(chosen).size != chosen.size:
        raise ValueError(f"components holds repeated indices: {chosen.tolist()}.")
    return chosen.tolist()


def _check_values(values):
    if values is None:
        return _DEFAULT_VALUES.copy()
    try:
        values = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"values must be a 1-D array of numbers, got {values!r}.") from error
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
        raise ValueError(
            "values must be a non-empty 1-D array of finite numbers (values of a "
            f"latent component, on the scale of its standard normal prior); got {values!r}."
        )
    return values


def _check_image_shape(shape, n_features, source):
    """``shape`` as a tuple (height, width) or (channels, height, width)."""
    shape = image_shape_values(shape, source)
    if len(shape) == 3 and shape[0] not in (1, 3):
        hint = (
            f" Rows are images flattened channels first, as torch stores them: did you "
            f"mean {(shape[2], shape[0], shape[1])}?"
            if shape[2] in (1, 3)
            else ""
        )
        raise ValueError(
            f"{source}={shape} has {shape[0]} channels; plot_latent_traversal draws 1 "
            f"(gray) or 3 (RGB).{hint}"
        )
    if math.prod(shape) != n_features:
        raise ValueError(
            f"{source}={shape} holds {math.prod(shape)} values per image, but the model "
            f"has {n_features} features; their product must equal the number of features."
        )
    return shape


def _resolve_image_shape(estimator, image_shape, n_features):
    """The image shape to draw with, or None for a tabular plot."""
    if image_shape is not None:
        return _check_image_shape(image_shape, n_features, "image_shape")
    config = getattr(estimator, "_config", None) or {}
    if config.get("image_shape") is not None:  # a convolutional network's, resolved
        return _check_image_shape(config["image_shape"], n_features, "the model's image_shape")
    own = getattr(estimator, "image_shape", None)
    if own is not None:  # given to a dense network, which ignores it
        try:
            return _check_image_shape(own, n_features, "estimator.image_shape")
        except ValueError as error:
            raise ValueError(
                f"{error} Pass image_shape to plot_latent_traversal, or set the "
                "estimator's image_shape to None for a plot of its features."
            ) from None
    return None


def _feature_names(estimator, n_features):
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return [f"x{j}" for j in range(n_features)]
    return [str(name) for name in names]


def _check_features(features, estimator, names):
    """Positions of the numeric columns to draw."""
    categorical = getattr(estimator, "categorical_features_", None)
    categorical = (
        np.zeros(len(names), dtype=bool) if categorical is None else np.asarray(categorical)
    )
    if features is None:
        chosen = np.flatnonzero(~categorical).tolist()
        if not chosen:
            raise ValueError(
                "Every column of the model is categorical: a traversal plot draws "
                "numeric columns only."
            )
        return chosen
    if isinstance(features, (str, Integral)):
        features = [features]
    chosen = []
    for feature in features:
        if isinstance(feature, str):
            if not hasattr(estimator, "feature_names_in_"):
                raise ValueError(
                    f"features: {feature!r} is a name, but the model was fitted without "
                    "feature names: pass column indices."
                )
            if feature not in names:
                raise ValueError(
                    f"features: {feature!r} is not a feature of the model (its features "
                    f"are {names[:10]}{' ...' * (len(names) > 10)})."
                )
            j = names.index(feature)
        elif isinstance(feature, Integral) and not isinstance(feature, bool):
            if not 0 <= feature < len(names):
                raise ValueError(
                    f"features: index {feature} is out of range: the model has "
                    f"{len(names)} features (indices 0 to {len(names) - 1})."
                )
            j = int(feature)
        else:
            raise TypeError(
                f"features must hold column names or indices, got {feature!r}."
            )
        if categorical[j]:
            raise ValueError(
                f"features: column {names[j]!r} is categorical; a traversal plot draws "
                "numeric columns only."
            )
        chosen.append(j)
    if not chosen:
        raise ValueError("features is empty: name at least one column to draw.")
    return chosen


def _numeric_columns(decoded, columns):
    """The chosen columns of ``inverse_transform``'s output as floats."""
    if hasattr(decoded, "iloc"):
        return np.column_stack(
            [decoded.iloc[:, j].to_numpy(dtype=np.float64, na_value=np.nan) for j in columns]
        )
    return np.asarray(np.asarray(decoded)[:, columns], dtype=np.float64)


def _component_label(k, kl):
    return f"z{k} ({kl[k]:.1f} nats)"


def _value_label(value):
    return f"{value:.3g}"


def _draw_images(fig, Figure, pixels, shape, chosen, values, kl):
    n_rows, n_cols = len(chosen), len(values)
    if fig is None:
        fig = Figure(figsize=(0.2 + 1.1 * n_cols, 0.6 + 1.1 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    lo, hi = float(np.nanmin(pixels)), float(np.nanmax(pixels))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        lo = hi = 0.0
    # Pixels in [0, 1] are drawn on that scale; others on their joint range,
    # so that brightness compares across the grid.
    if 0.0 <= lo and hi <= 1.0:
        lo, hi = 0.0, 1.0
    elif hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    images = pixels.reshape(n_rows, n_cols, *shape)
    for i, k in enumerate(chosen):
        for j, value in enumerate(values):
            ax = axes[i, j]
            image = images[i, j]
            if len(shape) == 3 and shape[0] == 3:
                image = np.moveaxis(image, 0, -1)
                if (lo, hi) != (0.0, 1.0):
                    image = (image - lo) / (hi - lo)
                ax.imshow(image, interpolation="nearest")
            else:
                image = image.reshape(shape[-2:])
                ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(_value_label(value), fontsize="small")
            if j == 0:
                ax.set_ylabel(_component_label(k, kl), fontsize="small")
    return fig


def _draw_lines(fig, Figure, ys, chosen, values, kl, labels):
    n_plots = len(chosen)
    n_cols = min(n_plots, _TABLE_COLUMNS)
    n_rows = -(-n_plots // n_cols)
    if fig is None:
        fig = Figure(figsize=(4.0 * n_cols, 3.0 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharey=True).ravel()
    for ax in axes[n_plots:]:
        ax.remove()
    for i, k in enumerate(chosen):
        ax = axes[i]
        for f, label in enumerate(labels):
            ax.plot(values, ys[i, :, f], marker=".", label=label)
        ax.set_title(_component_label(k, kl), fontsize="medium")
        ax.set_xlabel(f"value of z{k}")
        if i % n_cols == 0:
            ax.set_ylabel("decoded value")
    if len(labels) <= _MAX_LEGEND_ENTRIES:
        axes[0].legend(fontsize="small")
    return fig


def plot_latent_traversal(
    estimator,
    X,
    *,
    row=0,
    components=None,
    values=None,
    image_shape=None,
    features=None,
    fig=None,
):
    """Plot a latent traversal: one row decoded as each component varies.

    The row ``X[row]`` is encoded to its code ``z = estimator.transform``;
    for each component ``k`` drawn, ``z_k`` is replaced by each of
    ``values`` (values of the standard normal prior) with the other
    components kept, and the codes are decoded with ``inverse_transform``
    (the decoder's mean). Components are drawn in decreasing order of
    ``component_kl_``, most informative first.

    Rows of images (``image_shape`` given, or set on the estimator) are
    drawn as a grid: one row of axes per component, labelled with its index
    and ``component_kl_`` (e.g. ``"z0 (12.1 nats)"``), one column per value
    (titled in the top row). Gray images share one scale: [0, 1] when every
    decoded pixel lies in it, else their joint range; RGB images are shown
    as they are when in [0, 1], else scaled jointly into it.

    Other rows are drawn as one subplot per component, with the
    component's value on the x axis and one line per numeric feature of
    the decoded row (a legend when there are at most 10). Categorical
    columns (those of ``categorical_features_``, for a model fitted on a
    table with categories) are left out: their decoded value is a level.

    Parameters
    ----------
    estimator : fitted VAETransformer
        Any fitted estimator with ``transform``, ``inverse_transform`` and
        ``component_kl_``.

    X : array-like or DataFrame of shape (n_samples, n_features)
        Rows as passed to ``transform``.

    row : int, default=0
        Position in X of the row to traverse (negative counts from the
        end).

    components : int, list of int or None, default=None
        Components to draw. None: all, by decreasing ``component_kl_``; an
        int n: the n with the largest ``component_kl_``, in that order; a
        list: those indices, in the order given.

    values : array-like of shape (n_values,) or None, default=None
        Values each component takes. None: 7 values evenly spaced from
        -2.5 to 2.5 (``np.linspace(-2.5, 2.5, 7)``). Use more for
        smoother lines in a tabular plot.

    image_shape : tuple of int or None, default=None
        Shape of one image, ``(height, width)`` or ``(channels, height,
        width)`` with 1 or 3 channels first (rows flattened in C order, as
        torch stores images); its product must equal the number of
        features. None uses the estimator's: the image shape of a
        ``network="conv"`` model, or its ``image_shape`` parameter when
        set, else draws a tabular plot.

    features : list of str or int, str, int or None, default=None
        For a tabular plot, the columns to draw, by name (when fitted with
        feature names) or position; None: every numeric column. Not for
        images.

    fig : matplotlib Figure or SubFigure, default=None
        Where to draw (its ``subplots`` makes the axes). None creates a
        :class:`matplotlib.figure.Figure` (not registered with pyplot,
        so nothing global is touched; show it in a notebook by leaving it
        as a cell's value, or save it with ``fig.savefig``).

    Returns
    -------
    fig : matplotlib Figure or SubFigure
        The figure drawn on: ``len(components) * len(values)`` image axes,
        or one axes per component for a tabular plot.

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    sklearn.exceptions.NotFittedError
        When the estimator is not fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skvae import VAETransformer
    >>> from skvae.plotting import plot_latent_traversal
    >>> X = load_digits().data / 16
    >>> vae = VAETransformer(2, max_iter=3, random_state=0).fit(X)
    >>> fig = plot_latent_traversal(vae, X, row=0, image_shape=(8, 8))
    >>> len(fig.axes)  # 2 components x 7 values
    14
    >>> fig = plot_latent_traversal(
    ...     vae, X, components=1, features=[20, 21], values=np.linspace(-3, 3, 25)
    ... )
    >>> [len(line.get_xdata()) for line in fig.axes[0].lines]
    [25, 25]
    >>> fig.savefig("traversal.png")  # doctest: +SKIP
    """
    Figure = _import_figure()
    if fig is not None and not callable(getattr(fig, "subplots", None)):
        raise TypeError(
            f"fig must be a matplotlib Figure or SubFigure, got {type(fig).__name__}."
        )
    kl = _check_estimator(estimator)
    row = _check_row(row, _num_samples(X))
    chosen = _check_components(components, kl)
    values = _check_values(values)

    z = np.asarray(estimator.transform(_safe_indexing(X, [row])), dtype=np.float64)
    if z.shape != (1, kl.size):
        raise ValueError(
            f"transform gave codes of shape {z.shape} for one row, but component_kl_ "
            f"has {kl.size} components."
        )
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is None:
        n_features = np.shape(estimator.inverse_transform(z))[1]
    shape = _resolve_image_shape(estimator, image_shape, n_features)
    if shape is not None:
        if features is not None:
            raise ValueError(
                "features selects the columns of a tabular plot; an image is drawn "
                "whole. Pass image_shape=None (with no image_shape on the estimator) "
                "to plot features."
            )
        if getattr(estimator, "categorical_features_", None) is not None:
            raise ValueError(
                "The model has categorical columns: its rows are tables, not images; "
                "leave image_shape as None."
            )
    else:
        names = _feature_names(estimator, n_features)
        columns = _check_features(features, estimator, names)

    codes = np.repeat(z, len(chosen) * values.size, axis=0)
    for i, k in enumerate(chosen):
        codes[i * values.size : (i + 1) * values.size, k] = values
    # One call: the grid of codes, component by component, value by value.
    decoded = estimator.inverse_transform(codes)
    if shape is not None:
        pixels = np.asarray(decoded, dtype=np.float64)
        return _draw_images(fig, Figure, pixels, shape, chosen, values, kl)
    ys = _numeric_columns(decoded, columns).reshape(len(chosen), values.size, len(columns))
    return _draw_lines(fig, Figure, ys, chosen, values, kl, [names[j] for j in columns])

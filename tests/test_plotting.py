"""skvae.plotting: latent traversals of a fitted VAETransformer, drawn on
matplotlib Figure objects (no pyplot, no display)."""

import sys
import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skvae import VAETransformer
from skvae.plotting import plot_latent_traversal

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

VALUES = np.linspace(-2.5, 2.5, 7)
FAST = dict(max_iter=2, random_state=0, hidden_layer_sizes=(32, 16))


def fitted(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return VAETransformer(**{**FAST, **params}).fit(X)


@pytest.fixture(scope="module")
def digits():
    return load_digits().data[:120] / 16


@pytest.fixture(scope="module")
def digit_vae(digits):
    """A dense model of 8x8 images with 3 components (no image_shape set)."""
    return fitted(digits, n_components=3)


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    t = rng.uniform(-2, 2, size=(120, 2))
    return np.column_stack([t[:, 0], t[:, 1], np.sin(t[:, 0]), t[:, 0] * t[:, 1]])


@pytest.fixture(scope="module")
def table_vae(table):
    return fitted(table, n_components=3)


def grid_codes(vae, x, components, values):
    """The codes of a traversal of the row x: each component in turn, each value."""
    z = vae.transform(x)
    codes = np.repeat(z, len(components) * len(values), axis=0)
    for i, k in enumerate(components):
        codes[i * len(values) : (i + 1) * len(values), k] = values
    return codes


def by_kl(vae):
    return list(np.argsort(-vae.component_kl_, kind="stable"))


# ----------------------------------------------------------------- images


def test_image_grid_draws_the_decoded_traversal(digit_vae, digits):
    fig = plot_latent_traversal(digit_vae, digits, row=5, image_shape=(8, 8))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3 * 7
    axes = np.array(fig.axes).reshape(3, 7)
    order = by_kl(digit_vae)
    codes = grid_codes(digit_vae, digits[5:6], order, VALUES)
    decoded = digit_vae.inverse_transform(codes).reshape(3, 7, 8, 8)
    for i, k in enumerate(order):
        assert axes[i, 0].get_ylabel() == f"z{k} ({digit_vae.component_kl_[k]:.1f} nats)"
        for j, value in enumerate(VALUES):
            ax = axes[i, j]
            assert len(ax.images) == 1
            assert not ax.get_xticks().size and not ax.get_yticks().size
            drawn = np.asarray(ax.images[0].get_array())
            # Exactly the grid decoded in one call, and (to rounding: a
            # batch's matrix products may sum in another order) each code
            # decoded alone.
            np.testing.assert_array_equal(drawn, decoded[i, j])
            alone = codes[i * 7 + j : i * 7 + j + 1]
            np.testing.assert_allclose(
                drawn, digit_vae.inverse_transform(alone).reshape(8, 8), rtol=1e-12, atol=1e-12
            )
    assert [ax.get_title() for ax in axes[0]] == [f"{v:.3g}" for v in VALUES]
    assert all(ax.get_title() == "" for ax in axes[1:].ravel())
    # One gray scale for the whole grid.
    assert {ax.images[0].get_clim() for ax in fig.axes} == {axes[0, 0].images[0].get_clim()}
    assert axes[0, 0].images[0].get_cmap().name == "gray"


def test_components_are_ordered_by_component_kl(digit_vae, digits, monkeypatch):
    monkeypatch.setattr(digit_vae, "component_kl_", np.array([0.5, 3.0, 1.25]))

    def row_labels(fig, n_values=7):
        return [ax.get_ylabel() for ax in fig.axes[::n_values]]

    fig = plot_latent_traversal(digit_vae, digits, image_shape=(8, 8))
    assert row_labels(fig) == ["z1 (3.0 nats)", "z2 (1.2 nats)", "z0 (0.5 nats)"]
    # The first row of axes varies component 1, the last component 0.
    codes = grid_codes(digit_vae, digits[:1], [1, 2, 0], VALUES)
    np.testing.assert_array_equal(
        np.array([ax.images[0].get_array() for ax in fig.axes]),
        digit_vae.inverse_transform(codes).reshape(21, 8, 8),
    )
    top2 = plot_latent_traversal(digit_vae, digits, components=2, image_shape=(8, 8))
    assert len(top2.axes) == 14
    assert row_labels(top2) == ["z1 (3.0 nats)", "z2 (1.2 nats)"]
    # A list is drawn in the order given.
    chosen = plot_latent_traversal(digit_vae, digits, components=[0, 2], image_shape=(8, 8))
    assert row_labels(chosen) == ["z0 (0.5 nats)", "z2 (1.2 nats)"]
    values = plot_latent_traversal(
        digit_vae, digits, components=[1], values=[-1, 0, 2], image_shape=(8, 8)
    )
    assert [ax.get_title() for ax in values.axes] == ["-1", "0", "2"]


def test_image_shape_from_the_estimator(digits, digit_vae, monkeypatch):
    conv = fitted(digits[:40], n_components=2, network="conv", max_iter=1)
    fig = plot_latent_traversal(conv, digits[:40], row=-1)
    assert len(fig.axes) == 14
    codes = grid_codes(conv, digits[39:40], by_kl(conv), VALUES)
    np.testing.assert_array_equal(
        fig.axes[8].images[0].get_array(), conv.inverse_transform(codes)[8].reshape(8, 8)
    )
    # A dense network ignores image_shape in training; the plot reads it.
    monkeypatch.setattr(digit_vae, "image_shape", (8, 8))
    assert len(plot_latent_traversal(digit_vae, digits).axes) == 21
    # image_shape given to the function wins (same pixels, another shape).
    wide = plot_latent_traversal(digit_vae, digits, components=1, image_shape=(1, 4, 16))
    assert wide.axes[0].images[0].get_array().shape == (4, 16)


def test_rgb_images_are_drawn_channels_last():
    rng = np.random.default_rng(0)
    X = (rng.uniform(size=(60, 3 * 4 * 5)) > 0.5).astype(float)
    vae = fitted(X, n_components=2, likelihood="bernoulli")
    fig = plot_latent_traversal(vae, X, image_shape=(3, 4, 5), values=[-1.0, 1.0])
    assert len(fig.axes) == 4
    codes = grid_codes(vae, X[:1], by_kl(vae), [-1.0, 1.0])
    decoded = vae.inverse_transform(codes)
    for cell, ax in enumerate(fig.axes):
        drawn = np.asarray(ax.images[0].get_array())
        assert drawn.shape == (4, 5, 3)
        np.testing.assert_array_equal(drawn, np.moveaxis(decoded[cell].reshape(3, 4, 5), 0, -1))


# ----------------------------------------------------------------- tables


def test_tabular_lines_are_the_decoded_features(table_vae, table):
    values = np.linspace(-2, 2, 9)
    fig = plot_latent_traversal(table_vae, table, row=3, values=values)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    order = by_kl(table_vae)
    decoded = table_vae.inverse_transform(grid_codes(table_vae, table[3:4], order, values))
    decoded = decoded.reshape(3, 9, 4)
    for i, (ax, k) in enumerate(zip(fig.axes, order)):
        assert ax.get_title() == f"z{k} ({table_vae.component_kl_[k]:.1f} nats)"
        assert ax.get_xlabel() == f"value of z{k}"
        assert [line.get_label() for line in ax.lines] == ["x0", "x1", "x2", "x3"]
        for f, line in enumerate(ax.lines):
            np.testing.assert_array_equal(line.get_xdata(), values)
            np.testing.assert_array_equal(line.get_ydata(), decoded[i, :, f])
    legend = fig.axes[0].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["x0", "x1", "x2", "x3"]
    # Some features, by position; the top component only.
    some = plot_latent_traversal(table_vae, table, row=3, components=1, features=[2, 0])
    assert len(some.axes) == 1
    lines = some.axes[0].lines
    assert [line.get_label() for line in lines] == ["x2", "x0"]
    top = table_vae.inverse_transform(grid_codes(table_vae, table[3:4], order[:1], VALUES))
    np.testing.assert_array_equal(lines[0].get_ydata(), top[:, 2])


def test_tabular_features_by_name_and_no_legend_for_many(table, digit_vae, digits):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(table, columns=["a", "b", "c", "d"])
    vae = fitted(frame, n_components=2)
    fig = plot_latent_traversal(vae, frame, features=["d", "b"])
    assert len(fig.axes) == 2
    assert [line.get_label() for line in fig.axes[1].lines] == ["d", "b"]
    assert plot_latent_traversal(vae, frame, features="c").axes[0].lines[0].get_label() == "c"
    with pytest.raises(ValueError, match="'e' is not a feature of the model"):
        plot_latent_traversal(vae, frame, features=["a", "e"])
    # 64 pixels as a table: a line each, no legend.
    many = plot_latent_traversal(digit_vae, digits, components=1)
    assert len(many.axes[0].lines) == 64
    assert many.axes[0].get_legend() is None


def test_mixed_table_plots_only_numeric_columns(mixed_table):
    vae = fitted(mixed_table, n_components=2)
    fig = plot_latent_traversal(vae, mixed_table, row=-1)
    assert len(fig.axes) == 2
    numeric = ["x", "count", "small"]
    decoded = vae.inverse_transform(
        grid_codes(vae, mixed_table.iloc[[-1]], by_kl(vae), VALUES)
    )
    for i, ax in enumerate(fig.axes):
        assert [line.get_label() for line in ax.lines] == numeric
        for line, name in zip(ax.lines, numeric):
            np.testing.assert_array_equal(
                line.get_ydata(), decoded[name].to_numpy(dtype=float)[i * 7 : (i + 1) * 7]
            )
    with pytest.raises(ValueError, match="'colour' is categorical"):
        plot_latent_traversal(vae, mixed_table, features=["x", "colour"])
    with pytest.raises(ValueError, match="categorical columns"):
        plot_latent_traversal(vae, mixed_table, image_shape=(1, 7))


def test_draws_into_a_given_figure_or_subfigure(table_vae, table):
    fig = Figure()
    left, right = fig.subfigures(1, 2)
    assert plot_latent_traversal(table_vae, table, components=2, fig=right) is right
    assert len(right.axes) == 2 and not left.axes
    assert len(fig.axes) == 2
    with pytest.raises(TypeError, match="Figure or SubFigure"):
        plot_latent_traversal(table_vae, table, fig=fig.axes[0])


# ----------------------------------------------------------------- errors


def test_estimator_errors(table):
    with pytest.raises(NotFittedError):
        plot_latent_traversal(VAETransformer(), table)
    with pytest.raises(TypeError, match="component_kl_"):
        plot_latent_traversal(PCA(2).fit(table), table)
    with pytest.raises(TypeError, match="inverse_transform"):
        plot_latent_traversal(KMeans(2, n_init=1, random_state=0).fit(table), table)


def test_argument_errors(table_vae, table):
    n = table.shape[0]
    with pytest.raises(ValueError, match=f"row={n} is out of range: X has {n} rows"):
        plot_latent_traversal(table_vae, table, row=n)
    with pytest.raises(ValueError, match="out of range"):
        plot_latent_traversal(table_vae, table, row=-n - 1)
    with pytest.raises(TypeError, match="row must be an int"):
        plot_latent_traversal(table_vae, table, row=1.0)
    for components in (0, 4):
        with pytest.raises(ValueError, match="the model has 3"):
            plot_latent_traversal(table_vae, table, components=components)
    for components in ([3], [0, -1]):
        with pytest.raises(ValueError, match=r"out of range: the model has 3 latent"):
            plot_latent_traversal(table_vae, table, components=components)
    with pytest.raises(ValueError, match="repeated"):
        plot_latent_traversal(table_vae, table, components=[1, 1])
    with pytest.raises(ValueError, match="non-empty"):
        plot_latent_traversal(table_vae, table, components=[])
    for components in (True, [0.5]):
        with pytest.raises(TypeError, match="components must be"):
            plot_latent_traversal(table_vae, table, components=components)
    for values in ([], [[0.0, 1.0]], [0.0, np.nan], ["a"]):
        with pytest.raises(ValueError, match="values must be"):
            plot_latent_traversal(table_vae, table, values=values)
    with pytest.raises(ValueError, match="index 4 is out of range"):
        plot_latent_traversal(table_vae, table, features=[4])
    with pytest.raises(ValueError, match="fitted without feature names"):
        plot_latent_traversal(table_vae, table, features=["x0"])
    with pytest.raises(TypeError, match="names or indices"):
        plot_latent_traversal(table_vae, table, features=[1.5])


def test_image_shape_errors(digit_vae, digits, monkeypatch):
    with pytest.raises(ValueError, match=r"holds 56 values .* has 64 features"):
        plot_latent_traversal(digit_vae, digits, image_shape=(7, 8))
    with pytest.raises(ValueError, match="positive ints"):
        plot_latent_traversal(digit_vae, digits, image_shape=(64,))
    with pytest.raises(ValueError, match="2 channels"):
        plot_latent_traversal(digit_vae, digits, image_shape=(2, 4, 8))
    with pytest.raises(ValueError, match=r"channels first.*did you mean \(1, 8, 8\)"):
        plot_latent_traversal(digit_vae, digits, image_shape=(8, 8, 1))
    with pytest.raises(ValueError, match="features selects the columns"):
        plot_latent_traversal(digit_vae, digits, image_shape=(8, 8), features=[0])
    monkeypatch.setattr(digit_vae, "image_shape", (4, 4))
    with pytest.raises(ValueError, match="estimator.image_shape=.*set the estimator's"):
        plot_latent_traversal(digit_vae, digits)


def test_import_error_without_matplotlib(table_vae, table, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot_latent_traversal(table_vae, table)

"""VAETransformer with network="conv": images given as flattened rows."""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from skvae import VAETransformer
from skvae._base import default_conv_channels
from skvae.nn import VAE

FAST = dict(
    network="conv", conv_channels=(4,), hidden_layer_sizes=(16,), max_iter=8, random_state=0
)


def fitted(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return VAETransformer(**{**FAST, **params}).fit(X)


@pytest.fixture(scope="module")
def digits():
    """300 of sklearn's 8x8 digits, pixels in [0, 1]."""
    from sklearn.datasets import load_digits

    return load_digits().data[:300] / 16


def smooth_images(n, shape, seed=0):
    """Blurry random images in [0, 1] with ``shape`` (C, H, W), flattened."""
    rng = np.random.RandomState(seed)
    c, h, w = shape
    ys, xs = np.mgrid[0:h, 0:w]
    centres = rng.uniform(0, 1, size=(n, c, 2)) * [h, w]
    d2 = (ys - centres[..., :1, None]) ** 2 + (xs - centres[..., 1:, None]) ** 2
    return np.exp(-d2 / 4.0).reshape(n, -1)


# ------------------------------------------------------------- behaviour


def test_digits_with_image_shape():
    from sklearn.datasets import load_digits

    X = load_digits().data / 16
    # Default conv settings for 8x8 images, a few epochs.
    vae = VAETransformer(
        4, network="conv", image_shape=(8, 8), batch_size=32, max_iter=8, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        vae.fit(X)
    Z = vae.transform(X)
    assert Z.shape == (1797, 4)
    X_hat = vae.inverse_transform(Z)
    assert X_hat.shape == X.shape
    assert vae.sample(5, random_state=0).shape == (5, 64)
    assert np.isfinite(vae.score(X[:50]))
    # Far better than predicting the mean image.
    mse = np.mean((X_hat - X) ** 2)
    assert mse < 0.75 * np.mean((X.mean(axis=0) - X) ** 2)


def test_defaults_for_square_images(digits):
    vae = fitted(digits, conv_channels=None, hidden_layer_sizes=None, max_iter=1)
    assert vae._config["image_shape"] == [1, 8, 8]
    assert vae._config["conv_channels"] == [16]
    assert vae._config["hidden_layer_sizes"] == [256]


@pytest.mark.parametrize(
    "image_shape, channels",
    [
        ((1, 28, 28), [16, 32]),
        ((1, 8, 8), [16]),
        ((1, 7, 9), [16]),
        ((1, 1, 1), [16]),
        ((3, 64, 64), [16, 32, 64, 128]),
        ((1, 224, 224), [16, 32, 64, 128, 128]),
    ],
)
def test_default_conv_channels(image_shape, channels):
    assert default_conv_channels(image_shape) == channels


@pytest.mark.parametrize("shape", [(1, 7, 9), (3, 8, 8), (2, 5, 4)])
def test_odd_sizes_and_channels_round_trip(shape):
    X = smooth_images(60, shape)
    image_shape = shape if shape[0] > 1 else shape[1:]
    vae = fitted(X, n_components=2, image_shape=image_shape, conv_channels=(4, 8))
    assert vae.inverse_transform(vae.transform(X)).shape == X.shape
    assert vae.sample(3, random_state=0).shape == (3, X.shape[1])
    assert vae.score_samples(X[:5]).shape == (5,)


def test_transform_is_deterministic_and_batch_independent(digits):
    vae = fitted(digits)
    Z = vae.transform(digits)
    np.testing.assert_array_equal(Z, vae.transform(digits))
    np.testing.assert_allclose(vae.transform(digits[7:8]), Z[7:8], rtol=1e-12)
    s = vae.score_samples(digits[:20])
    np.testing.assert_allclose(vae.score_samples(digits[5:9]), s[5:9], rtol=1e-12)
    # Refined through the convolutional decoder, row by row as well.
    refined = vae.set_params(n_refinement_steps=5).score_samples(digits[:20])
    assert refined.mean() > s.mean()
    np.testing.assert_allclose(vae.score_samples(digits[5:9]), refined[5:9], rtol=1e-12)


def test_partial_fit_and_warm_start(digits):
    vae = VAETransformer(**FAST)
    for _ in range(3):
        vae.partial_fit(digits)
    assert vae.n_iter_ == 3
    assert vae.transform(digits).shape == (300, 2)


def test_gaussian_likelihood_on_unbounded_images(digits):
    X = digits * 40 - 7
    vae = fitted(X, image_shape=(8, 8))
    assert vae.likelihood_ == "gaussian"
    X_hat = vae.inverse_transform(vae.transform(X))
    assert X_hat.shape == X.shape and np.isfinite(X_hat).all()
    assert np.isfinite(vae.score(X[:20]))


def test_dense_ignores_image_shape(digits):
    vae = fitted(digits, network="dense", image_shape=(3, 3), conv_channels=(4,))
    assert "image_shape" not in vae._config and vae.transform(digits).shape == (300, 2)


# ----------------------------------------------------------- persistence


def test_pickle_joblib_and_config_round_trip(digits):
    vae = fitted(digits, image_shape=(8, 8))
    Z = vae.transform(digits)
    buffer = io.BytesIO()
    joblib.dump(vae, buffer)
    buffer.seek(0)
    for loaded in [pickle.loads(pickle.dumps(vae)), joblib.load(buffer)]:
        np.testing.assert_array_equal(loaded.transform(digits), Z)
        np.testing.assert_array_equal(loaded.sample(4, random_state=1), vae.sample(4, random_state=1))
    # The config is plain built-ins and rebuilds the same network.
    config = pickle.loads(pickle.dumps(vae._config))
    assert all(type(v).__module__ == "builtins" for v in config.values())
    module = VAE.from_config(config)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in vae._params.items()})
    with torch.no_grad():
        z = module.encode(torch.tensor(vae._to_model_units(digits[:5]), dtype=torch.float32))[0].numpy()
    np.testing.assert_allclose(z[:, vae._order], Z[:5], rtol=1e-4, atol=1e-5)


def test_skops_round_trip(digits):
    sio = pytest.importorskip("skops.io")
    vae = fitted(digits)
    data = sio.dumps(vae)
    assert sio.get_untrusted_types(data=data) == ["skvae.transformer.VAETransformer"]
    loaded = sio.loads(data, trusted=["skvae.transformer.VAETransformer"])
    np.testing.assert_array_equal(loaded.transform(digits), vae.transform(digits))


# --------------------------------------------------------- sklearn tools


def test_grid_search_over_network_beta_and_n_components(digits):
    base = VAETransformer(**{**FAST, "max_iter": 3})
    grid = GridSearchCV(
        base, {"network": ["dense", "conv"], "beta": [0.5, 1.0], "n_components": [1, 2]}, cv=2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(digits[:120])
    scores = grid.cv_results_["mean_test_score"]
    assert len(scores) == 8 and np.isfinite(scores).all()
    # Each candidate trained the network it was given: a dense and a conv
    # model with the same other parameters score differently, and the refit
    # model is of the kind chosen.
    network = grid.cv_results_["param_network"]
    assert np.all(scores[network == "dense"] != scores[network == "conv"])
    best = grid.best_estimator_
    assert best._config["network"] == grid.best_params_["network"]
    has_conv = any(isinstance(m, torch.nn.Conv2d) for m in best._inference.modules())
    assert has_conv == (grid.best_params_["network"] == "conv")
    assert clone(best).get_params()["network"] == grid.best_params_["network"]


# ---------------------------------------------------------------- errors


def test_non_square_features_need_image_shape(digits):
    with pytest.raises(ValueError, match=r"network='conv' needs image_shape: X has 63 features"):
        VAETransformer(network="conv").fit(digits[:, :63])


@pytest.mark.parametrize(
    "image_shape, match",
    [
        ((8, 7), r"image_shape=\(8, 7\) holds 56 values per image, but X has 64 features"),
        ((2, 8, 8), r"image_shape=\(2, 8, 8\) holds 128 values per image, but X has 64"),
        ((64,), r"image_shape must be \(height, width\) or \(channels, height, width\)"),
        ((0, 8), "positive ints"),
        ((8.0, 8.0), "positive ints"),
        ((1, 2, 4, 8), "positive ints"),
    ],
)
def test_mismatched_image_shape_is_a_clear_error(digits, image_shape, match):
    with pytest.raises(ValueError, match=match):
        VAETransformer(network="conv", image_shape=image_shape).fit(digits)


@pytest.mark.parametrize("channels", [(), (4, 0), (2.5,), 0])
def test_bad_conv_channels(digits, channels):
    with pytest.raises(ValueError, match="conv_channels"):
        VAETransformer(network="conv", conv_channels=channels).fit(digits)


def test_image_shape_checked_again_at_transform_time(digits):
    vae = fitted(digits)
    with pytest.raises(ValueError, match="X has 63 features, but VAETransformer is expecting 64"):
        vae.transform(digits[:, :63])


# ------------------------------------------------------- estimator checks

# The checks feed data with 1 to 10 features; an image of shape (1, 3) fits
# the checks that use 3 features (most of them). Every other check is
# refused up front with the clear image_shape error that the user wants.
_WRONG_SHAPE = "the check's data has {} features; image_shape=(1, 3) holds 3, a clear error"
_EXPECTED_FAILED = {
    "check_estimators_overwrite_params": _WRONG_SHAPE.format(2),
    "check_estimators_fit_returns_self": _WRONG_SHAPE.format(2),
    "check_readonly_memmap_input": _WRONG_SHAPE.format(2),
    "check_n_features_in_after_fitting": _WRONG_SHAPE.format(4),
    "check_positive_only_tag_during_fit": _WRONG_SHAPE.format(4),
    "check_estimators_dtypes": _WRONG_SHAPE.format(5),
    "check_dtype_object": _WRONG_SHAPE.format(10),
    "check_fit2d_1sample": _WRONG_SHAPE.format(10),
    "check_fit2d_1feature": _WRONG_SHAPE.format(1),
    "check_fit_idempotent": _WRONG_SHAPE.format(2),
    "check_fit_check_is_fitted": _WRONG_SHAPE.format(2),
    "check_n_features_in": _WRONG_SHAPE.format(2),
}


@parametrize_with_checks(
    [VAETransformer(network="conv", image_shape=(1, 3), max_iter=20)],
    expected_failed_checks=lambda estimator: _EXPECTED_FAILED,
)
def test_sklearn_checks_with_conv(estimator, check):
    check(estimator)


# ------------------------------------------------------- training threads


def counted_multiply_adds(network, x):
    """Multiply-adds per row of one forward pass, counted from the shapes
    each layer really sees (forward hooks): a convolution does C_in x 9 of
    them per output value, a transposed one C_out x 9 per input value, a
    fully connected layer in x out."""
    counts = []

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            counts.append(output[0].numel() * module.in_channels * 9)
        elif isinstance(module, torch.nn.ConvTranspose2d):
            counts.append(inputs[0][0].numel() * module.out_channels * 9)
        elif isinstance(module, torch.nn.Linear):
            counts.append(module.in_features * module.out_features)

    handles = [m.register_forward_hook(hook) for m in network.modules()]
    try:
        network(x)
    finally:
        for handle in handles:
            handle.remove()
    return sum(counts)


@pytest.mark.parametrize(
    "image_shape, channels", [((8, 8), (16,)), ((28, 28), (16, 32)), ((3, 9, 7), (4, 8))]
)
def test_multiply_adds_count_each_kernel_at_each_position(image_shape, channels):
    from skvae.nn.networks import ConvDecoder, ConvEncoder

    n_pixels = int(np.prod(image_shape))
    encoder = ConvEncoder(image_shape, 5, channels, (32,), "relu")
    decoder = ConvDecoder(5, image_shape, n_pixels, channels, (32,), "relu")
    assert encoder.multiply_adds == counted_multiply_adds(encoder, torch.zeros(1, n_pixels))
    assert decoder.multiply_adds == counted_multiply_adds(decoder, torch.zeros(1, 5))


def test_small_conv_networks_train_on_one_thread():
    # bench threads: a small conv network, like a small dense one, loses
    # little on one thread on a quiet machine (digits 8x8: 2 threads take
    # 0.82x the time) and gains much on a busy one (3.5x); MNIST's conv
    # network, like its dense one, keeps torch's setting.
    from skvae._base import auto_batch_size, build_module, cpu_threads, multiply_adds_per_row

    cpu = torch.device("cpu")
    threads = {}
    for shape, k in [((8, 8), 10), ((28, 28), 20)]:
        X = smooth_images(40, (1, *shape))
        model = fitted(X, image_shape=shape, n_components=k, conv_channels=None,
                       hidden_layer_sizes=None, max_iter=1)
        module = build_module(model._config, seed=0)
        # The batches "auto" gives the network on thousands of images.
        rows = auto_batch_size(5000, multiply_adds_per_row(module))
        threads[shape] = cpu_threads(module, rows, cpu)
    assert threads == {(8, 8): 1, (28, 28): None}

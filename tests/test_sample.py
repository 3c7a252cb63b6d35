"""``sample``: new rows from VAEImputer's model of a (mixed) table, and
VAETransformer's draws from p(x | z)."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from conftest import skops_round_trip
from skvae import VAEImputer, VAETransformer

pd = pytest.importorskip("pandas")

FAST = dict(
    max_iter=30,
    random_state=0,
    hidden_layer_sizes=(16,),
    n_components=2,
    n_training_draws=2,
    n_importance_samples=10,
)


def fitted_imputer(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return VAEImputer(**{**FAST, **params}).fit(X)


@pytest.fixture
def mixed_frame(mixed_table):
    """The shared mixed table with an index of its own and a few holes."""
    frame = mixed_table.set_axis(pd.RangeIndex(100, 100 + len(mixed_table)))
    frame.loc[103, "x"] = np.nan
    frame.loc[104, "colour"] = np.nan
    frame.loc[105, "count"] = pd.NA
    return frame


def test_imputer_sample_round_trips_the_dtypes_of_a_mixed_frame(mixed_frame):
    imputer = fitted_imputer(mixed_frame)
    new = imputer.sample(500, random_state=1)
    assert isinstance(new, pd.DataFrame)
    assert list(new.columns) == list(mixed_frame.columns)
    assert new.dtypes.to_dict() == mixed_frame.dtypes.to_dict()
    assert new.index.equals(pd.RangeIndex(500))
    # The category keeps all its categories, unused ones included, and
    # draws only levels seen in fit.
    assert list(new["colour"].cat.categories) == ["blue", "red", "unused"]
    assert set(new["colour"]) <= {"blue", "red"}
    assert set(new["name"]) <= {"u", "v", "w"} and set(new["text"]) <= {"p", "q"}
    assert not new.isna().any().any()
    # Numbers stay within the range seen in fit; integers are integers.
    for column in ("x", "count", "small"):
        observed = mixed_frame[column].dropna()
        assert new[column].min() >= observed.min()
        assert new[column].max() <= observed.max()


def test_imputer_sample_is_reproducible_and_draws_noise(mixed_frame):
    imputer = fitted_imputer(mixed_frame)
    pd.testing.assert_frame_equal(
        imputer.sample(50, random_state=3), imputer.sample(50, random_state=3)
    )
    assert not imputer.sample(50, random_state=3).equals(imputer.sample(50, random_state=4))
    # random_state=None: the estimator's own, so the same rows each call.
    pd.testing.assert_frame_equal(imputer.sample(5), imputer.sample(5))
    # The decoder means have less spread than draws with the model's noise.
    noisy = imputer.sample(2000, random_state=0)["x"].std()
    smooth = imputer.sample(2000, random_state=0, noise=False)["x"].std()
    assert smooth < noisy


def test_imputer_sample_clip_false_leaves_the_gaussian_tails():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    X[0, 0] = np.nan
    imputer = fitted_imputer(X)
    clipped = imputer.sample(3000, random_state=0)
    free = imputer.sample(3000, random_state=0, clip=False)
    low, high = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
    assert np.all(clipped >= low) and np.all(clipped <= high)
    assert np.any((free < low) | (free > high))
    inside = (free >= low) & (free <= high)
    np.testing.assert_array_equal(clipped[inside], free[inside])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_imputer_sample_keeps_the_dtype_of_a_numeric_array(dtype):
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(50, 3)) * 5).astype(dtype)
    marker = -999 if np.issubdtype(dtype, np.integer) else np.nan
    X[0, 1] = marker
    new = fitted_imputer(X, missing_values=marker).sample(7, random_state=0)
    assert new.dtype == dtype and new.shape == (7, 3)


def test_imputer_sample_from_an_object_array_with_categories():
    X = np.array([["a", 1.0], ["b", 2.0], [None, 3.0], ["b", np.nan]] * 10, dtype=object)
    new = fitted_imputer(X, categorical_features=[0]).sample(20, random_state=0)
    assert new.dtype == object and new.shape == (20, 2)
    assert set(new[:, 0]) <= {"a", "b"}
    assert all(1.0 <= v <= 3.0 for v in new[:, 1])


def test_imputer_sample_leaves_out_the_indicator_and_empty_features():
    X = np.array([[1.0, np.nan, 2.0], [np.nan, np.nan, 3.0], [3.0, np.nan, 1.0]] * 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dropped = fitted_imputer(X, add_indicator=True)
        kept = fitted_imputer(X, keep_empty_features=True)
    assert dropped.sample(4).shape == (4, 2)
    new = kept.sample(4)
    assert new.shape == (4, 3) and np.isnan(new[:, 1]).all() and not np.isnan(new[:, [0, 2]]).any()


def test_imputer_sample_survives_pickle(mixed_frame):
    imputer = fitted_imputer(mixed_frame)
    loaded = pickle.loads(pickle.dumps(imputer))
    pd.testing.assert_frame_equal(
        loaded.sample(9, random_state=2), imputer.sample(9, random_state=2)
    )


def test_imputer_sample_survives_skops_with_only_skvae_types(mixed_frame, tmp_path):
    imputer = fitted_imputer(mixed_frame)
    loaded = skops_round_trip(imputer, tmp_path)
    pd.testing.assert_frame_equal(
        loaded.sample(9, random_state=2), imputer.sample(9, random_state=2)
    )


@pytest.mark.parametrize("n_samples", [0, -1, 2.0, True, "3"])
def test_sample_rejects_a_bad_number_of_rows(n_samples, mixed_frame):
    imputer = fitted_imputer(mixed_frame)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        imputer.sample(n_samples)
    vae = VAETransformer(2, max_iter=2, random_state=0).fit(np.random.default_rng(0).normal(size=(30, 3)))
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        vae.sample(n_samples)


def test_transformer_sample_draws_noise_and_noise_false_gives_decoder_means():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(300, 2))
    X = np.column_stack([latent, latent @ [1.0, -1.0]]) + 0.3 * rng.normal(size=(300, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        vae = VAETransformer(1, max_iter=30, random_state=0).fit(X)
    means = vae.sample(8, random_state=5, noise=False)
    codes = np.random.RandomState(5).standard_normal((8, 1))
    np.testing.assert_allclose(means, vae.inverse_transform(codes))
    noisy = vae.sample(3000, random_state=5)
    smooth = vae.sample(3000, random_state=5, noise=False)
    assert np.all(noisy.std(axis=0) > smooth.std(axis=0))
    np.testing.assert_array_equal(noisy, vae.sample(3000, random_state=5))

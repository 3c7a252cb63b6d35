"""The table layer (skvae/_table.py) that VAEImputer and VAETransformer share."""

import numpy as np
import pytest

from skvae import VAEImputer, VAETransformer
from skvae._table import column_name, decode_levels, encode_levels, read_table


def test_encode_levels_gives_codes_and_nan_for_missing_and_unseen():
    levels = np.array(["a", "b", "c"], dtype=object)
    values = np.array(["c", None, "a", "z", "b"], dtype=object)
    seen = np.array([True, False, True, True, True])
    codes, any_unseen = encode_levels(values, seen, levels)
    np.testing.assert_array_equal(codes, [2.0, np.nan, 0.0, np.nan, 1.0])
    assert any_unseen
    codes, any_unseen = encode_levels(values[[0, 2, 4]], np.ones(3, dtype=bool), levels)
    np.testing.assert_array_equal(codes, [2.0, 0.0, 1.0])
    assert not any_unseen


def test_decode_levels_rounds_to_the_nearest_level_within_range():
    levels = np.array([10, 20, 30])
    decoded = decode_levels(np.array([-0.7, 0.4, 0.6, 1.5, 2.2, 9.0]), levels)
    np.testing.assert_array_equal(decoded, [10, 10, 20, 30, 30, 30])
    codes, _ = encode_levels(levels[[2, 0, 1]], np.ones(3, dtype=bool), levels)
    np.testing.assert_array_equal(decode_levels(codes, levels), levels[[2, 0, 1]])


def test_column_name_uses_feature_names_when_fitted_on_a_frame(mixed_table):
    imputer = VAEImputer()
    read_table(imputer, mixed_table, reset=True)
    assert column_name(imputer, 3) == "'colour'"
    array_imputer = VAEImputer()
    read_table(array_imputer, np.zeros((3, 2)), reset=True)
    assert column_name(array_imputer, 1) == "1"


def test_read_table_finds_categories_and_holes(mixed_table):
    frame = mixed_table.copy()
    frame.loc[[0, 5], "x"] = np.nan
    frame["name"] = frame["name"].astype(object)
    frame.loc[3, "name"] = None
    imputer = VAEImputer()
    table = read_table(imputer, frame, reset=True)
    np.testing.assert_array_equal(
        imputer.categorical_features_, [False, False, False, True, True, True, True]
    )
    assert np.flatnonzero(table.missing[:, 0]).tolist() == [0, 5]
    assert np.flatnonzero(table.missing[:, 4]).tolist() == [3]
    assert table.missing.sum() == 3
    # A later call checks against the first (same columns required).
    with pytest.raises(ValueError, match="feature names"):
        read_table(imputer, frame.rename(columns={"x": "y"}), reset=False)


def test_imputer_and_transformer_code_levels_alike(mixed_table):
    """Both estimators read a categorical column through the same levels
    and codes."""
    imputer = VAEImputer(max_iter=1, random_state=0).fit(mixed_table)
    transformer = VAETransformer(max_iter=1, random_state=0).fit(mixed_table)
    for a, b in zip(imputer.categories_, transformer.categories_):
        np.testing.assert_array_equal(a, b)
    X_model, observed, _ = imputer._encode(read_table(imputer, mixed_table, reset=False))
    encoded = transformer._encode_table(mixed_table, reset=False)
    for j in np.flatnonzero(imputer.categorical_features_):
        k = int(np.flatnonzero(imputer._model_features == j)[0])
        np.testing.assert_array_equal(X_model[observed[:, k], k], encoded[observed[:, k], j])

"""VAETransformer on tables that mix numbers and categories."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from conftest import skops_round_trip
from skvae import VAETransformer

pd = pytest.importorskip("pandas")

FAST = dict(max_iter=15, random_state=0, hidden_layer_sizes=(16,), early_stopping=False)


def fitted(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return VAETransformer(**{"n_components": 2, **FAST, **params}).fit(X)


@pytest.fixture
def table(mixed_table):
    return mixed_table


def test_a_mixed_frame_round_trips_its_columns_and_dtypes(table):
    vae = fitted(table)
    assert vae.likelihood_ == "mixed"
    assert vae.categorical_features_.tolist() == [False, False, False, True, True, True, True]
    Z = vae.transform(table)
    assert Z.shape == (len(table), 2) and np.isfinite(Z).all()
    rec = vae.inverse_transform(Z)
    assert isinstance(rec, pd.DataFrame)
    assert list(rec.columns) == list(table.columns)
    assert rec.dtypes.to_dict() == table.dtypes.to_dict()
    assert list(rec["colour"].cat.categories) == ["blue", "red", "unused"]
    assert set(rec["name"]) <= {"u", "v", "w"} and set(rec["text"]) <= {"p", "q"}
    new = vae.sample(40, random_state=0)
    assert new.dtypes.to_dict() == table.dtypes.to_dict()
    assert new.index.equals(pd.RangeIndex(40))
    assert set(new["colour"]) <= {"blue", "red"}
    pd.testing.assert_frame_equal(new, vae.sample(40, random_state=0))
    assert not new.equals(vae.sample(40, random_state=1))


def test_levels_are_learnt(table):
    # "colour" is a function of x: the model should reconstruct it far
    # better than its most frequent level.
    vae = fitted(table, max_iter=150, hidden_layer_sizes=(32,))
    rec = vae.inverse_transform(vae.transform(table))
    accuracy = np.mean(rec["colour"].to_numpy() == table["colour"].to_numpy())
    most_frequent = table["colour"].value_counts(normalize=True).max()
    assert accuracy > most_frequent + 0.1


def test_transform_is_row_independent_and_missing_cells_are_allowed(table):
    holes = table.copy()
    holes.loc[3, "x"] = np.nan
    holes.loc[4, "colour"] = np.nan
    holes.loc[5, "name"] = pd.NA
    vae = fitted(holes)
    Z = vae.transform(holes)
    np.testing.assert_allclose(vae.transform(holes.iloc[:7]), Z[:7], rtol=1e-6, atol=1e-9)
    assert np.isfinite(vae.score_samples(holes)).all()


def test_unseen_levels_read_as_missing_with_a_warning(table):
    vae = fitted(table)
    other = table.copy()
    other["text"] = other["text"].astype(object)
    other.loc[0, "text"] = "new level"
    with pytest.warns(UserWarning, match="not seen during fit.*'text'"):
        Z = vae.transform(other)
    missing = other.copy()
    missing.loc[0, "text"] = None
    np.testing.assert_allclose(Z, vae.transform(missing))


def test_an_array_with_categorical_features(table):
    X = table[["x", "small", "text"]].to_numpy(dtype=object)
    vae = fitted(X, categorical_features=[2])
    assert vae.categorical_features_.tolist() == [False, False, True]
    rec = vae.inverse_transform(vae.transform(X))
    assert rec.dtype == object and rec.shape == X.shape
    assert set(rec[:, 2]) <= {"p", "q"}
    codes = np.column_stack([table["x"], (table["text"] == "q").astype(float)])
    numeric_codes = fitted(codes, categorical_features=[1]).sample(5, random_state=0)
    assert numeric_codes.dtype == np.float64 and set(numeric_codes[:, 1]) <= {0.0, 1.0}


def test_text_without_categorical_features_says_what_to_do():
    X = np.array([["a", 1.0], ["b", 2.0]] * 10, dtype=object)
    with pytest.raises(ValueError, match="categorical_features"):
        fitted(X)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"network": "conv"}, "network='dense'"),
        ({"likelihood": "bernoulli"}, "cannot model categorical columns"),
    ],
)
def test_settings_that_cannot_model_categories_are_refused(table, params, message):
    with pytest.raises(ValueError, match=message):
        fitted(table, **params)


def test_a_categorical_column_without_observed_values_is_refused(table):
    empty = table.assign(colour=pd.Categorical([None] * len(table), categories=["a"]))
    with pytest.raises(ValueError, match="no observed values"):
        fitted(empty)
    assert not hasattr(VAETransformer(), "categories_")


def test_numeric_frames_keep_the_numeric_path(table):
    vae = fitted(table[["x", "small"]])
    assert vae.categorical_features_ is None and vae.likelihood_ == "gaussian"
    assert isinstance(vae.inverse_transform(vae.transform(table[["x", "small"]])), np.ndarray)


def test_mixed_tables_in_pipeline_search_clone_and_pickle(table):
    search = GridSearchCV(
        Pipeline([("vae", VAETransformer(**FAST))]),
        {"vae__n_components": [1, 2]},
        cv=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(table)
    assert np.isfinite(search.best_score_)
    vae = search.best_estimator_.named_steps["vae"]
    assert clone(vae).get_params()["categorical_features"] == "from_dtype"
    loaded = pickle.loads(pickle.dumps(vae))
    pd.testing.assert_frame_equal(loaded.sample(6, random_state=2), vae.sample(6, random_state=2))
    np.testing.assert_array_equal(loaded.transform(table), vae.transform(table))


def test_mixed_tables_survive_skops_with_only_skvae_types(table, tmp_path):
    vae = fitted(table)
    loaded = skops_round_trip(vae, tmp_path)
    pd.testing.assert_frame_equal(loaded.sample(6, random_state=2), vae.sample(6, random_state=2))


def test_partial_fit_keeps_the_first_batch_levels(table):
    vae = VAETransformer(2, hidden_layer_sizes=(16,), random_state=0)
    vae.partial_fit(table.iloc[:80])
    first = [levels.tolist() for levels in vae.categories_]
    vae.partial_fit(table.iloc[80:])
    assert [levels.tolist() for levels in vae.categories_] == first
    assert vae.sample(3, random_state=0).dtypes.to_dict() == table.dtypes.to_dict()


def test_mixed_columns_inside_a_column_transformer(table):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.preprocessing import StandardScaler

    columns = ColumnTransformer(
        [
            ("vae", VAETransformer(**{"n_components": 2, **FAST}), ["x", "colour", "name"]),
            ("scaled", StandardScaler(), ["small"]),
        ]
    )
    pipe = Pipeline([("columns", columns), ("model", LinearRegression())])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(table, table["count"].astype(float))
    assert columns.transform(table).shape == (len(table), 3)
    assert list(columns.get_feature_names_out()) == [
        "vae__vaetransformer0", "vae__vaetransformer1", "scaled__small",
    ]
    assert np.isfinite(pipe.predict(table)).all()


def test_refined_scores_of_a_mixed_table_with_missing_cells(table):
    holes = table.copy()
    holes.loc[3, "x"] = np.nan
    holes.loc[4, "colour"] = np.nan
    vae = fitted(holes)
    plain = vae.score_samples(holes)
    refined = vae.set_params(n_refinement_steps=10).score_samples(holes)
    assert np.isfinite(refined).all()
    assert refined.mean() > plain.mean()
    np.testing.assert_allclose(vae.score_samples(holes.iloc[2:6]), refined[2:6], rtol=1e-9)

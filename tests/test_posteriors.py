"""VAETransformer's posterior families (posterior, n_flows) and
importance-weighted training (n_training_draws)."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

from conftest import skops_round_trip
from skvae import VAETransformer

SETTINGS = [
    {"posterior": "planar"},
    {"posterior": "iaf", "n_flows": 2},
    {"n_training_draws": 3},
    {"posterior": "iaf", "n_training_draws": 2},
]


@pytest.fixture
def data(blobs):
    return blobs


def fitted(X, **params):
    return VAETransformer(2, max_iter=4, random_state=0, **params).fit(X)


@pytest.mark.parametrize("params", SETTINGS)
def test_fit_is_reproducible_and_transform_batch_independent(data, params):
    a, b = fitted(data, **params), fitted(data, **params)
    np.testing.assert_array_equal(a.transform(data), b.transform(data))
    np.testing.assert_array_equal(a.score_samples(data), b.score_samples(data))
    np.testing.assert_allclose(a.transform(data[:5]), a.transform(data)[:5], rtol=1e-12)
    np.testing.assert_allclose(a.score_samples(data[5:9]), a.score_samples(data)[5:9], rtol=1e-12)
    assert a.transform(data).shape == (len(data), 2)
    assert np.isfinite(a.score(data))


@pytest.mark.parametrize("params", SETTINGS)
def test_saved_models_give_the_same_outputs(data, params, tmp_path):
    model = fitted(data, **params)
    for loaded in (pickle.loads(pickle.dumps(model)), skops_round_trip(model, tmp_path)):
        np.testing.assert_array_equal(loaded.transform(data), model.transform(data))
        np.testing.assert_array_equal(loaded.score_samples(data), model.score_samples(data))


def test_flows_change_the_model_and_the_config(data):
    gaussian, planar = fitted(data), fitted(data, posterior="planar", n_flows=3)
    assert "posterior" not in gaussian._config and "training_samples" not in gaussian._config
    assert planar._config["posterior"] == "planar" and planar._config["n_flows"] == 3
    assert any(key.startswith("flows.") for key in planar._params)
    assert not any(key.startswith("flows.") for key in gaussian._params)
    assert not np.array_equal(gaussian.transform(data), planar.transform(data))
    assert fitted(data, n_training_draws=4)._config["training_samples"] == 4


@pytest.mark.parametrize(
    "params", [{"posterior": "sylvester"}, {"n_flows": 0}, {"n_training_draws": 0}]
)
def test_bad_settings_are_refused(data, params):
    with pytest.raises(InvalidParameterError):
        VAETransformer(**params).fit(data)


def test_grid_search_over_the_posterior_family_by_score(data):
    search = GridSearchCV(
        VAETransformer(max_iter=3, random_state=0),
        {"posterior": ["gaussian", "planar", "iaf"], "n_components": [1, 2]},
        cv=2,
    ).fit(data)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_params_["posterior"] in ("gaussian", "planar", "iaf")
    assert clone(search.best_estimator_).get_params()["posterior"] == search.best_params_["posterior"]


@pytest.mark.parametrize("params", [{}, {"posterior": "planar"}])
def test_refinement_tightens_score_and_changes_nothing_else(data, params):
    plain = fitted(data, **params)
    refined = fitted(data, n_refinement_steps=20, **params)
    # Training ignores it: the same model, the same codes.
    np.testing.assert_array_equal(refined.transform(data), plain.transform(data))
    np.testing.assert_array_equal(refined.sample(5, random_state=0), plain.sample(5, random_state=0))
    scores = refined.score_samples(data)
    assert scores.mean() > plain.score_samples(data).mean() + 0.02
    np.testing.assert_array_equal(refined.score_samples(data), scores)
    np.testing.assert_allclose(refined.score_samples(data[5:9]), scores[5:9], rtol=1e-12)
    assert refined.score(data) == pytest.approx(scores.mean())
    loaded = pickle.loads(pickle.dumps(refined))
    np.testing.assert_array_equal(loaded.score_samples(data), scores)
    # Set after the fit, it applies at once; 0 is the encoder's posterior.
    np.testing.assert_array_equal(
        plain.set_params(n_refinement_steps=20).score_samples(data), scores
    )
    np.testing.assert_array_equal(
        refined.set_params(n_refinement_steps=0).score_samples(data),
        plain.set_params(n_refinement_steps=0).score_samples(data),
    )


def test_refinement_scores_rows_with_missing_entries(data):
    model = fitted(data, n_refinement_steps=10)
    X = data[:6].copy()
    X[0, 1] = np.nan
    scores = model.score_samples(X)
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(scores[1:], model.score_samples(data[1:6]), rtol=1e-12)


def test_refinement_is_searchable_and_validated(data):
    search = GridSearchCV(
        VAETransformer(max_iter=3, random_state=0),
        {"n_refinement_steps": [0, 10], "n_components": [1, 2]},
        cv=2,
    ).fit(data)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    with pytest.raises(InvalidParameterError):
        VAETransformer(n_refinement_steps=-1).fit(data)
    with pytest.raises(InvalidParameterError):
        VAETransformer(n_refinement_steps=2.5).fit(data)

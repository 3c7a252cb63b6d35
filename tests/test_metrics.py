"""skvae.metrics: the mutual information gap, its scorer, and the
unsupervised diagnostics of a fitted VAETransformer."""

import math

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score
from sklearn.model_selection import GridSearchCV

from skvae import VAEImputer, VAETransformer
from skvae.metrics import (
    _gaussian_mixture_total_correlation,
    active_components,
    make_mig_scorer,
    mutual_information_gap,
    total_correlation,
)


@pytest.fixture
def factors():
    return np.random.default_rng(0).integers(0, 4, size=(2000, 2))


def test_mig_is_high_for_one_component_per_factor_and_low_otherwise(factors):
    rng = np.random.default_rng(1)
    noise = 0.05 * rng.standard_normal((2000, 3))
    aligned = np.column_stack([factors, np.zeros(2000)]) + noise
    assert mutual_information_gap(aligned, factors) > 0.95
    # The same information, each factor spread over two components.
    rotated = aligned @ np.array([[1, 1, 0], [1, -1, 0], [0, 0, 1]]) / math.sqrt(2)
    assert mutual_information_gap(rotated, factors) < 0.2
    # Two components carrying the same factor: no gap for it.
    duplicated = np.column_stack([factors[:, 0], factors[:, 0], factors[:, 1]]) + noise
    assert mutual_information_gap(duplicated, factors) == pytest.approx(0.5, abs=0.05)
    assert mutual_information_gap(rng.standard_normal((2000, 3)), factors) < 0.05


def test_mig_by_hand_on_a_small_case():
    v = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    z1 = v.astype(float)  # 3 distinct values: 3 bins of 20 hold them apart
    z2 = np.array([0, 1, 0, 1, 0, 1, 0, 1], dtype=float)
    expected = (mutual_info_score(v, v) - mutual_info_score(z2.astype(int), v)) / mutual_info_score(v, v)
    assert mutual_information_gap(np.column_stack([z1, z2]), v) == pytest.approx(expected)


def test_mig_discretises_continuous_factors_and_checks_its_input(factors):
    t = np.random.default_rng(2).uniform(size=2000)
    Z = np.column_stack([t, np.random.default_rng(3).uniform(size=2000)])
    assert mutual_information_gap(Z, t) > 0.9
    with pytest.raises(ValueError, match="one row per row of Z"):
        mutual_information_gap(Z, factors[:10])
    with pytest.raises(ValueError, match="n_bins"):
        mutual_information_gap(Z, t, n_bins=1)
    with pytest.raises(ValueError, match="No factor varies"):
        mutual_information_gap(Z, np.zeros(2000))
    with pytest.raises(ValueError):
        mutual_information_gap(Z[:, :1], t)  # one component has no gap


def test_grid_search_over_beta_with_the_mig_scorer():
    """End to end: factors as y, the scorer on each validation split."""
    rng = np.random.default_rng(0)
    sources = rng.uniform(-1, 1, size=(300, 2))
    X = np.column_stack(
        [sources[:, 0], sources[:, 1], np.sin(2 * sources[:, 0]), sources[:, 0] * sources[:, 1]]
    ) + 0.05 * rng.standard_normal((300, 4))
    search = GridSearchCV(
        VAETransformer(2, max_iter=5, random_state=0),
        {"beta": [1.0, 4.0]},
        scoring=make_mig_scorer(),
        cv=2,
    ).fit(X, sources)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    assert search.best_params_["beta"] in (1.0, 4.0)


def test_total_correlation_of_known_mixtures():
    rng = np.random.default_rng(0)
    n, d = 500, 3
    # Every row's posterior is the prior: q(z) = N(0, I), independent.
    same = _gaussian_mixture_total_correlation(np.zeros((n, d)), np.zeros((n, d)), rng)
    assert same == pytest.approx(0.0, abs=1e-9)
    # Independent means per component: close to 0.
    independent = _gaussian_mixture_total_correlation(
        rng.standard_normal((n, d)), np.full((n, d), -1.0), rng
    )
    # Means on a line (z1 = z2 = z3): dependent components, the more so
    # the narrower the posteriors.
    t = rng.standard_normal((n, 1))
    wide, narrow = (
        _gaussian_mixture_total_correlation(np.repeat(t, d, axis=1), np.full((n, d), v), rng)
        for v in (-1.0, -2.0)
    )
    assert narrow > wide > 0.5 > 0.05 > abs(independent)


def test_diagnostics_of_a_fitted_transformer(blobs):
    vae = VAETransformer(3, max_iter=10, random_state=0).fit(blobs)
    tc = total_correlation(vae, blobs, random_state=0)
    assert math.isfinite(tc)
    assert tc == total_correlation(vae, blobs, random_state=0)
    assert total_correlation(vae, blobs, max_rows=50, random_state=0) != tc
    variances = np.var(vae.transform(blobs), axis=0)
    assert active_components(vae, blobs) == int((variances > 0.01).sum())
    assert active_components(vae, blobs, threshold=np.inf) == 0
    mean, log_var = vae._posterior_gaussian(blobs)
    np.testing.assert_allclose(mean, vae.transform(blobs), rtol=1e-12)
    assert log_var.shape == mean.shape
    with pytest.raises(TypeError, match="VAETransformer"):
        total_correlation(VAEImputer(max_iter=2).fit(blobs), blobs)


def test_total_correlation_takes_a_dataframe_subset(mixed_table):
    """max_rows picks rows of a DataFrame, not columns."""
    vae = VAETransformer(2, max_iter=3, random_state=0).fit(mixed_table)
    assert math.isfinite(total_correlation(vae, mixed_table, max_rows=40, random_state=0))

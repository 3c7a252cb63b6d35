"""VAETransformer's disentangling objectives: the controlled capacity of
Burgess et al. (capacity, capacity_epochs) and beta-TCVAE's weight on the
total correlation (tc_weight)."""

import math
import re
import pickle

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

from conftest import skops_round_trip
from skvae import VAETransformer
from skvae._base import build_module
from skvae.metrics import make_mig_scorer, total_correlation
from skvae.nn.posteriors import DiagonalGaussian

SETTINGS = [
    {"capacity": 4.0, "capacity_epochs": 2, "beta": 20.0},
    {"tc_weight": 5.0},
    {"tc_weight": 0.0, "beta": 2.0},
]


@pytest.fixture(scope="module")
def digits():
    return load_digits().data[:400] / 16


def fitted(X, **params):
    return VAETransformer(3, max_iter=4, random_state=0, **params).fit(X)


def test_total_correlation_terms_match_a_numpy_estimate():
    rng = np.random.default_rng(0)
    mean, log_var = rng.normal(size=(7, 3)), rng.normal(size=(7, 3)) - 1
    z = mean + np.exp(0.5 * log_var) * rng.normal(size=(7, 3))
    # log N(z_i; mean_j, var_j) per component, by hand.
    log_p = -0.5 * (
        (z[:, None] - mean[None]) ** 2 / np.exp(log_var)[None] + log_var[None] + math.log(2 * math.pi)
    )
    expected = (logsumexp(log_p.sum(-1), axis=1) - math.log(7)) - (
        logsumexp(log_p, axis=1) - math.log(7)
    ).sum(-1)
    q = DiagonalGaussian(torch.from_numpy(mean), torch.from_numpy(log_var))
    got = q.total_correlation_terms(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_total_correlation_terms_see_dependence():
    rng = torch.Generator().manual_seed(0)
    t = torch.randn(500, 1, generator=rng, dtype=torch.float64)
    log_var = torch.full((500, 2), -3.0, dtype=torch.float64)
    dependent = DiagonalGaussian(t.repeat(1, 2), log_var)  # the same mean twice
    independent = DiagonalGaussian(torch.randn(500, 2, generator=rng, dtype=torch.float64), log_var)

    def tc(q):
        z = q.rsample(torch.randn(500, 2, generator=rng, dtype=torch.float64))
        return float(q.total_correlation_terms(z).mean())

    assert tc(dependent) > 1.0 and abs(tc(independent)) < 0.1


def _module(X, **params):
    vae = fitted(X, **params)
    module = build_module(vae._config, params=vae._params)
    return module, torch.from_numpy(vae._training_arrays(X)[0][:32])


def _loss(module, x, seed, **objective):
    return module.training_loss(x, generator=torch.Generator().manual_seed(seed), **objective)


def test_capacity_objective_is_recon_plus_weighted_distance_from_target(digits):
    module, x = _module(digits, capacity=3.0)
    assert module.free_bits == 0.0  # the capacity objective replaces free bits
    module.train()
    plain = _loss(module, x, 0, kl_weight=1.0)  # -ELBO per row = KL - log-lik
    z_kl = module.posterior(x).kl()
    recon = plain - z_kl
    for capacity in (0.0, 1.0, 50.0):
        loss = _loss(module, x, 0, kl_weight=7.0, capacity=capacity)
        expected = recon.mean() + 7.0 * abs(z_kl.mean() - capacity)
        torch.testing.assert_close(loss.mean(), expected)
    # A target of 0 is the beta-ELBO (the KL is never negative).
    torch.testing.assert_close(_loss(module, x, 0, kl_weight=7.0, capacity=0.0),
                               _loss(module, x, 0, kl_weight=7.0))


def test_capacity_schedule_ramps_then_holds():
    vae = VAETransformer(capacity=10.0, capacity_epochs=4)
    assert [vae._capacity_schedule()(e) for e in range(6)] == [0.0, 2.5, 5.0, 7.5, 10.0, 10.0]
    assert VAETransformer(capacity=3.0, capacity_epochs=0)._capacity_schedule()(0) == 3.0
    assert VAETransformer()._capacity_schedule() is None
    assert VAETransformer(capacity=1.0, capacity_epochs=30, kl_warmup=5)._ramp_epochs() == 30
    assert VAETransformer(capacity=0.0, capacity_epochs=30, kl_warmup=5)._ramp_epochs() == 5


def test_capacity_holds_the_kl_near_its_target(digits):
    target = 8.0
    # The three objectives at one step size, 25 epochs each.
    same = dict(max_iter=25, learning_rate=1e-3, random_state=0)
    vae = VAETransformer(4, capacity=target, capacity_epochs=10, beta=100.0, **same).fit(digits)
    # The training rows' mean KL is close to the target, above what the
    # ELBO settles on, while a large beta alone squeezes it.
    assert abs(vae.component_kl_.sum() - target) < 1.0
    free = VAETransformer(4, **same).fit(digits)
    assert free.component_kl_.sum() < target - 2.0
    squeezed = VAETransformer(4, beta=100.0, **same).fit(digits)
    assert squeezed.component_kl_.sum() < 3.0


def test_capacity_validates_the_plain_elbo_after_the_ramp(digits):
    vae = VAETransformer(
        3, capacity=4.0, capacity_epochs=6, beta=30.0, n_iter_no_change=1, max_iter=40,
        random_state=0,
    ).fit(digits)
    assert vae._validation_kl_weight() == 1.0
    # The ramp's epochs never count towards stopping, and the weights kept
    # are those of the best epoch after it.
    assert vae.n_iter_ >= 6 + 2
    assert vae.best_validation_score_ == max(vae.validation_scores_[5:])


def test_tc_weight_adds_the_batch_total_correlation_in_training_only(digits):
    module, x = _module(digits, tc_weight=5.0, beta=2.0)
    assert module.tc_extra_weight == 3.0
    module.train()
    with_tc = _loss(module, x, 0, kl_weight=2.0)
    module.eval()
    without = _loss(module, x, 0, kl_weight=2.0)
    q = module.posterior(x)
    z = q.rsample(torch.randn(x.shape[0], 3, generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(with_tc, without + 3.0 * q.total_correlation_terms(z))
    # Early in a KL warm-up the TC term's total weight (KL weight plus the
    # extra) is floored at 0: here 1.0 - 1.5 -> 0, so the loss is the
    # beta-ELBO's minus the TC part of its KL.
    module.tc_extra_weight = -1.5
    module.eval()
    elbo = _loss(module, x, 0, kl_weight=1.0)
    module.train()
    tc = q.total_correlation_terms(z)
    torch.testing.assert_close(_loss(module, x, 0, kl_weight=1.0), elbo - tc)


def test_tc_weight_lowers_the_total_correlation(digits):
    plain = VAETransformer(4, max_iter=30, random_state=0).fit(digits)
    tc = VAETransformer(4, tc_weight=8.0, max_iter=30, random_state=0).fit(digits)
    assert total_correlation(tc, digits, random_state=0) < 0.7 * total_correlation(
        plain, digits, random_state=0
    )


def test_default_objective_writes_nothing_new(digits):
    vae = fitted(digits)
    assert "tc_extra_weight" not in vae._config and vae._config["free_bits"] == 0.5
    assert fitted(digits, tc_weight=6.0)._config["tc_extra_weight"] == 5.0


@pytest.mark.parametrize("params", SETTINGS)
def test_fit_is_reproducible_and_saved_models_agree(digits, params, tmp_path):
    a, b = fitted(digits, **params), fitted(digits, **params)
    np.testing.assert_array_equal(a.transform(digits), b.transform(digits))
    np.testing.assert_allclose(a.transform(digits[:5]), a.transform(digits)[:5], rtol=1e-12)
    for loaded in (pickle.loads(pickle.dumps(a)), skops_round_trip(a, tmp_path)):
        np.testing.assert_array_equal(loaded.transform(digits), a.transform(digits))
        np.testing.assert_array_equal(loaded.score_samples(digits), a.score_samples(digits))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"tc_weight": 2.0, "posterior": "planar"}, "posterior='gaussian'"),
        ({"tc_weight": 2.0, "n_training_draws": 2}, "n_training_draws=1"),
        ({"capacity": 2.0, "n_training_draws": 2}, "n_training_draws=1"),
    ],
)
def test_objectives_that_need_the_one_draw_gaussian_elbo_say_so(digits, params, match):
    vae = VAETransformer(2, max_iter=2, **params)
    with pytest.raises(ValueError, match=match):
        vae.fit(digits)
    assert not hasattr(vae, "n_iter_")


@pytest.mark.parametrize(
    "params", [{"capacity": -1.0}, {"capacity_epochs": -1}, {"tc_weight": -2.0}, {"tc_weight": "x"}]
)
def test_bad_objective_parameters_are_refused(digits, params):
    with pytest.raises(InvalidParameterError):
        VAETransformer(**params).fit(digits)


def test_grid_search_over_the_objectives_with_the_mig_scorer():
    rng = np.random.default_rng(0)
    factors = rng.uniform(-1, 1, size=(240, 2))
    X = np.column_stack([factors, factors @ [[1.0, 0.5], [0.3, 1.0]]]) + 0.05 * rng.normal(
        size=(240, 4)
    )
    base = VAETransformer(2, max_iter=3, random_state=0)
    grid = [{"beta": [1.0, 4.0]}, {"tc_weight": [4.0]}, {"capacity": [3.0], "beta": [20.0]}]
    search = GridSearchCV(base, grid, scoring=make_mig_scorer(), cv=2).fit(X, factors)
    assert len(search.cv_results_["params"]) == 4
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert clone(search.best_estimator_).get_params()["max_iter"] == 3


def test_verbose_lines_show_the_capacity_target(digits, capsys):
    VAETransformer(
        2, capacity=4.0, capacity_epochs=2, beta=20.0, max_iter=3, verbose=1, random_state=0
    ).fit(digits)
    lines = capsys.readouterr().out.strip().splitlines()[1:4]
    targets = [re.search(r"target KL ([\d.]+) nats", line).group(1) for line in lines]
    assert targets == ["2.00", "4.00", "4.00"]
    fitted(digits, verbose=1)
    assert "target KL" not in capsys.readouterr().out

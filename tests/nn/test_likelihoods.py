import numpy as np
import pytest
import torch
from torch import distributions as D

from skvae._base import check_support, standardisation
from skvae.nn import Bernoulli, ContinuousBernoulli, Gaussian, make_likelihood
from skvae.nn.likelihoods import LIKELIHOODS, Mixed, likelihood_class


def test_gaussian_matches_torch_normal():
    torch.manual_seed(0)
    lik = Gaussian(5)
    with torch.no_grad():
        lik.raw_scale.normal_()
    x, out = torch.randn(7, 5), torch.randn(7, 5)
    expected = D.Normal(out, lik.scale).log_prob(x).sum(-1)
    torch.testing.assert_close(lik.log_prob(x, out), expected)


def test_gaussian_scale_is_floored():
    lik = Gaussian(3, min_scale=1e-3)
    with torch.no_grad():
        lik.raw_scale.fill_(-1e4)
    assert torch.all(lik.scale >= 1e-3)
    # A constant feature cannot make the density infinite.
    assert torch.isfinite(lik.log_prob(torch.zeros(1, 3), torch.zeros(1, 3))).all()


def test_bernoulli_matches_torch_on_binary_data():
    x = torch.randint(0, 2, (6, 4)).float()
    logits = 3 * torch.randn(6, 4)
    expected = D.Bernoulli(logits=logits).log_prob(x).sum(-1)
    torch.testing.assert_close(Bernoulli(4).log_prob(x, logits), expected)
    torch.testing.assert_close(Bernoulli(4).mean(logits), torch.sigmoid(logits))


# torch clamps probabilities at large |logit|; the integral test below covers those.
@pytest.mark.parametrize("scale", [1e-3, 0.3, 5.0])
def test_continuous_bernoulli_matches_torch(scale):
    torch.manual_seed(0)
    x = torch.rand(50, 3, dtype=torch.float64)
    logits = scale * torch.randn(50, 3, dtype=torch.float64)
    reference = D.ContinuousBernoulli(logits=logits)
    lik = ContinuousBernoulli(3)
    torch.testing.assert_close(lik.log_prob(x, logits), reference.log_prob(x).sum(-1))
    torch.testing.assert_close(lik.mean(logits), reference.mean, rtol=1e-4, atol=1e-4)


def test_continuous_bernoulli_is_a_density():
    # The density integrates to one over [0, 1] for several parameters.
    grid = torch.linspace(0, 1, 20001, dtype=torch.float64).unsqueeze(-1)
    lik = ContinuousBernoulli(1)
    for logit in [-30.0, -2.0, 0.0, 1e-4, 0.7, 12.0]:
        out = torch.full_like(grid, logit)
        density = lik.log_prob(grid, out).exp()
        assert torch.trapezoid(density, grid[:, 0]).item() == pytest.approx(1.0, abs=2e-3)


def test_continuous_bernoulli_sampling_matches_mean():
    generator = torch.Generator().manual_seed(0)
    logits = torch.tensor([[-6.0, -0.5, 0.0, 2.0, 9.0]], dtype=torch.float64).expand(40000, 5)
    lik = ContinuousBernoulli(5)
    draws = lik.sample(logits, generator)
    assert draws.min() >= 0 and draws.max() <= 1
    torch.testing.assert_close(draws.mean(0), lik.mean(logits[0]), atol=5e-3, rtol=0)


def test_mask_removes_missing_entries():
    lik = Gaussian(3)
    x = torch.tensor([[0.0, 100.0, 1.0]])
    out = torch.zeros(1, 3)
    mask = torch.tensor([[True, False, True]])
    full = lik.log_prob_elements(x, out)
    assert lik.log_prob(x, out, mask).item() == pytest.approx((full[0, 0] + full[0, 2]).item())


def test_log_prob_broadcasts_over_importance_samples():
    lik = Gaussian(4)
    x, out = torch.randn(3, 4), torch.randn(10, 3, 4)
    assert lik.log_prob(x, out).shape == (10, 3)


def test_unknown_likelihood_is_rejected():
    with pytest.raises(ValueError, match="Unknown likelihood"):
        make_likelihood("poisson-ish", 3)


# Each likelihood says how the estimators treat its features.


def test_traits_of_each_likelihood():
    assert Gaussian.standardised and Gaussian.support is None
    assert Mixed.standardised and Mixed.support is None
    for cls in (Bernoulli, ContinuousBernoulli):
        assert not cls.standardised and cls.support == (0.0, 1.0)
    assert likelihood_class("mixed") is Mixed
    for name, cls in LIKELIHOODS.items():
        assert likelihood_class(name) is cls
    with pytest.raises(ValueError, match="Unknown likelihood 'poisson'"):
        likelihood_class("poisson")
    with pytest.raises(ValueError, match="list of column parts"):
        make_likelihood("mixed", 3)


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_estimator_helpers_follow_the_traits(name):
    X = np.array([[0.0, 0.2], [1.0, 0.6], [0.5, 1.0]])
    shift, scale = standardisation(X, name)
    if likelihood_class(name).standardised:
        np.testing.assert_allclose(shift, X.mean(axis=0))
        np.testing.assert_allclose(scale, X.std(axis=0))
    else:
        assert (shift == 0).all() and (scale == 1).all()
    check_support(X, name)  # within [0, 1]: every likelihood accepts it
    if likelihood_class(name).support is not None:
        with pytest.raises(ValueError, match=r"needs X in \[0, 1\].*\[-1, 1\]"):
            check_support(X * 2 - 1, name)
    else:
        check_support(X * 2 - 1, name)

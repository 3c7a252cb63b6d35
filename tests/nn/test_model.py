import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from skvae.nn import VAE
from skvae.nn.posteriors import DiagonalGaussian


def linear_gaussian_vae(n_features=4, n_components=2, seed=0):
    config = {
        "network": "dense",
        "n_features": n_features,
        "n_components": n_components,
        "likelihood": "gaussian",
        "hidden_layer_sizes": [],
        "activation": "identity",
    }
    model = VAE.from_config(config, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        model.likelihood.raw_scale.uniform_(-1.5, 0.5, generator=torch.Generator().manual_seed(seed))
    return model.double().eval()


def exact_log_likelihood(model, x):
    """log N(x; b, W W^T + diag(s^2)) for a linear decoder b + W z."""
    linear = model.decoder.net[0]
    W = linear.weight.detach().numpy()
    b = linear.bias.detach().numpy()
    s2 = model.likelihood.scale.detach().numpy() ** 2
    return multivariate_normal(b, W @ W.T + np.diag(s2)).logpdf(x.numpy())


def test_closed_form_kl_matches_monte_carlo():
    generator = torch.Generator().manual_seed(0)
    mean = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
    log_var = torch.tensor([[-0.5, 0.3, -2.0]], dtype=torch.float64)
    std = torch.exp(0.5 * log_var)
    z = mean + std * torch.randn(400000, 3, generator=generator, dtype=torch.float64)
    log_q = torch.distributions.Normal(mean, std).log_prob(z).sum(-1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    monte_carlo = (log_q - log_p).mean()
    kl = DiagonalGaussian(mean, log_var).kl()
    assert kl.item() == pytest.approx(monte_carlo.item(), rel=5e-3)


@pytest.mark.parametrize("posterior", ["gaussian", "planar", "iaf"])
def test_bound_never_exceeds_exact_log_likelihood(posterior):
    model = linear_gaussian_vae()
    if posterior != "gaussian":
        from skvae.nn.posteriors import make_flows

        model.flows = make_flows(posterior, 2, 3).double()
    generator = torch.Generator().manual_seed(1)
    x = 2 * torch.randn(30, 4, generator=generator, dtype=torch.float64)
    exact = exact_log_likelihood(model, x)
    for k in [1, 10, 1000]:
        eps = torch.randn(k, 30, 2, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            bound = model.log_likelihood_bound(x, eps).numpy()
        # Each bound is stochastic; its expectation is below log p(x).
        # With shared noise the rows average out: compare the mean.
        assert bound.mean() <= exact.mean() + 1e-9


def test_importance_weighting_tightens_the_bound():
    model = linear_gaussian_vae(seed=3)
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(200, 4, generator=generator, dtype=torch.float64)
    exact = exact_log_likelihood(model, x).mean()
    gaps = []
    for k in [1, 10, 100, 5000]:
        eps = torch.randn(k, 200, 2, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            gaps.append(exact - model.log_likelihood_bound(x, eps).mean().item())
    assert all(g >= 0 for g in gaps)
    assert gaps[0] > gaps[1] > gaps[2] > gaps[3]
    assert gaps[-1] < 0.05 * gaps[0]


def test_elbo_terms_and_training_loss_are_per_sample():
    model = linear_gaussian_vae().float().train()
    x = torch.randn(8, 4)
    log_lik, kl = model.elbo_terms(x, torch.zeros(8, 2))
    assert log_lik.shape == kl.shape == (8,)
    loss = model.training_loss(x, kl_weight=0.5, generator=torch.Generator().manual_seed(0))
    assert loss.shape == (8,)


def test_training_loss_reproducible_from_generator():
    model = linear_gaussian_vae().float()
    x = torch.randn(8, 4)
    a = model.training_loss(x, generator=torch.Generator().manual_seed(5))
    b = model.training_loss(x, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_encoder_input_is_clipped_to_bounds():
    config = {
        "network": "dense",
        "n_features": 2,
        "n_components": 1,
        "likelihood": "gaussian",
        "hidden_layer_sizes": [8],
        "activation": "relu",
        "input_bounds": ([-1.0, -1.0], [1.0, 1.0]),
    }
    model = VAE.from_config(config, generator=torch.Generator().manual_seed(0))
    inside = model.encode(torch.tensor([[1.0, -1.0]]))[0]
    outside = model.encode(torch.tensor([[1e6, -1e6]]))[0]
    torch.testing.assert_close(inside, outside)
    assert math.isfinite(outside.item())


def test_importance_weighted_gradient_leaves_out_only_negligible_draws():
    from skvae.nn.model import _IWLogSumExp

    log_w = torch.tensor([[0.0, 0.0], [-1.0, -100.0], [-5.0, -200.0]], requires_grad=True)
    reference = log_w.detach().clone().requires_grad_()
    ours = _IWLogSumExp.apply(log_w)
    assert torch.equal(ours, torch.logsumexp(reference, dim=0))
    (grad,) = torch.autograd.grad(ours.sum(), log_w)
    (expected,) = torch.autograd.grad(torch.logsumexp(reference, dim=0).sum(), reference)
    torch.testing.assert_close(grad[:, 0], expected[:, 0])  # ordinary weights: the same
    # exp(-100) is a float32 subnormal: torch's gradient keeps it, ours drops it.
    tiny = torch.finfo(torch.float32).tiny
    assert 0 < expected[1, 1] < tiny
    assert grad[1, 1] == 0 and grad[2, 1] == 0 and grad[0, 1] == 1


def test_importance_weighted_training_gradients_are_unchanged(monkeypatch):
    import skvae.nn.model as model_module

    config = {
        "network": "dense", "n_features": 6, "n_components": 2, "likelihood": "gaussian",
        "hidden_layer_sizes": [16], "activation": "relu", "training_samples": 20,
    }
    model = VAE.from_config(config, generator=torch.Generator().manual_seed(0))
    x = torch.randn(32, 6, generator=torch.Generator().manual_seed(1)) * 30
    mask = torch.rand(32, 6, generator=torch.Generator().manual_seed(2)) < 0.7

    def gradients():
        model.zero_grad()
        loss = model.training_loss(x, mask, generator=torch.Generator().manual_seed(3))
        loss.sum().backward()
        return [p.grad.clone() for p in model.parameters()]

    with torch.no_grad():  # the case in point: many draws of negligible weight
        eps = torch.randn(20, 32, 2, generator=torch.Generator().manual_seed(3))
        log_w = model.log_weights(x, eps, mask)
        negligible = (log_w - torch.logsumexp(log_w, dim=0)) < model_module._LOG_NEGLIGIBLE_WEIGHT
    assert negligible.float().mean() > 0.1
    ours = gradients()
    monkeypatch.setattr(
        model_module._IWLogSumExp, "apply", staticmethod(lambda lw: torch.logsumexp(lw, dim=0))
    )
    plain = gradients()
    for a, b in zip(ours, plain):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-30)


def diagonal_posterior_vae():
    """A linear-Gaussian model whose exact posterior is a diagonal Gaussian
    (orthogonal decoder columns, equal noise), with its mean and
    log-variances as a function of x."""
    model = linear_gaussian_vae(seed=5)
    W = torch.tensor([[1.5, 0.0], [0.0, -2.0], [0.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    with torch.no_grad():
        model.decoder.net[0].weight.copy_(W)
        model.likelihood.raw_scale.fill_(-0.5)
    s2 = model.likelihood.scale.detach()[0].item() ** 2
    precision = 1.0 + (W**2).sum(0).numpy() / s2

    def posterior(x):
        bias = model.decoder.net[0].bias.detach().numpy()
        return ((x.numpy() - bias) @ W.numpy() / s2) / precision, -np.log(precision)

    return model, posterior


def refinement_noise(n_steps, n_components=2, seed=4):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n_steps, 5, 1, n_components, generator=generator, dtype=torch.float64)


def test_refinement_closes_the_gap_to_the_exact_posterior():
    # When the exact posterior is a diagonal Gaussian, it is the best
    # proposal for every bound. From an untrained encoder's posterior, far
    # from it, refinement moves each row's mean onto the exact one and
    # closes nearly all of the bound's gap to the exact log-likelihood (the
    # variances come more slowly: a bound of several draws is forgiving of
    # a proposal somewhat too wide).
    model, exact_posterior = diagonal_posterior_vae()
    x = 2 * torch.randn(20, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    mean, _ = exact_posterior(x)
    exact = exact_log_likelihood(model, x)
    eps = torch.randn(3, 20, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    with torch.no_grad():
        start = model.posterior(x)
        refined = model.refined_posterior(x, None, refinement_noise(3000), learning_rate=0.01)
        plain_gap = exact - model.log_likelihood_bound(x, eps).numpy()
        log_w = model._importance_terms(x, eps, None, posterior=refined)[0]
        gap = exact - (torch.logsumexp(log_w, dim=0) - math.log(3)).numpy()
    assert np.abs(start.mean.numpy() - mean).max() > 0.5
    np.testing.assert_allclose(refined.mean.numpy(), mean, atol=0.06)
    assert not refined.mean.requires_grad and not refined.log_var.requires_grad
    assert plain_gap.mean() > 5.0
    assert 0 <= gap.mean() < 0.03 * plain_gap.mean()


def test_refinement_tightens_the_bound_row_by_row():
    model = linear_gaussian_vae(seed=7)
    x = 2 * torch.randn(30, 4, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    exact = exact_log_likelihood(model, x)
    # Draws of their own for each row, so that the rows' mean is near the
    # bound's expectation.
    eps = torch.randn(10, 30, 2, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    with torch.no_grad():
        plain = model.log_likelihood_bound(x, eps).numpy()
        refined = model.log_likelihood_bound(x, eps, None, refinement_noise(50)).numpy()
        # No steps: the encoder's posterior, the plain bound.
        none = model.log_likelihood_bound(x, eps, None, refinement_noise(0)).numpy()
        # Each row is refined from its own gradient alone.
        rows = model.log_likelihood_bound(
            x[5:9], eps[:, 5:9], None, refinement_noise(50)
        ).numpy()
    np.testing.assert_array_equal(none, plain)
    np.testing.assert_allclose(rows, refined[5:9], rtol=1e-12)
    assert refined.mean() > plain.mean() + 0.5
    assert refined.mean() <= exact.mean() + 1e-9


@pytest.mark.parametrize("kind", ["planar", "iaf"])
def test_refinement_keeps_a_flow_and_tightens_its_bound(kind):
    from skvae.nn.posteriors import FlowPosterior, make_flows

    model = linear_gaussian_vae(seed=10)
    model.flows = make_flows(kind, 2, 2).double()
    x = 2 * torch.randn(30, 4, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    eps = torch.randn(10, 30, 2, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    with torch.no_grad():
        refined = model.refined_posterior(x, None, refinement_noise(50))
        plain = model.log_likelihood_bound(x, eps).mean().item()
        tight = model.log_likelihood_bound(x, eps, None, refinement_noise(50)).mean().item()
    assert isinstance(refined, FlowPosterior)
    torch.testing.assert_close(refined.context, model.posterior(x).context, rtol=0, atol=0)
    assert tight > plain
    assert tight <= exact_log_likelihood(model, x).mean() + 1e-9

"""The posterior object of skvae/nn/posteriors.py against torch.distributions."""

import math

import torch

from skvae.nn.posteriors import LOG_VAR_BOUND, DiagonalGaussian, standard_normal_log_prob


def gaussian(seed=0, shape=(5, 3)):
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(shape, generator=g, dtype=torch.float64)
    log_var = torch.randn(shape, generator=g, dtype=torch.float64)
    return DiagonalGaussian(mean, log_var)


def test_draws_and_their_density_match_torch_normal():
    q = gaussian()
    eps = torch.randn(7, 5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    z = q.rsample(eps)
    normal = torch.distributions.Normal(q.mean, torch.exp(0.5 * q.log_var))
    torch.testing.assert_close(z, q.mean + eps * normal.scale)
    torch.testing.assert_close(q.log_prob_of_noise(eps), normal.log_prob(z).sum(-1))
    prior = torch.distributions.Normal(0.0, 1.0)
    torch.testing.assert_close(standard_normal_log_prob(z), prior.log_prob(z).sum(-1))


def test_kl_matches_torch_and_free_bits_floor_each_component():
    q = gaussian()
    normal = torch.distributions.Normal(q.mean, torch.exp(0.5 * q.log_var))
    exact = torch.distributions.kl_divergence(normal, torch.distributions.Normal(0.0, 1.0))
    torch.testing.assert_close(q.kl_per_component(), exact)
    torch.testing.assert_close(q.kl(), exact.sum(-1))
    floored = q.kl_per_component(free_bits=0.5)
    torch.testing.assert_close(floored, exact.clamp_min(0.5))
    assert (floored >= 0.5).all() and (floored > exact).any()


def test_draws_are_differentiable_in_the_parameters():
    mean = torch.zeros(2, 3, requires_grad=True)
    log_var = torch.zeros(2, 3, requires_grad=True)
    q = DiagonalGaussian(mean, log_var)
    eps = torch.ones(2, 3)
    (q.rsample(eps).sum() + q.kl().sum()).backward()
    torch.testing.assert_close(mean.grad, torch.ones(2, 3))  # dz/dmean + 0 at mean 0
    torch.testing.assert_close(log_var.grad, torch.zeros(2, 3) + 0.5)  # 0.5 + (0.5 - 0.5)


def test_widened_scales_the_spread_and_from_stats_clamps():
    q = gaussian()
    wide = q.widened(1.25)
    torch.testing.assert_close(torch.exp(0.5 * wide.log_var), 1.25 * torch.exp(0.5 * q.log_var))
    assert q.widened(1.0) is q
    stats = torch.tensor([[0.5, -2.0, 1e3, -1e3]])
    bounded = DiagonalGaussian.from_stats(stats)
    assert bounded.mean.tolist() == [[0.5, -2.0]]
    assert bounded.log_var.tolist() == [[LOG_VAR_BOUND, -LOG_VAR_BOUND]]
    assert math.isfinite(bounded.kl().item())


def test_the_vae_and_m2_read_their_posterior_through_it():
    """VAE.encode and M2.encode give the DiagonalGaussian's parameters."""
    from skvae.nn import M2, VAE

    config = {
        "network": "dense", "n_features": 3, "n_components": 2, "likelihood": "gaussian",
        "hidden_layer_sizes": [8], "activation": "relu",
    }
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(2))
    model = VAE.from_config(config, generator=torch.Generator().manual_seed(0))
    q = model.posterior(x)
    assert isinstance(q, DiagonalGaussian)
    mean, log_var = model.encode(x)
    torch.testing.assert_close(mean, q.mean)
    torch.testing.assert_close(log_var, q.log_var)

    m2 = M2.from_config({**config, "n_classes": 3}, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 2, 1, 1])
    q = m2._latent(m2.features(x), labels)
    assert isinstance(q, DiagonalGaussian)
    mean, log_var = m2.encode(x, labels)
    torch.testing.assert_close(mean, q.mean)
    torch.testing.assert_close(log_var, q.log_var)
    _, means, log_vars = m2.encode_all(x)
    torch.testing.assert_close(means[torch.arange(4), labels], q.mean)
    torch.testing.assert_close(log_vars[torch.arange(4), labels], q.log_var)

"""The posterior object of skvae/nn/posteriors.py against torch.distributions."""

import math

import pytest

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


# ---------------------------------------------------------------- flows

from skvae.nn.posteriors import FlowPosterior, IAFFlows, PlanarFlows  # noqa: E402


def flow_and_context(kind, d=3, n=4, n_flows=3, seed=0):
    torch.manual_seed(seed)
    flows = {"planar": PlanarFlows, "iaf": IAFFlows}[kind](d, n_flows).double()
    with torch.no_grad():
        for p in flows.parameters():  # far from the identity
            p.normal_(0.0, 0.4, generator=torch.Generator().manual_seed(seed + 1))
    context = torch.randn(n, 2 * d, generator=torch.Generator().manual_seed(seed + 2),
                          dtype=torch.float64)
    return flows, context


@pytest.mark.parametrize("kind", ["planar", "iaf"])
def test_flow_log_determinant_matches_autograd_jacobian(kind):
    d, n = 3, 4
    flows, context = flow_and_context(kind, d, n)
    z = torch.randn(n, d, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    _, log_det = flows(z, context)
    for i in range(n):
        def one_row(row, i=i):
            batch = z.clone()
            batch[i] = row
            return flows(batch, context)[0][i]

        jacobian = torch.autograd.functional.jacobian(one_row, z[i])
        exact = torch.linalg.slogdet(jacobian)
        assert exact.sign.item() != 0  # invertible (IAF's order flips may change the sign)
        torch.testing.assert_close(log_det[i], exact.logabsdet)


def test_iaf_is_autoregressive():
    """Each output component depends on the inputs before it in the step's
    order only: the Jacobian of one step is triangular."""
    flows, context = flow_and_context("iaf", d=4, n=1, n_flows=1)
    z = torch.randn(1, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda r: flows(r[None], context)[0][0], z[0])
    # One step flips the order at its end: undo it, then it is lower triangular.
    unflipped = jacobian.flip(0)
    assert torch.equal(unflipped.triu(1), torch.zeros_like(unflipped))


def test_kl_estimate_of_an_empty_flow_is_the_closed_form():
    base = gaussian()
    q = FlowPosterior(base, IAFFlows(3, 0).double())
    eps = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    z, kl = q.kl_estimate(eps)
    torch.testing.assert_close(z, base.rsample(eps))
    torch.testing.assert_close(kl, base.kl())
    # Free bits floor each component as they floor the Gaussian's.
    _, floored = q.kl_estimate(eps, free_bits=0.7)
    torch.testing.assert_close(floored, base.kl(free_bits=0.7))
    assert (floored > base.kl()).any()
    z, log_q = q.draw(eps)
    torch.testing.assert_close(log_q, base.log_prob_of_noise(eps))


@pytest.mark.parametrize("kind", ["planar", "iaf"])
def test_flow_density_and_kl_estimate_agree_with_monte_carlo(kind):
    """log q of a draw is the base density minus the log-determinant, and
    the KL estimate averages to E[log q(z) - log p(z)]."""
    d = 2
    flows, context = flow_and_context(kind, d, n=1, n_flows=2)
    base = DiagonalGaussian(
        torch.tensor([[0.3, -0.5]], dtype=torch.float64),
        torch.tensor([[-0.4, 0.2]], dtype=torch.float64),
    )
    q = FlowPosterior(base, flows, context)
    eps = torch.randn(200000, 1, d, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    with torch.no_grad():
        z, log_q = q.draw(eps)
        _, kl = q.kl_estimate(eps)
    monte_carlo = (log_q - standard_normal_log_prob(z)).mean()
    assert kl.mean().item() == pytest.approx(monte_carlo.item(), abs=0.01)
    assert torch.isfinite(q.location).all() and q.location.shape == (1, d)


@pytest.mark.parametrize("kind", ["planar", "iaf"])
@pytest.mark.parametrize("n_flows", [1, 2, 3])
def test_log_determinant_per_component_sums_to_the_total(kind, n_flows):
    flows, context = flow_and_context(kind, d=3, n=4, n_flows=n_flows)
    z = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    out, total = flows(z, context)
    out_c, per_component = flows(z, context, per_component=True)
    torch.testing.assert_close(out_c, out)
    assert per_component.shape == z.shape
    torch.testing.assert_close(per_component.sum(-1), total)


def test_iaf_log_determinant_per_component_is_the_jacobian_diagonal():
    """One IAF step is triangular: component j's share of log |det J| is
    log |dz_j / dz0_j|, in the output's order."""
    flows, context = flow_and_context("iaf", d=4, n=1, n_flows=1)
    z = torch.randn(1, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda r: flows(r[None], context)[0][0], z[0])
    # Output j comes from input d - 1 - j (the step's flip).
    diagonal = flows.in_output_order(torch.eye(4, dtype=torch.float64))
    expected = (jacobian * diagonal).sum(-1).abs().log()
    _, per_component = flows(z, context, per_component=True)
    torch.testing.assert_close(per_component[0], expected)


@pytest.mark.parametrize("kind", ["planar", "iaf"])
def test_kl_estimate_floors_each_component_of_the_unbiased_estimate(kind):
    """Without free bits the estimate is the base's closed form plus
    log p(z0) - log p(z) - log |det J|; free bits raise each component's
    term to the floor and never lower the total."""
    d = 3
    flows, context = flow_and_context(kind, d, n=4, n_flows=3)
    base = DiagonalGaussian(
        torch.randn(4, d, generator=torch.Generator().manual_seed(8), dtype=torch.float64),
        torch.randn(4, d, generator=torch.Generator().manual_seed(9), dtype=torch.float64) - 2,
    )
    q = FlowPosterior(base, flows, context)
    eps = torch.randn(6, 4, d, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    z, kl = q.kl_estimate(eps)
    z0 = base.rsample(eps)
    _, log_det = flows(z0, context)
    unbiased = base.kl() + standard_normal_log_prob(z0) - standard_normal_log_prob(z) - log_det
    torch.testing.assert_close(kl, unbiased)
    _, floored = q.kl_estimate(eps, free_bits=2.0)
    assert (floored >= kl - 1e-12).all() and (floored >= 2.0 * d - 1e-12).all()
    assert (floored > kl).any()

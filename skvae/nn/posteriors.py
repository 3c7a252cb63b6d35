"""Approximate posteriors q(z | x): the one home of their arithmetic.

Every model skvae trains (the VAE, M2) and every estimator that reads a
posterior (VAETransformer's ``component_kl_``) draws, scores and measures
q(z | x) through the objects here: :class:`DiagonalGaussian`, and
:class:`FlowPosterior`, the Gaussian followed by a normalizing flow
(:class:`PlanarFlows`, :class:`IAFFlows`), with the same interface.

Draws are reparameterised: ``z = rsample(eps)`` for standard normal noise
``eps`` that the caller draws (from its own ``torch.Generator``), so that
gradients flow through z and randomness never comes from torch's global
state.
"""

import math

import torch
from torch import nn

from .networks import full_precision

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# Keeps exp(log_var) finite in float32 whatever the encoder outputs.
LOG_VAR_BOUND = 30.0


def standard_normal_log_prob(z, per_component=False):
    """log N(z; 0, I), summed over the last dimension (the prior p(z)), or
    each component's term with ``per_component=True``."""
    terms = -0.5 * z.pow(2) - _HALF_LOG_2PI
    return terms if per_component else terms.sum(dim=-1)


class DiagonalGaussian:
    """q(z | x) = N(mean, diag(exp(log_var))), one per row (and per label,
    for M2), over the last dimension.

    Parameters
    ----------
    mean, log_var : Tensor
        Of equal shape ``(..., n_components)``; taken as they are (see
        :meth:`bounded` for an encoder's raw output).

    Examples
    --------
    >>> import torch
    >>> q = DiagonalGaussian(torch.zeros(1, 2), torch.zeros(1, 2))
    >>> q.kl()
    tensor([0.])
    >>> q.rsample(torch.ones(1, 2))
    tensor([[1., 1.]])
    """

    def __init__(self, mean, log_var):
        self.mean = mean
        self.log_var = log_var

    @classmethod
    def bounded(cls, mean, log_var):
        """From an encoder's output, with the log-variance clamped to
        [-LOG_VAR_BOUND, LOG_VAR_BOUND] so that its exponential is finite."""
        return cls(mean, log_var.clamp(-LOG_VAR_BOUND, LOG_VAR_BOUND))

    @classmethod
    def from_stats(cls, stats):
        """From one tensor holding the means then the log-variances on its
        last dimension (a linear head's output), clamped as :meth:`bounded`."""
        mean, log_var = stats.chunk(2, dim=-1)
        return cls.bounded(mean, log_var)

    def rsample(self, eps):
        """z = mean + sigma * eps, differentiable in the parameters; ``eps``
        may carry extra leading dimensions (several draws per row)."""
        return self.mean + eps * torch.exp(0.5 * self.log_var)

    def log_prob_of_noise(self, eps):
        """log q(z | x), summed over the components, at the draw
        ``z = rsample(eps)`` (cheaper from the noise than from z)."""
        return (-0.5 * eps.pow(2) - 0.5 * self.log_var - _HALF_LOG_2PI).sum(dim=-1)

    def kl_per_component(self, free_bits=0.0):
        """KL(q || N(0, I)) of each component, in closed form (Kingma and
        Welling, 2014, appendix B): -1/2 (1 + log_var - mean^2 - exp(log_var)).
        With ``free_bits`` > 0 each term is floored at that many nats
        (Kingma et al., 2016), which removes the pull towards an unused,
        "collapsed" component; only training uses it."""
        per_component = 0.5 * (self.mean.pow(2) + self.log_var.exp() - 1.0 - self.log_var)
        if free_bits > 0:
            per_component = per_component.clamp_min(free_bits)
        return per_component

    def kl(self, free_bits=0.0):
        """KL(q || N(0, I)) per row: :meth:`kl_per_component` summed."""
        return self.kl_per_component(free_bits).sum(dim=-1)

    def aggregate_log_densities(self, z):
        """log q(z_i) under the aggregate posterior of these rows, the
        mixture q(z) = mean over rows j of q(z | x_j), jointly and per
        component: shapes (m,) and (m, n_components), for draws ``z`` of
        shape (m, n_components) and a Gaussian of n rows. Costs m x n x
        n_components."""
        # (m draws, n rows, d) log-densities of each draw under each row's Gaussian.
        diff = z.unsqueeze(1) - self.mean.unsqueeze(0)
        log_var = self.log_var.unsqueeze(0)
        per_component = -0.5 * diff.pow(2) * torch.exp(-log_var) - 0.5 * log_var - _HALF_LOG_2PI
        log_n = math.log(self.mean.shape[0])
        joint = torch.logsumexp(per_component.sum(dim=-1), dim=1) - log_n
        marginals = torch.logsumexp(per_component, dim=1) - log_n
        return joint, marginals

    def total_correlation_terms(self, z):
        """Each row's term of the total correlation of the aggregate
        posterior, log q(z_i) - sum_k log q_k(z_ik), for the draws ``z``
        (one per row, shape (n, n_components)), the densities being the
        mixture over these rows (:meth:`aggregate_log_densities`). Their
        mean estimates KL(q(z) || prod_k q_k(z_k)) with the rows standing
        for the data: the minibatch estimate of beta-TCVAE (Chen et al.,
        NeurIPS 2018; their minibatch-weighted sampling differs by a
        constant, which has no gradient). Differentiable in z and in the
        Gaussian's parameters."""
        joint, marginals = self.aggregate_log_densities(z)
        return joint - marginals.sum(dim=-1)

    def widened(self, scale):
        """The same Gaussian with its standard deviations times ``scale``
        (a defensive importance-sampling proposal)."""
        if scale == 1.0:
            return self
        return DiagonalGaussian(self.mean, self.log_var + 2 * math.log(scale))

    # The interface shared with FlowPosterior (what the models call).

    @property
    def location(self):
        """The point that stands for q in ``transform``: the mean."""
        return self.mean

    def draw(self, eps):
        """A reparameterised draw z for the noise ``eps`` and log q(z | x)."""
        return self.rsample(eps), self.log_prob_of_noise(eps)

    def kl_estimate(self, eps, free_bits=0.0):
        """A draw z for ``eps`` and the KL term of the ELBO per row: here
        the closed form (with ``free_bits``), whatever z."""
        return self.rsample(eps), self.kl(free_bits)


def _planar_parameters(params, d):
    """(u_hat, w, b, w . u_hat) of every planar step at once, from the
    head's output ``params`` of shape (n, n_flows, 2 d + 1) (Rezende and
    Mohamed, 2015): u_hat keeps w . u_hat >= -1, which makes each step
    invertible. None of them depends on z, so they are computed for all
    steps together; only the steps themselves run one after the other."""
    u, w, b = params[..., :d], params[..., d : 2 * d], params[..., 2 * d]
    wu = (w * u).sum(-1, keepdim=True)
    u_hat = u + (torch.nn.functional.softplus(wu) - 1.0 - wu) * w / (
        w.pow(2).sum(-1, keepdim=True) + 1e-8
    )
    return u_hat, w, b, (w * u_hat).sum(-1)


class PlanarFlows(nn.Module):
    """``n_flows`` planar transformations after the encoder's Gaussian,
    amortised: each row's (u, w, b) come from its Gaussian's mean and
    log-variance through one linear layer (as van den Berg et al., UAI
    2018, amortise theirs).

    Parameters
    ----------
    n_components : int
    n_flows : int
    """

    def __init__(self, n_components, n_flows):
        super().__init__()
        self.n_components, self.n_flows = int(n_components), int(n_flows)
        self.head = nn.Linear(2 * n_components, n_flows * (2 * n_components + 1))

    @torch.no_grad()
    def start_near_identity(self, factor=0.01):
        """Shrink the freshly initialised head so that every step starts
        close to the identity (u, w, b near 0): training then begins from
        the Gaussian posterior."""
        self.head.weight.mul_(factor)
        self.head.bias.mul_(factor)

    def forward(self, z, context, per_component=False):
        """Transform z (``(..., n, d)``) given ``context`` (``(n, 2 d)``);
        returns the result and log |det J| summed over the flows, or with
        ``per_component=True`` its share for each component of the result
        (``(..., n, d)``, summing to it): a planar step changes volume
        along one direction only, so its log-determinant is shared equally
        between the components."""
        d = self.n_components
        params = full_precision(self.head(context))
        params = params.view(*params.shape[:-1], self.n_flows, 2 * d + 1)
        u_hat, w, b, wu_hat = _planar_parameters(params, d)
        # Each step: z + u_hat tanh(w . z + b); its log |det J| is
        # log(1 + (1 - tanh^2) w . u_hat), taken for all steps at the end.
        slopes = []
        for k in range(self.n_flows):
            h = torch.tanh((z * w[..., k, :]).sum(-1) + b[..., k])
            z = z + u_hat[..., k, :] * h.unsqueeze(-1)
            slopes.append(h)
        h = torch.stack(slopes, dim=-1)
        log_det = torch.log1p((1.0 - h.pow(2)) * wu_hat).sum(-1)
        if per_component:
            return z, (log_det / d).unsqueeze(-1).expand_as(z)
        return z, log_det

    def in_output_order(self, per_component):
        """A tensor over the input's components (last dimension) put in the
        order of the output's: planar steps keep the order."""
        return per_component


class _MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (MADE,
    Germain et al., 2015); the mask is rebuilt from the sizes, not saved."""

    def __init__(self, n_in, n_out, mask):
        super().__init__(n_in, n_out)
        self.register_buffer("mask", mask.to(torch.float32), persistent=False)

    def forward(self, x):
        return nn.functional.linear(x, self.weight * self.mask.to(self.weight.dtype), self.bias)


class IAFFlows(nn.Module):
    """``n_flows`` steps of an inverse autoregressive flow (Kingma et al.,
    NeurIPS 2016) after the encoder's Gaussian: each step a MADE network of
    z (one hidden layer, with the Gaussian's mean and log-variance as
    context) gives m and s, and z becomes sigma * z + (1 - sigma) * m with
    sigma = sigmoid(s); the order of the components is reversed between
    steps.

    Parameters
    ----------
    n_components : int
    n_flows : int
    hidden : int or None, default=None
        Hidden units of each step (None: max(4 * n_components, 32)).
    """

    #: Added to s before the sigmoid, so that each step starts close to the
    #: identity (Kingma et al.'s "forget gate" bias).
    GATE_BIAS = 2.0

    def __init__(self, n_components, n_flows, hidden=None):
        super().__init__()
        d = int(n_components)
        hidden = int(hidden or max(4 * d, 32))
        self.n_components, self.n_flows = d, int(n_flows)
        inputs = torch.arange(1, d + 1)
        if d > 1:
            degrees = torch.arange(hidden) % (d - 1) + 1
        else:  # one component: its m and s depend on the context only
            degrees = torch.zeros(hidden, dtype=torch.long)
        to_hidden = degrees[:, None] >= inputs[None, :]
        outputs = torch.cat([inputs, inputs])
        to_output = outputs[:, None] > degrees[None, :]
        self.steps = nn.ModuleList(
            nn.ModuleDict(
                {
                    "input": _MaskedLinear(d, hidden, to_hidden),
                    "context": nn.Linear(2 * d, hidden, bias=False),
                    "output": _MaskedLinear(hidden, 2 * d, to_output),
                }
            )
            for _ in range(self.n_flows)
        )

    @torch.no_grad()
    def start_near_identity(self, factor=0.01):
        """Shrink the freshly initialised output layers, so that m and s
        start near 0 (each step then scales z by about sigmoid(GATE_BIAS))."""
        for step in self.steps:
            step["output"].weight.mul_(factor)
            step["output"].bias.mul_(factor)

    def forward(self, z, context, per_component=False):
        """As :meth:`PlanarFlows.forward`; per component, the log-determinant
        is exact: each step scales each component by its own sigma, so
        component j's share is the sum of the log sigma that scaled it,
        followed through the order flips."""
        log_det = torch.zeros_like(z) if per_component else 0.0
        for step in self.steps:
            h = step["input"](z) + step["context"](context)
            m, s = full_precision(step["output"](nn.functional.elu(h))).chunk(2, dim=-1)
            gate = s + self.GATE_BIAS
            sigma = torch.sigmoid(gate)
            z = (sigma * z + (1.0 - sigma) * m).flip(-1)
            if per_component:
                log_det = (log_det + nn.functional.logsigmoid(gate)).flip(-1)
            else:
                log_det = log_det + nn.functional.logsigmoid(gate).sum(-1)
        return z, log_det

    def in_output_order(self, per_component):
        """A tensor over the input's components (last dimension) put in the
        order of the output's: reversed once per step."""
        return per_component.flip(-1) if self.n_flows % 2 else per_component


#: Posterior flows by the estimators' ``posterior`` name.
FLOWS = {"planar": PlanarFlows, "iaf": IAFFlows}


class FlowPosterior:
    """q(z | x): the encoder's :class:`DiagonalGaussian` followed by a flow,
    z = f(z0) with z0 ~ base, log q(z) = log base(z0) - log |det J_f(z0)|.

    It has :class:`DiagonalGaussian`'s interface (``draw``,
    ``kl_estimate``, ``location``, ``widened``, ``kl_per_component``), so
    the models use either alike.

    Parameters
    ----------
    base : DiagonalGaussian
    flows : PlanarFlows or IAFFlows
    context : Tensor or None, default=None
        The flows' context, ``(n, 2 * n_components)``; None: the base's mean
        and log-variance.
    """

    def __init__(self, base, flows, context=None):
        self.base = base
        self.flows = flows
        self.context = (
            torch.cat([base.mean, base.log_var], dim=-1) if context is None else context
        )

    @property
    def location(self):
        """The flow applied to the base's mean (not the mean of q): the
        point ``transform`` returns, deterministic for each row."""
        return self.flows(self.base.mean, self.context)[0]

    def draw(self, eps):
        z0 = self.base.rsample(eps)
        z, log_det = self.flows(z0, self.context)
        return z, self.base.log_prob_of_noise(eps) - log_det

    def kl_estimate(self, eps, free_bits=0.0):
        """A draw z and an unbiased estimate of KL(q || p(z)) per row: the
        base's closed form plus log p(z0) - log p(z) - log |det J| at this
        draw, which is exactly the closed form when the flow is the
        identity.

        ``free_bits`` floors each component's term of that sum, as
        :meth:`DiagonalGaussian.kl_per_component` floors the Gaussian's:
        component j of z gets the base's closed form and log p(z0) of the
        component it came from, minus its own log p(z_j) and its share of
        log |det J| (exact for IAF, an equal share for planar steps). With
        an identity flow this is the Gaussian's floor exactly. (A floor on
        each row's total instead, at ``free_bits`` times the number of
        components, never binds on MNIST-5k, whose training rows carry 17
        nats on average and 10 at least (k=10): it cost planar and IAF 6%
        and 13% of test MSE against the Gaussian. A floor on the base's
        components alone, before the flow, let IAF move the information
        into the flow: -7 nats of held-out score. Ad hoc runs, k=10, seed
        0.)"""
        z0 = self.base.rsample(eps)
        z, log_det = self.flows(z0, self.context, per_component=True)
        before = self.base.kl_per_component() + standard_normal_log_prob(z0, per_component=True)
        terms = (
            self.flows.in_output_order(before)
            - standard_normal_log_prob(z, per_component=True)
            - log_det
        )
        if free_bits > 0:
            terms = terms.clamp_min(free_bits)
        return z, terms.sum(dim=-1)

    def widened(self, scale):
        """The base widened (the flows and their context unchanged)."""
        return FlowPosterior(self.base.widened(scale), self.flows, self.context)

    def kl_per_component(self, free_bits=0.0):
        """The base Gaussian's KL per component (before the flow, which
        mixes the components): what orders ``component_kl_``."""
        return self.base.kl_per_component(free_bits)


def make_flows(kind, n_components, n_flows):
    """The flow module called ``kind`` ("planar" or "iaf"), or None for
    "gaussian" (no flow)."""
    if kind == "gaussian":
        return None
    try:
        return FLOWS[kind](n_components, n_flows)
    except KeyError:
        raise ValueError(
            f"Unknown posterior {kind!r}; expected 'gaussian' or one of {sorted(FLOWS)}."
        ) from None

"""The VAE module: encode, reparameterise, decode, and per-sample bounds.

Loss terms are returned per sample; callers reduce them. Randomness comes in
as explicit noise tensors or a ``torch.Generator``, never from torch's global
random state.
"""

import math

import torch
from torch import nn

from .likelihoods import make_likelihood
from .networks import init_parameters, make_networks
from .posteriors import (
    LOG_VAR_BOUND,
    DiagonalGaussian,
    FlowPosterior,
    make_flows,
    standard_normal_log_prob,
)

# Fewest latent draws when validating an imputer on held-out entries.
_MIN_CONDITIONAL_DRAWS = 10
# Spread of the imputation proposal relative to q(z | x): see VAE.impute.
_PROPOSAL_SCALE = 1.25
# Draws whose normalised importance weight is below exp(this) get no
# gradient in the importance-weighted bound (see _iw_logsumexp).
_LOG_NEGLIGIBLE_WEIGHT = -69.0  # a weight of 1e-30
# Refinement of q(z | x) for bounds (VAE.refined_posterior): latent draws
# per step and Adam's step size, in latent units (the prior's standard
# deviation is 1).
REFINEMENT_DRAWS = 5
REFINEMENT_LEARNING_RATE = 0.05


class VAE(nn.Module):
    """A variational autoencoder with a standard normal prior.

    Parameters
    ----------
    encoder : nn.Module
        ``x -> (mean, log_var)`` of q(z | x).
    decoder : nn.Module
        ``z -> out``, the raw parameters of p(x | z).
    likelihood : skvae.nn.Likelihood
        Observation model consuming the decoder output.
    n_components : int
        Dimension of the latent space.
    input_bounds : tuple of two tensors or None
        Per-feature lower and upper bounds applied to the encoder's input
        (the training range, widened), so that a test value far outside
        what the encoder saw cannot produce a meaningless code. The
        likelihood always sees the unclipped x.
    training_samples : int, default=1
        Latent draws per row in the training objective: 1 is the ELBO, K > 1
        the importance-weighted bound (IWAE; MIWAE when values are missing).
    free_bits : float, default=0.0
        Floor, in nats, on each latent component's KL term in the training
        ELBO (see :meth:`~skvae.nn.posteriors.DiagonalGaussian.kl_per_component`;
        with ``flows``, on each row's total, see
        :meth:`~skvae.nn.posteriors.FlowPosterior.kl_estimate`), in
        ``training_loss`` (so also when validating it); bounds on log p(x)
        never use it.
    flows : nn.Module or None, default=None
        A flow after the encoder's Gaussian (see :mod:`skvae.nn.posteriors`):
        q(z | x) is then a :class:`~skvae.nn.posteriors.FlowPosterior`.
    tc_extra_weight : float, default=0.0
        beta-TCVAE (Chen et al., NeurIPS 2018): the total correlation of
        the aggregate posterior, estimated on each training batch, enters
        the training ELBO with this much more weight than the rest of the
        KL term (the KL weight plus this, floored at 0). Training only
        (``self.training``): validation and bounds never use it. Needs the
        Gaussian posterior and one training draw.
    """

    def __init__(
        self,
        encoder,
        decoder,
        likelihood,
        n_components,
        input_bounds=None,
        training_samples=1,
        free_bits=0.0,
        flows=None,
        tc_extra_weight=0.0,
    ):
        super().__init__()
        if tc_extra_weight and (flows is not None or training_samples > 1):
            raise ValueError(
                "The total-correlation term needs the Gaussian posterior and one "
                "training draw."
            )
        self.tc_extra_weight = float(tc_extra_weight)
        self.n_components = int(n_components)
        self.training_samples = int(training_samples)
        self.free_bits = float(free_bits)
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        lower, upper = input_bounds if input_bounds is not None else (None, None)
        self.register_buffer("input_lower", lower)
        self.register_buffer("input_upper", upper)
        self.flows = flows

    @classmethod
    def from_config(cls, config, generator=None):
        """Build from a plain dict of built-in values.

        Keys: ``network``, ``n_features``, ``n_components``, ``likelihood``,
        ``hidden_layer_sizes``, ``activation`` and optionally
        ``image_shape`` and ``conv_channels`` (for ``network="conv"``) and
        ``input_bounds`` (a pair of per-feature lists, or None) and
        ``training_samples`` (default 1) and ``free_bits`` (default 0) and
        ``posterior`` ("gaussian", the default, "planar" or "iaf") with
        ``n_flows``.
        ``likelihood`` is a name or a list
        of column parts (see :func:`~skvae.nn.likelihoods.make_likelihood`).
        Parameters are initialised from ``generator`` when given.
        """
        likelihood = make_likelihood(config["likelihood"], config["n_features"])
        encoder, decoder = make_networks(
            config["network"],
            n_features=likelihood.n_inputs,
            n_components=config["n_components"],
            n_outputs=likelihood.n_outputs,
            hidden_layer_sizes=config["hidden_layer_sizes"],
            activation=config["activation"],
            image_shape=config.get("image_shape"),
            conv_channels=config.get("conv_channels"),
        )
        bounds = config.get("input_bounds")
        if bounds is not None:
            bounds = tuple(torch.tensor(b, dtype=torch.float32) for b in bounds)
        model = cls(
            encoder,
            decoder,
            likelihood,
            config["n_components"],
            bounds,
            training_samples=config.get("training_samples", 1),
            free_bits=config.get("free_bits", 0.0),
            flows=make_flows(
                config.get("posterior", "gaussian"), config["n_components"], config.get("n_flows", 0)
            ),
            tc_extra_weight=config.get("tc_extra_weight", 0.0),
        )
        if generator is not None:
            init_parameters(model, generator)
            if model.flows is not None:
                model.flows.start_near_identity()
        return model

    @property
    def decodes_per_row(self):
        """Decoder passes per training row (the cost of a step)."""
        return self.training_samples

    def _gaussian(self, x, mask=None):
        """The encoder's Gaussian; missing entries read as 0."""
        if self.input_lower is not None:
            x = torch.clamp(x, self.input_lower, self.input_upper)
        return DiagonalGaussian.bounded(*self.encoder(self.likelihood.encoder_input(x, mask)))

    def posterior(self, x, mask=None):
        """q(z | x): a :class:`~skvae.nn.posteriors.DiagonalGaussian`, or
        with ``flows`` a :class:`~skvae.nn.posteriors.FlowPosterior`;
        missing entries read as 0."""
        q = self._gaussian(x, mask)
        return q if self.flows is None else FlowPosterior(q, self.flows)

    def encode(self, x, mask=None):
        """Mean and log-variance of q(z | x)'s Gaussian (before any flow;
        see :meth:`posterior`)."""
        q = self._gaussian(x, mask)
        return q.mean, q.log_var

    def decode(self, z):
        return self.decoder(z)

    def elbo_terms(self, x, eps, mask=None):
        """Expected log-likelihood (one sample) and KL, each per sample."""
        z, kl = self.posterior(x, mask).kl_estimate(eps)
        return self.likelihood.log_prob(x, self.decode(z), mask), kl

    def training_loss(
        self, x, mask=None, target=None, *, kl_weight=1.0, capacity=None, generator=None
    ):
        """Negative beta-weighted ELBO per sample (the quantity minimised),
        or the negative importance-weighted bound with ``training_samples``
        draws, whose KL part is weighted by ``kl_weight`` inside each log-weight.

        With ``capacity`` (nats; the ELBO only): the controlled-capacity
        objective of Burgess et al. (2018), the expected log-likelihood
        minus ``kl_weight * |KL - capacity|``, the KL being the batch's mean
        (each row's term carries the sign of that mean's deviation, so that
        the rows' losses average to the objective and its gradient).

        In training mode with ``tc_extra_weight``, each row's loss adds that
        weight times its term of the batch's total correlation (see
        ``tc_extra_weight``).

        With ``target`` (a mask of held-out entries, for validation): the
        error of imputing those entries from the ``mask`` entries (see
        :meth:`imputation_error`).
        """
        if target is not None:
            eps = torch.randn(
                max(self.training_samples, _MIN_CONDITIONAL_DRAWS),
                x.shape[0],
                self.n_components,
                generator=generator,
                device=x.device,
                dtype=x.dtype,
            )
            return self.imputation_error(x, mask, target, eps)
        if self.training_samples > 1:
            if capacity is not None:
                raise ValueError("The capacity objective is an ELBO: one training draw.")
            eps = torch.randn(
                self.training_samples,
                x.shape[0],
                self.n_components,
                generator=generator,
                device=x.device,
                dtype=x.dtype,
            )
            log_w = self.log_weights(x, eps, mask, kl_weight=kl_weight)
            return math.log(self.training_samples) - _IWLogSumExp.apply(log_w)
        eps = torch.randn(
            x.shape[0],
            self.n_components,
            generator=generator,
            device=x.device,
            dtype=x.dtype,
        )
        q = self.posterior(x, mask)
        z, kl = q.kl_estimate(eps, self.free_bits)
        if capacity is not None:
            sign = torch.sign(kl.detach().mean() - capacity)
            kl = sign * (kl - capacity)
        loss = kl_weight * kl - self.likelihood.log_prob(x, self.decode(z), mask)
        if self.tc_extra_weight and self.training:
            tc_weight = max(kl_weight + self.tc_extra_weight, 0.0) - kl_weight
            loss = loss + tc_weight * q.total_correlation_terms(z)
        return loss

    def log_weights(self, x, eps, mask=None, *, kl_weight=1.0):
        """Importance log-weights log p(x, z) - log q(z | x), shape (K, n).

        ``eps`` has shape ``(K, n, n_components)`` or ``(K, 1, n_components)``
        (the same K draws for every row, which keeps each row's bound
        independent of the other rows in the batch). ``kl_weight`` scales
        log p(z) - log q(z | x) (beta; 1 for the bound itself).
        """
        return self._importance_terms(x, eps, mask, kl_weight)[0]

    def _importance_terms(
        self, x, eps, mask, kl_weight=1.0, proposal_scale=1.0, posterior=None
    ):
        """Log-weights (K, n) and the decoder outputs (K, n, n_outputs), for
        draws from q(z | x) (or ``posterior``, one for these rows) with its
        spread multiplied by ``proposal_scale``."""
        q = self.posterior(x, mask) if posterior is None else posterior
        z, log_q = q.widened(proposal_scale).draw(eps)
        out = self.decode(z)
        log_lik = self.likelihood.log_prob(x, out, mask)
        return log_lik + kl_weight * (standard_normal_log_prob(z) - log_q), out

    def imputation_error(self, x, mask, target, eps):
        """Squared error of imputing the ``target`` entries of x from its
        ``mask`` entries, summed per sample: the averaged predictive
        parameters of :meth:`impute` against the truth (squared error of
        the mean; the Brier score for categories).

        Early stopping of an imputer watches this rather than a likelihood:
        held-out log-likelihood also rewards calibrated spreads, and peaks
        long before the imputed means stop improving.
        """
        stats = self.predictive_statistics(x, mask, eps)
        errors = self.likelihood.prediction_error(x, stats)
        return torch.where(target, errors, 0.0).sum(dim=-1)

    def predictive_statistics(self, x, mask, eps, outputs=None, likelihood=None):
        """The predictive parameters of p(x | x_obs) (means, probabilities
        of each level), shape (n, n_statistics): those of p(x | z_k)
        averaged over the draws ``eps`` with self-normalised importance
        weights p(x_obs, z_k) / q(z_k | x_obs). See :meth:`impute`.

        With ``outputs`` (a slice of the decoder's outputs) and
        ``likelihood`` (one for those outputs), only that likelihood's
        statistics of those outputs: e.g. the level probabilities of one
        categorical column, without computing every other column's.

        The draws are put on the last, contiguous dimension to be summed:
        torch's CPU kernels reduce over a leading dimension in an order
        that depends on the number of threads (imputations differed by
        about 1e-8 between 1 and 2 threads), over a last one row by row in
        the same order whatever the threads."""
        log_w, out = self._importance_terms(x, eps, mask, proposal_scale=_PROPOSAL_SCALE)
        weights = torch.softmax(log_w.T.contiguous(), dim=-1)  # (n, K)
        # (K, n, n_statistics) -> (n, n_statistics, K)
        if outputs is not None:
            out = out[..., outputs]
        likelihood = self.likelihood if likelihood is None else likelihood
        predictive = likelihood.predictive(out).permute(1, 2, 0).contiguous()
        predictive *= weights.unsqueeze(1)
        return predictive.sum(dim=-1)

    def impute(self, x, mask, eps, generator=None, shrinkage=None):
        """Fill the entries of x where ``mask`` is False, by self-normalised
        importance sampling over the draws ``eps`` (MIWAE, Mattei and
        Frellsen, ICML 2019, section 4.1).

        The weights w_k = p(x_obs, z_k) / q(z_k | x_obs), normalised over k,
        average the predictive parameters of p(x | z_k) (means,
        probabilities) into those of p(x_mis | x_obs), whose point estimate
        (mean, most probable level) fills each hole. With a ``generator``, a
        single draw instead: z_k resampled by its weight, then x ~ p(x | z_k)
        (sampling importance resampling), one multiple imputation.
        Observed entries come back unchanged.

        ``shrinkage``, a pair (weight, target) of tensors of shape
        (n_statistics,), moves the averaged parameters to
        ``(1 - weight) * stats + weight * target`` before the point estimate
        (VAEImputer's calibration of categorical columns); it does not
        apply to a single draw.

        The draws come from q(z | x_obs) widened by a quarter: amortised
        posteriors are narrower than the true one, and a wider proposal
        (defensive importance sampling) keeps the weights from
        degenerating; the weights correct for it exactly.
        """
        if generator is None:
            stats = self.predictive_statistics(x, mask, eps)
            if shrinkage is not None:
                weight, target = shrinkage
                stats = torch.lerp(stats, target, weight)
            filled = self.likelihood.point_estimate(stats)
        else:
            log_w, out = self._importance_terms(x, eps, mask, proposal_scale=_PROPOSAL_SCALE)
            # Gumbel-max picks k with probability softmax(log_w)[k] per row.
            u = torch.rand(log_w.shape, generator=generator, device=x.device, dtype=x.dtype)
            u = u.clamp_min(torch.finfo(u.dtype).tiny)
            k = (log_w - torch.log(-torch.log(u))).argmax(dim=0)
            chosen = out.gather(0, k.view(1, -1, 1).expand(1, *out.shape[1:])).squeeze(0)
            filled = self.likelihood.sample(chosen, generator)
        return torch.where(mask, x, filled)

    def log_likelihood_bound(self, x, eps, mask=None, refinement_eps=None):
        """Importance-weighted lower bound on log p(x) per sample (Burda et
        al., 2016); with K = 1 it is the ELBO. With ``refinement_eps``, the
        draws come from :meth:`refined_posterior` instead of q(z | x): any
        proposal gives a lower bound, and a refined one a tighter bound."""
        posterior = None
        if refinement_eps is not None and refinement_eps.shape[0]:
            posterior = self.refined_posterior(x, mask, refinement_eps)
        log_w = self._importance_terms(x, eps, mask, posterior=posterior)[0]
        return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])

    def refined_posterior(self, x, mask, eps, learning_rate=REFINEMENT_LEARNING_RATE):
        """q(z | x) with its Gaussian refined for each row: Adam steps, one
        per leading entry of ``eps``, that raise the row's importance-
        weighted bound over the step's draws in the Gaussian's mean and
        log-variance, starting from the encoder's.

        The encoder is trained to give every row a good posterior at once,
        and on rows it did not see it leaves a gap to the best Gaussian
        for the row (the amortisation gap, Cremer et al., ICML 2018);
        optimising the row's own posterior closes it (semi-amortised
        inference, Kim et al., ICML 2018). A flow's steps stay those the
        encoder gave the row; only the Gaussian before them moves.

        The bound rather than the ELBO: the ELBO's best Gaussian is
        narrower than a good importance-sampling proposal, and on a barely
        trained model refining by the ELBO loosened the bound of 100
        draws (ad hoc, 200 rows of the tests' blobs after 4 epochs: -0.02
        nats with 20 steps, +0.04 by the bound; on MNIST-5k both gave
        about +2 nats).

        ``eps``: the standard normal draws of the steps, shape
        ``(n_steps, n_draws, 1, n_components)``: each step's bound is
        over ``n_draws`` draws, the same for every row. Adam
        updates each row's parameters from that row's gradient alone, so
        each row's result depends on neither the batch nor its order.
        Runs with gradients enabled whatever the caller's mode (the
        inputs must not be inference tensors); returns a posterior of
        the same kind as :meth:`posterior`, without gradients.
        """
        with torch.no_grad():
            q = self.posterior(x, mask)
        base = q if self.flows is None else q.base
        context = None if self.flows is None else q.context
        params = [base.mean.detach().clone(), base.log_var.detach().clone()]
        # Adam is elementwise: each row's parameters move by their own
        # gradient. maximize: the bound goes up.
        optimizer = torch.optim.Adam(params, lr=learning_rate, maximize=True, foreach=False)
        for step_eps in eps:
            with torch.enable_grad():
                posterior = DiagonalGaussian(*(p.requires_grad_(True) for p in params))
                if self.flows is not None:
                    posterior = FlowPosterior(posterior, self.flows, context)
                z, log_q = posterior.draw(step_eps)
                log_w = self.likelihood.log_prob(x, self.decode(z), mask)
                log_w = log_w + standard_normal_log_prob(z) - log_q
                # The step's importance-weighted bound, up to a constant;
                # gradients for the Gaussian only, not the decoder's weights.
                bound = torch.logsumexp(log_w, dim=0)
                grads = torch.autograd.grad(bound.sum(), params)
            for p, g in zip(params, grads):
                p.grad = g
            optimizer.step()
            with torch.no_grad():
                params[1].clamp_(-LOG_VAR_BOUND, LOG_VAR_BOUND)
        posterior = DiagonalGaussian(*(p.detach() for p in params))
        return posterior if self.flows is None else FlowPosterior(posterior, self.flows, context)

    def extra_repr(self):
        return f"n_components={self.n_components}"


class _IWLogSumExp(torch.autograd.Function):
    """``logsumexp`` over the draws (dim 0), whose gradient leaves out
    draws of normalised weight below 1e-30.

    The gradient of the importance-weighted bound with respect to each
    draw's log-weight is that draw's normalised weight, and most of the
    draws of an importance-weighted bound get weights far below float32's
    smallest normal number (about 1e-38): those gradients, and everything
    the backward pass computes from them, are subnormal, and CPUs do
    arithmetic on subnormal numbers many times slower, which made the
    decoder's backward matrix products the largest cost of training an
    imputer. Their contribution to any parameter is far below what a
    float32 update can register: this changes the time, not the result.
    """

    @staticmethod
    def forward(ctx, log_w):
        total = torch.logsumexp(log_w, dim=0)
        ctx.save_for_backward(log_w, total)
        return total

    @staticmethod
    def backward(ctx, grad):
        log_w, total = ctx.saved_tensors
        log_share = log_w - total
        weights = log_share.clamp_min(_LOG_NEGLIGIBLE_WEIGHT).exp()
        weights = weights.masked_fill(log_share < _LOG_NEGLIGIBLE_WEIGHT, 0.0)
        return grad * weights

"""Observation models p(x | decoder output), one object per kind.

Each likelihood factorises over features and exposes the same interface:

- ``n_outputs``: how many raw decoder outputs it consumes;
- ``log_prob(x, out, mask=None)``: log-density per sample, summed over the
  observed features (``mask`` is True where a value is observed); ``out`` may
  carry extra leading dimensions (importance samples), ``x`` broadcasts;
- ``mean(out)``: the expected value of x, in the units the model sees (the
  most probable level for categories);
- ``sample(out, generator)``: a draw of x;
- ``encoder_input(x, mask)``: what the encoder reads for x (missing entries
  blanked; categories one-hot), ``n_inputs`` wide;
- ``predictive(out)`` and ``point_estimate(stats)``: parameters of p(x | z)
  that average linearly over a mixture of latent draws (means,
  probabilities), and the single value to impute from their average.

Tables that mix kinds of columns combine one likelihood per kind with
:class:`Mixed`, described by a plain list (see :func:`make_likelihood`).

Likelihoods are ``nn.Module`` objects so that learned parameters (the
Gaussian's per-feature scale) live in the VAE's state dict.
"""

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from .networks import full_precision

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class Likelihood(nn.Module):
    """Base class: a factorised observation model over ``n_features``.

    Two class attributes tell the estimators how to treat the features a
    likelihood models, so that a new likelihood says it in its own class:
    ``standardised`` (the estimators shift and scale each feature to mean 0
    and standard deviation 1 before the network sees it, and back after)
    and ``support`` (the values it accepts, ``(lowest, highest)``, or None
    for any real number; ``fit`` refuses data outside it).
    """

    #: Raw decoder outputs per feature.
    outputs_per_feature = 1
    #: Features are standardised for the network (see the class docstring).
    standardised = False
    #: The values the likelihood accepts, or None for any real number.
    support = None

    def __init__(self, n_features):
        super().__init__()
        self.n_features = int(n_features)

    @property
    def n_outputs(self):
        return self.n_features * self.outputs_per_feature

    @property
    def n_inputs(self):
        """Width of what the encoder reads (see ``encoder_input``)."""
        return self.n_features

    @property
    def n_statistics(self):
        """Width of ``predictive(out)``."""
        return self.n_features

    def encoder_input(self, x, mask=None):
        """What the encoder reads: x, with missing entries set to 0."""
        return x if mask is None else torch.where(mask, x, 0.0)

    def predictive(self, out):
        """Parameters of p(x | z) whose weighted average over latent draws
        is the same parameter of the mixture (here the mean)."""
        return self.mean(out)

    def point_estimate(self, stats):
        """The value to impute from averaged ``predictive`` parameters."""
        return stats

    def prediction_error(self, x, stats):
        """Per-entry squared error of averaged ``predictive`` parameters
        against x (for categories, the Brier score of the probabilities)."""
        return (stats - x) ** 2

    def log_prob_elements(self, x, out):
        """Per-element log-density, shape of ``out`` broadcast with ``x``."""
        raise NotImplementedError

    def log_prob(self, x, out, mask=None):
        """Log-density of each sample, summed over observed features."""
        elements = self.log_prob_elements(x, out)
        if mask is not None:
            elements = torch.where(mask, elements, 0.0)
        return elements.sum(dim=-1)

    def mean(self, out):
        raise NotImplementedError

    def sample(self, out, generator=None):
        raise NotImplementedError


# The Gaussian likelihood's smallest standard deviation, in model units.
GAUSSIAN_MIN_SCALE = 1e-3


class Gaussian(Likelihood):
    """Gaussian with a decoded mean and a learned per-feature scale.

    The scale does not depend on z (as in factor analysis), which keeps
    training stable; it is floored at ``min_scale`` so that a feature that
    is constant in the training data cannot drive the density to infinity.

    Parameters
    ----------
    n_features : int
    min_scale : float, default=1e-3
        Smallest standard deviation, in the units the model sees
        (standardised features, where the estimator standardises).
    """

    standardised = True

    def __init__(self, n_features, min_scale=GAUSSIAN_MIN_SCALE):
        super().__init__(n_features)
        self.min_scale = float(min_scale)
        # softplus(raw) + min_scale == 1 at initialisation.
        start = math.log(math.expm1(1.0 - self.min_scale))
        self.raw_scale = nn.Parameter(torch.full((self.n_features,), start))

    @property
    def scale(self):
        return F.softplus(self.raw_scale) + self.min_scale

    def log_prob_elements(self, x, out):
        scale = self.scale
        return -0.5 * ((x - out) / scale) ** 2 - torch.log(scale) - _HALF_LOG_2PI

    def mean(self, out):
        return out

    def sample(self, out, generator=None):
        noise = torch.randn(
            out.shape, generator=generator, device=out.device, dtype=out.dtype
        )
        return out + self.scale * noise


class Bernoulli(Likelihood):
    """Bernoulli with decoded logits, for binary data or intensities in [0, 1].

    ``log_prob`` is the negative binary cross-entropy, computed on logits
    (never sigmoid followed by log). For x strictly between 0 and 1 it is
    not a normalised density; use :class:`ContinuousBernoulli` or
    :class:`Gaussian` where a density is needed.
    """

    support = (0.0, 1.0)

    @staticmethod
    def _cross_entropy(x, out):
        return F.binary_cross_entropy_with_logits(out, x.expand_as(out), reduction="none")

    def log_prob_elements(self, x, out):
        return -self._cross_entropy(x, out)

    def log_prob(self, x, out, mask=None):
        if mask is not None:
            return super().log_prob(x, out, mask)
        # Negate the per-sample sums, not every element: the hot path of
        # training on images, one full-size operation less each way.
        return -self._cross_entropy(x, out).sum(dim=-1)

    def mean(self, out):
        return torch.sigmoid(out)

    def sample(self, out, generator=None):
        return torch.bernoulli(torch.sigmoid(out), generator=generator)


# |logit| below which the continuous Bernoulli uses its Taylor expansions.
_CB_SMALL = 1e-2


class ContinuousBernoulli(Likelihood):
    """Continuous Bernoulli: a proper density on [0, 1] (Loaiza-Ganem and
    Cunningham, NeurIPS 2019).

    p(x | l) = C(l) sigmoid(l)^x (1 - sigmoid(l))^(1 - x), with the
    normaliser written in logits as C(l) = l / tanh(l / 2) (2 at l = 0).
    """

    support = (0.0, 1.0)

    @staticmethod
    def _log_normaliser(logits):
        a = logits.abs()
        small = a < _CB_SMALL
        safe = torch.where(small, torch.ones_like(a), a)
        large = torch.log(safe) - torch.log(torch.tanh(safe / 2))
        return torch.where(small, torch.log(2 + a**2 / 6), large)

    def log_prob_elements(self, x, out):
        bernoulli = -F.binary_cross_entropy_with_logits(
            out, x.expand_as(out), reduction="none"
        )
        return bernoulli + self._log_normaliser(out)

    def mean(self, out):
        small = out.abs() < _CB_SMALL
        safe = torch.where(small, torch.ones_like(out), out)
        # E[x] = sigmoid(l) / tanh(l / 2) - 1 / l, and 1/2 + l / 12 near 0.
        large = torch.sigmoid(safe) / torch.tanh(safe / 2) - 1 / safe
        return torch.where(small, 0.5 + out / 12, large)

    def sample(self, out, generator=None):
        u = torch.rand(out.shape, generator=generator, device=out.device, dtype=out.dtype)
        # Inverse CDF, written for l > 0 and mirrored (x(l, u) = 1 - x(-l, 1 - u)).
        a = out.abs()
        v = torch.where(out >= 0, u, 1 - u)
        safe = torch.where(a < _CB_SMALL, torch.ones_like(a), a)
        x_pos = 1 + torch.log(v + (1 - v) * torch.exp(-safe)) / safe
        x_pos = torch.where(a < _CB_SMALL, v, x_pos)
        return torch.where(out >= 0, x_pos, 1 - x_pos).clamp(0.0, 1.0)


# Categorical columns with at most this many levels share the training
# objective's scatter-based log-sum-exp; wider ones (an identifier-like
# column of thousands of levels) each take one log_softmax, which is
# faster there than scattering every output.
_SEGMENT_MAX_LEVELS = 64


class Categorical(Likelihood):
    """One softmax over the levels of each categorical column.

    x holds level codes ``0 .. n_categories[j] - 1`` (as floats, like every
    other column); the decoder outputs one logit per level, columns side by
    side. The encoder reads each column one-hot.

    The encoder's input and the training objective (``log_prob``) treat
    every column at once, without padding (each column's log-sum-exp by
    scatter and index-add over the outputs; a column of more than 64
    levels by its own log_softmax), in float32 also when the logits come
    in bfloat16 under mixed precision: a training step of a small network
    costs mostly per-operation overhead, and this takes a few operations
    whatever the number of columns. The other methods compute columns in
    groups, padded to the most levels in their group: columns whose
    numbers of levels round up to the same power of two share one, so
    padding at most doubles the work. (One padded block for all columns
    made every column of a table with one column of thousands of levels,
    such as flights' tail numbers, cost that many logits.)

    Parameters
    ----------
    n_categories : sequence of int
        Number of levels of each column.
    """

    def __init__(self, n_categories):
        n_categories = [int(c) for c in n_categories]
        if not n_categories or min(n_categories) < 1:
            raise ValueError(f"n_categories must be positive ints, got {n_categories!r}.")
        super().__init__(len(n_categories))
        self.n_categories = n_categories
        offsets = [0, *itertools.accumulate(n_categories)][:-1]
        buckets = {}
        for j, count in enumerate(n_categories):
            buckets.setdefault((count - 1).bit_length(), []).append(j)
        self._groups = [cols for _, cols in sorted(buckets.items())]
        positions = []  # output positions of each group's levels, in group order
        for g, cols in enumerate(self._groups):
            width = max(n_categories[j] for j in cols)
            # (column, level) -> position in the decoder output; padding
            # points at the column's first logit and is masked out.
            index = [
                [offsets[j] + (level if level < n_categories[j] else 0) for level in range(width)]
                for j in cols
            ]
            valid = [[level < n_categories[j] for level in range(width)] for j in cols]
            self.register_buffer(f"_columns{g}", torch.tensor(cols), persistent=False)
            self.register_buffer(f"_index{g}", torch.tensor(index), persistent=False)
            self.register_buffer(f"_valid{g}", torch.tensor(valid), persistent=False)
            positions += [offsets[j] + level for j in cols for level in range(n_categories[j])]
        # A group of one column reads its logits as a slice (no copy).
        self._slices = [
            slice(offsets[cols[0]], offsets[cols[0]] + n_categories[cols[0]])
            if len(cols) == 1 else None
            for cols in self._groups
        ]
        # Put the groups' results, concatenated, back in column (and
        # output) order: only needed with more than one group.
        order = [j for cols in self._groups for j in cols]
        self._reorder = len(self._groups) > 1
        column_order = sorted(range(len(order)), key=order.__getitem__)
        output_order = sorted(range(len(positions)), key=positions.__getitem__)
        self.register_buffer("_column_order", torch.tensor(column_order), persistent=False)
        self.register_buffer("_output_order", torch.tensor(output_order), persistent=False)
        # The encoder's input and the objective (see the class docstring):
        # each column's first output and highest code; the narrow columns,
        # their outputs, offsets among those, and the column of each.
        self.register_buffer("_offsets", torch.tensor(offsets), persistent=False)
        self.register_buffer("_highest", torch.tensor(n_categories) - 1, persistent=False)
        narrow = [j for j, count in enumerate(n_categories) if count <= _SEGMENT_MAX_LEVELS]
        self._wide = [
            (j, slice(offsets[j], offsets[j] + count))
            for j, count in enumerate(n_categories) if count > _SEGMENT_MAX_LEVELS
        ]
        narrow_offsets = [0, *itertools.accumulate(n_categories[j] for j in narrow)][:-1]
        self.register_buffer("_narrow", torch.tensor(narrow, dtype=torch.long), persistent=False)
        self.register_buffer(
            "_narrow_outputs",
            torch.tensor(
                [offsets[j] + level for j in narrow for level in range(n_categories[j])],
                dtype=torch.long,
            ),
            persistent=False,
        )
        self.register_buffer(
            "_narrow_offsets", torch.tensor(narrow_offsets, dtype=torch.long), persistent=False
        )
        self.register_buffer(
            "_local_column",
            torch.tensor(
                [k for k, j in enumerate(narrow) for _ in range(n_categories[j])],
                dtype=torch.long,
            ),
            persistent=False,
        )
        # Narrow columns' results then wide ones', back to column order.
        computed = narrow + [j for j, _ in self._wide]
        self.register_buffer(
            "_objective_order",
            torch.tensor(sorted(range(len(computed)), key=computed.__getitem__), dtype=torch.long),
            persistent=False,
        )

    def _group(self, g):
        return (
            getattr(self, f"_columns{g}"), getattr(self, f"_index{g}"), getattr(self, f"_valid{g}")
        )

    def _in_order(self, parts, order):
        """The groups' results, side by side on the last dimension, put in
        ``order`` (``_column_order`` for one value per column,
        ``_output_order`` for one per level)."""
        if not self._reorder:
            return parts[0]
        return torch.cat(parts, dim=-1)[..., order]

    def _group_columns(self, t, g):
        """The entries of group ``g``'s columns on the last dimension of ``t``."""
        return t[..., self._group(g)[0]] if self._reorder else t

    @property
    def n_outputs(self):
        return sum(self.n_categories)

    n_inputs = n_outputs
    n_statistics = n_outputs

    def _log_probs(self, out, g):
        """Log-probabilities of each level of group ``g``'s columns, shape
        (..., n_columns of the group, most levels in the group)."""
        if self._slices[g] is not None:
            return torch.log_softmax(out[..., self._slices[g]], dim=-1).unsqueeze(-2)
        _, index, valid = self._group(g)
        logits = out[..., index].masked_fill(~valid, -torch.inf)
        return torch.log_softmax(logits, dim=-1)

    def _codes(self, x):
        return torch.minimum(x.long().clamp(min=0), self._highest)

    def log_prob_elements(self, x, out):
        """log p(x_j | z) of each column: its level's logit minus the
        log-sum-exp of its column's logits. The narrow columns are computed
        all at once, without padding (a few operations whatever their
        number: a training step of a small network is mostly
        per-operation cost), each wide column by its own log_softmax."""
        logits = full_precision(out)
        codes = self._codes(x)
        lead = logits.shape[:-1]
        parts = []
        if self._narrow.numel():
            narrow = logits[..., self._narrow_outputs] if self._wide else logits
            narrow_codes = codes[..., self._narrow] if self._wide else codes
            parts.append(self._segment_log_probs(narrow, narrow_codes))
        for j, outputs in self._wide:
            log_probs = torch.log_softmax(logits[..., outputs], dim=-1)
            parts.append(log_probs.gather(-1, codes[..., j : j + 1].expand(*lead, 1)))
        if not self._wide:
            return parts[0]
        return torch.cat(parts, dim=-1)[..., self._objective_order]

    def _segment_log_probs(self, logits, codes):
        """log-probabilities of ``codes`` (..., n narrow columns) under the
        narrow columns' ``logits``, side by side: log-sum-exp per column by
        scatter_reduce (the largest logit, for stability) and index_add."""
        lead, width = logits.shape[:-1], logits.shape[-1]
        column = self._local_column
        n_columns = self._narrow.numel()
        with torch.no_grad():
            top = logits.new_full((*lead, n_columns), -torch.inf).scatter_reduce(
                -1, column.expand(*lead, width), logits, "amax"
            )
        exp = (logits - top.index_select(-1, column)).exp()
        log_norm = logits.new_zeros((*lead, n_columns)).index_add(-1, column, exp).log() + top
        chosen = (codes + self._narrow_offsets).expand(*lead, n_columns)
        return logits.gather(-1, chosen) - log_norm

    def encoder_input(self, x, mask=None):
        """One-hot levels (zeros where ``mask`` is False), every column at
        once."""
        positions = self._codes(x) + self._offsets
        one_hot = x.new_zeros((*x.shape[:-1], self.n_outputs))
        if mask is None:
            return one_hot.scatter_(-1, positions, 1.0)
        return one_hot.scatter_(-1, positions, mask.to(x.dtype))

    def mean(self, out):
        parts = [self._log_probs(out, g).argmax(dim=-1) for g in range(len(self._groups))]
        return self._in_order(parts, self._column_order).to(out.dtype)

    def predictive(self, out):
        parts = [
            self._log_probs(out, g).exp()[..., self._group(g)[2]] for g in range(len(self._groups))
        ]
        return self._in_order(parts, self._output_order)

    def point_estimate(self, stats):
        parts = []
        for g in range(len(self._groups)):
            _, index, valid = self._group(g)
            parts.append(stats[..., index].masked_fill(~valid, -1.0).argmax(dim=-1))
        return self._in_order(parts, self._column_order).to(stats.dtype)

    def prediction_error(self, x, stats):
        codes = self._codes(x)
        parts = []
        for g in range(len(self._groups)):
            _, index, valid = self._group(g)
            probs = stats[..., index].masked_fill(~valid, 0.0)
            levels = torch.arange(index.shape[1], device=x.device)
            truth = (self._group_columns(codes, g).unsqueeze(-1) == levels).to(stats.dtype)
            parts.append(((probs - truth) ** 2).sum(dim=-1))
        return self._in_order(parts, self._column_order)

    def sample(self, out, generator=None):
        # Gumbel-max: one draw per column from a local generator.
        parts = []
        for g in range(len(self._groups)):
            log_probs = self._log_probs(out, g)
            u = torch.rand(log_probs.shape, generator=generator, device=out.device, dtype=out.dtype)
            gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(u.dtype).tiny)))
            parts.append((log_probs + gumbel).argmax(dim=-1))
        return self._in_order(parts, self._column_order).to(out.dtype)


class Mixed(Likelihood):
    """Columns of different kinds, each part with its own likelihood.

    Parameters
    ----------
    parts : sequence of (Likelihood, sequence of int)
        Each likelihood with the feature indices it models; together the
        indices cover ``0 .. n_features - 1`` once. The decoder outputs,
        encoder inputs and predictive statistics of the parts lie side by
        side in the order of ``parts``.

    For the estimators its features are ``standardised``: the shift and
    scale of each column apply (its numeric parts' own; 0 and 1 for the
    level codes of categorical parts).
    """

    standardised = True

    def __init__(self, parts):
        columns = [int(j) for _, idx in parts for j in idx]
        if sorted(columns) != list(range(len(columns))):
            raise ValueError("The parts of a Mixed likelihood must cover each feature once.")
        super().__init__(len(columns))
        self.parts = nn.ModuleList(lik for lik, _ in parts)
        for i, (_, idx) in enumerate(parts):
            self.register_buffer(f"_columns{i}", torch.tensor([int(j) for j in idx]), persistent=False)
        # Puts the parts' per-feature results, concatenated, back in column order.
        self.register_buffer("_order", torch.argsort(torch.tensor(columns)), persistent=False)

    def _columns(self, i):
        return getattr(self, f"_columns{i}")

    @staticmethod
    def _slices(widths):
        start = 0
        for width in widths:
            yield slice(start, start + width)
            start += width

    @property
    def n_outputs(self):
        return sum(p.n_outputs for p in self.parts)

    @property
    def n_inputs(self):
        return sum(p.n_inputs for p in self.parts)

    @property
    def n_statistics(self):
        return sum(p.n_statistics for p in self.parts)

    def _per_feature(self, fn, y):
        """Apply ``fn(part, x_part, y_part)`` per part, where ``y`` is split by
        the parts' output widths, and reassemble features in column order."""
        pieces = [fn(part, i, y[..., s]) for i, (part, s) in enumerate(
            zip(self.parts, self._slices(p.n_outputs for p in self.parts)))]
        return torch.cat(pieces, dim=-1)[..., self._order]

    def log_prob_elements(self, x, out):
        return self._per_feature(
            lambda part, i, o: part.log_prob_elements(x[..., self._columns(i)], o), out
        )

    def log_prob(self, x, out, mask=None):
        """The parts' log-densities added: each part sums its own
        features, so the features are never put back in column order."""
        total = 0.0
        slices = self._slices(p.n_outputs for p in self.parts)
        for i, (part, s) in enumerate(zip(self.parts, slices)):
            columns = self._columns(i)
            part_mask = None if mask is None else mask[..., columns]
            total = total + part.log_prob(x[..., columns], out[..., s], part_mask)
        return total

    def mean(self, out):
        return self._per_feature(lambda part, i, o: part.mean(o), out)

    def sample(self, out, generator=None):
        return self._per_feature(lambda part, i, o: part.sample(o, generator), out)

    def encoder_input(self, x, mask=None):
        return torch.cat(
            [
                part.encoder_input(
                    x[..., self._columns(i)], None if mask is None else mask[..., self._columns(i)]
                )
                for i, part in enumerate(self.parts)
            ],
            dim=-1,
        )

    def predictive(self, out):
        slices = self._slices(p.n_outputs for p in self.parts)
        return torch.cat([p.predictive(out[..., s]) for p, s in zip(self.parts, slices)], dim=-1)

    def point_estimate(self, stats):
        slices = self._slices(p.n_statistics for p in self.parts)
        pieces = [p.point_estimate(stats[..., s]) for p, s in zip(self.parts, slices)]
        return torch.cat(pieces, dim=-1)[..., self._order]

    def prediction_error(self, x, stats):
        slices = self._slices(p.n_statistics for p in self.parts)
        pieces = [
            p.prediction_error(x[..., self._columns(i)], stats[..., s])
            for i, (p, s) in enumerate(zip(self.parts, slices))
        ]
        return torch.cat(pieces, dim=-1)[..., self._order]


LIKELIHOODS = {
    "gaussian": Gaussian,
    "bernoulli": Bernoulli,
    "continuous_bernoulli": ContinuousBernoulli,
}


def likelihood_class(name):
    """The likelihood class an estimator's ``likelihood_`` names: one of
    :data:`LIKELIHOODS`, or :class:`Mixed` for ``"mixed"`` (a table with
    categorical columns)."""
    if name == "mixed":
        return Mixed
    try:
        return LIKELIHOODS[name]
    except KeyError:
        raise ValueError(
            f"Unknown likelihood {name!r}; expected one of {sorted(LIKELIHOODS)}."
        ) from None


def make_likelihood(name, n_features):
    """The likelihood object called ``name`` over ``n_features`` features.

    ``name`` may also be a list describing the columns of a mixed table,
    one plain dict per part: ``{"kind": "gaussian", "features": [0, 2]}``,
    ``{"kind": "categorical", "features": [1], "n_categories": [3]}``; the
    parts together cover the ``n_features`` columns once.
    """
    if isinstance(name, (list, tuple)):
        parts = [(_make_part(spec), spec["features"]) for spec in name]
        likelihood = Mixed(parts)
        if likelihood.n_features != n_features:
            raise ValueError(
                f"The likelihood parts cover {likelihood.n_features} features, "
                f"expected {n_features}."
            )
        return likelihood
    if name == "mixed":
        raise ValueError("A mixed likelihood is built from a list of column parts.")
    return likelihood_class(name)(n_features)


def _make_part(spec):
    if spec["kind"] == "categorical":
        return Categorical(spec["n_categories"])
    return make_likelihood(spec["kind"], len(spec["features"]))

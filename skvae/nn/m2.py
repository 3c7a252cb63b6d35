"""The M2 model of Kingma et al. (2014): semi-supervised learning with a
label that is observed for some rows and latent for the rest.

Generative model: y ~ Uniform(n_classes), z ~ N(0, I), x ~ p(x | y, z).
Inference: a classifier q(y | x) and an encoder q(z | x, y). Both share one
network body h(x) (the encoder's hidden layers), so that what the generative
model learns about x from every row shapes the features the classifier
reads; the classifier is a linear head on h(x), and q(z | x, y) a linear
head on (h(x), one_hot(y)).

Losses per row (Kingma et al., 2014, eqs. 6-9), with L(x, y) the negative
ELBO of x given its label:

- labeled row:   L(x, y) + classification_weight * (-log q(y | x))
- unlabeled row: sum_y q(y | x) L(x, y) + KL(q(y | x) || p(y)), i.e. the
  label is marginalised out under the classifier.

Unlabeled rows are marked by a label of -1. The marginalisation is
vectorised: every (row, class) pair that needs a decoder pass (one per
labeled row, ``n_classes`` per unlabeled row, or with
``min_class_probability`` only the classes q(y | x) makes likely) goes
through the decoder in a single batch.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from .likelihoods import make_likelihood
from .networks import full_precision, init_parameters, make_networks
from .posteriors import DiagonalGaussian


def _dropout(t, rate, generator):
    """Inverted dropout with a mask drawn from ``generator`` (F.dropout
    would draw from torch's global random state)."""
    if rate <= 0:
        return t
    keep = torch.rand(t.shape, generator=generator, device=t.device, dtype=t.dtype) >= rate
    return t * keep / (1 - rate)


def _rows(t, index):
    """``t[index]`` for an integer tensor ``index`` of any shape, by
    index_select: its gradient is summed by index_add, in a fixed order,
    where ``t[index]``'s is summed by index_put_, which on the CPU adds
    large gradients with atomic additions in parallel: when an index
    repeats (every unlabeled row, and each class's label offset, which
    sums the gradients of all of that class's pairs), the order of the
    additions, and so the last bits of the fit, changed from run to run."""
    return t.index_select(0, index.reshape(-1)).reshape(*index.shape, *t.shape[1:])


class _Twice(nn.Module):
    """Stand-in for an encoder's head: ``h -> concat(h, h)``."""

    def forward(self, h):
        return torch.cat([h, h], dim=-1)


class _Features(nn.Module):
    """An encoder without its head: ``x -> h``.

    Every skvae encoder computes ``head(h(x))`` and splits it into mean and
    log-variance; with the head replaced by one that repeats h, either half
    is h(x), whatever the kind of network and whatever the width of h (a
    width of 1 cannot be split into two halves).
    """

    def __init__(self, encoder):
        super().__init__()
        encoder.head = _Twice()
        self.encoder = encoder

    def forward(self, x):
        return self.encoder(x)[0].contiguous()


class M2(nn.Module):
    """Semi-supervised VAE with a class label as a (partly observed) latent.

    Parameters
    ----------
    body : nn.Module
        ``x -> h``, features of shape ``(n, n_hidden)`` shared by the
        classifier and the encoder.
    n_hidden : int
        Width of ``h``.
    decoder : nn.Module
        ``concat(z, one_hot(y)) -> out``, the raw parameters of p(x | y, z).
    likelihood : skvae.nn.Likelihood
        Observation model consuming the decoder output.
    n_components : int
        Dimension of z.
    n_classes : int
        Number of classes.
    classification_weight : float
        Weight of the classification loss of each labeled row (alpha).
    dropout : float
        Dropout rate on the features the classifier reads, while training.
    input_dropout : float
        Dropout rate on the input of the inference networks, while
        training (the likelihood always scores the clean input).
    input_bounds : tuple of two tensors or None
        Per-feature bounds applied to the input of the inference networks
        (see :class:`skvae.nn.VAE`).
    min_class_probability : float, default=0.0
        While training, with only the pairs that count decoded (the CPU's
        layout, see ``all_pairs``), an unlabeled row is decoded only with
        the classes to which q(y | x) gives at least this probability, and
        always with its most probable one; each class left out counts
        with the largest loss among its row's decoded classes (a constant:
        no gradient but through q(y | x), which it keeps pushing away from
        that class). Its weight in the loss is below this probability, and
        a confident classifier leaves most classes out. 0 decodes every
        class, the exact objective; validation always uses it.
    """

    def __init__(
        self,
        body,
        n_hidden,
        decoder,
        likelihood,
        n_components,
        n_classes,
        classification_weight=1.0,
        dropout=0.0,
        input_dropout=0.0,
        input_bounds=None,
        min_class_probability=0.0,
    ):
        super().__init__()
        self.n_components = int(n_components)
        self.n_classes = int(n_classes)
        self.classification_weight = float(classification_weight)
        self.body = body
        self.dropout = float(dropout)
        self.input_dropout = float(input_dropout)
        #: Decode every (row, class) pair (True) or only those that count
        #: (False); None: all pairs on accelerators, where fixed shapes
        #: avoid a host synchronisation per step, only those on the CPU.
        self.all_pairs = None
        #: While training, where only the pairs that count are decoded: an
        #: unlabeled row's classes whose q(y | x) is below this (all but the
        #: most probable) are not decoded; 0 decodes every class.
        self.min_class_probability = float(min_class_probability)
        self.classifier = nn.Linear(n_hidden, self.n_classes)
        # q(z | x, y) is linear in (h, one_hot(y)): the h part is computed
        # once per row, the label part is a per-class offset.
        self.latent_head = nn.Linear(n_hidden, 2 * self.n_components)
        self.latent_label = nn.Linear(self.n_classes, 2 * self.n_components, bias=False)
        self.decoder = decoder
        self.likelihood = likelihood
        lower, upper = input_bounds if input_bounds is not None else (None, None)
        self.register_buffer("input_lower", lower)
        self.register_buffer("input_upper", upper)

    @classmethod
    def from_config(cls, config, generator=None):
        """Build from a plain dict of built-in values.

        Keys: those of :meth:`skvae.nn.VAE.from_config` plus ``n_classes``
        and optionally ``classification_weight``, ``dropout`` and
        ``input_dropout``.
        """
        likelihood = make_likelihood(config["likelihood"], config["n_features"])
        n_components, n_classes = config["n_components"], config["n_classes"]
        # The decoder reads concat(z, one_hot(y)); the encoder's body is kept
        # and its head replaced by the classifier and the latent heads.
        network_options = {k: config[k] for k in ("image_shape", "conv_channels") if k in config}
        encoder, decoder = make_networks(
            config["network"],
            n_features=config["n_features"],
            n_components=n_components + n_classes,
            n_outputs=likelihood.n_outputs,
            hidden_layer_sizes=config["hidden_layer_sizes"],
            activation=config["activation"],
            **network_options,
        )
        n_hidden = encoder.head.in_features
        bounds = config.get("input_bounds")
        if bounds is not None:
            bounds = tuple(torch.tensor(b, dtype=torch.float32) for b in bounds)
        model = cls(
            _Features(encoder),
            n_hidden,
            decoder,
            likelihood,
            n_components,
            n_classes,
            config.get("classification_weight", 1.0),
            config.get("dropout", 0.0),
            config.get("input_dropout", 0.0),
            bounds,
            config.get("min_class_probability", 0.0),
        )
        if generator is not None:
            init_parameters(model, generator)
        return model

    # ------------------------------------------------------------ inference

    @property
    def decodes_per_row(self):
        """Decoder passes per training row: one per class for unlabeled rows."""
        return self.n_classes

    def features(self, x):
        """Shared features h(x)."""
        if self.input_lower is not None:
            x = torch.clamp(x, self.input_lower, self.input_upper)
        return self.body(x)

    def classify(self, x):
        """Logits of q(y | x), shape ``(n, n_classes)``."""
        return full_precision(self.classifier(self.features(x)))

    def _classify_features(self, h, generator):
        """Logits from features ``h``, with dropout while training."""
        if self.training:
            h = _dropout(h, self.dropout, generator)
        return full_precision(self.classifier(h))

    def _latent(self, h, labels):
        """q(z | x, y), a :class:`~skvae.nn.posteriors.DiagonalGaussian`,
        for rows ``h`` and labels ``labels`` (index tensors broadcasting
        against ``h``'s rows)."""
        offsets = _rows(self.latent_label.weight.t(), labels)
        return DiagonalGaussian.from_stats(full_precision(self.latent_head(h)) + offsets)

    def encode(self, x, labels):
        """Mean and log-variance of q(z | x, y) for the given labels."""
        q = self._latent(self.features(x), labels)
        return q.mean, q.log_var

    def encode_all(self, x):
        """Class logits ``(n, n_classes)`` and the means and log-variances
        of q(z | x, y) for every class, each ``(n, n_classes, n_components)``."""
        h = self.features(x)
        stats = full_precision(self.latent_head(h)).unsqueeze(1) + self.latent_label.weight.t()
        q = DiagonalGaussian.from_stats(stats)
        logits = full_precision(self.classifier(h))
        return logits, q.mean, q.log_var

    def posterior_mean(self, x):
        """E[z | x] under q(y | x) q(z | x, y): the class-wise means weighted
        by the classifier's probabilities."""
        logits, mean, _ = self.encode_all(x)
        return (logits.softmax(dim=-1).unsqueeze(-1) * mean).sum(dim=1)

    def decode(self, z, labels):
        """Raw parameters of p(x | y, z)."""
        one_hot = F.one_hot(labels, self.n_classes).to(z.dtype)
        return self.decoder(torch.cat([z, one_hot], dim=-1))

    # ------------------------------------------------------------- training

    def training_loss(self, x, y, *, kl_weight=1.0, generator=None):
        """Per-row loss: labeled rows (``y >= 0``) pay their negative ELBO
        plus the weighted classification loss; unlabeled rows (``y == -1``)
        the negative ELBO with the label marginalised under q(y | x).

        ``kl_weight`` scales the KL term of z (warm-up, beta); the label's
        KL term always has weight 1.
        """
        n, k = x.shape[0], self.n_classes
        # The inference networks read a corrupted copy of x (denoising), the
        # likelihood scores the clean x.
        h = self.features(_dropout(x, self.input_dropout, generator) if self.training else x)
        log_q = self._classify_features(h, generator).log_softmax(dim=-1)
        labeled = y >= 0
        # One draw per (row, class) whichever pairs are decoded, so that both
        # layouts below compute the same loss.
        eps = torch.randn(
            (n, k, self.n_components), generator=generator, device=x.device, dtype=x.dtype
        )
        all_pairs = x.device.type != "cpu" if self.all_pairs is None else self.all_pairs
        if all_pairs:
            # Every row through every class: fixed shapes, no host
            # synchronisation, at most twice the decoding work.
            classes = torch.arange(k, device=x.device).expand(n, k)
            pair_loss = self._pair_loss(h.unsqueeze(1), x.unsqueeze(1), classes, eps, kl_weight)
            weight = torch.where(
                labeled.unsqueeze(1), F.one_hot(y.clamp(min=0), k).to(x.dtype), log_q.exp()
            )
            loss = (weight * pair_loss).sum(dim=1)
        else:
            # Only the pairs that count: one per labeled row, n_classes per
            # unlabeled row (sizes read on the host, free on a CPU), in row
            # order, classes in order within a row.
            use = torch.where(
                labeled.unsqueeze(1), F.one_hot(y.clamp(min=0), k).bool(), True
            )
            dropped = None
            if self.training and self.min_class_probability > 0:
                q = log_q.detach().exp()
                small = (q < self.min_class_probability) & (q < q.amax(dim=1, keepdim=True))
                dropped = small & ~labeled.unsqueeze(1)
                use = use & ~dropped
            pairs = use.reshape(-1).nonzero().squeeze(1)
            rows, classes = pairs // k, pairs % k
            pair_loss = self._pair_loss(
                _rows(h, rows), x[rows], classes, _rows(eps.reshape(n * k, -1), pairs), kl_weight
            )
            # Labeled pairs count fully, unlabeled ones by q(y | x).
            weight = torch.where(labeled[rows], 1.0, _rows(log_q.reshape(-1), pairs).exp())
            loss = torch.zeros(n, device=x.device, dtype=pair_loss.dtype)
            loss = loss.index_add(0, rows, weight * pair_loss)
            if dropped is not None:
                # A class not decoded stands in with the largest loss of
                # its row's decoded ones (no gradient through it): q(y | x)
                # keeps being pushed away from it.
                worst = torch.full((n,), -math.inf, device=x.device, dtype=pair_loss.dtype)
                worst = worst.scatter_reduce(0, rows, pair_loss.detach(), "amax")
                loss = loss + (log_q.exp() * dropped).sum(dim=1) * worst
        label_kl = (log_q.exp() * (log_q + math.log(k))).sum(dim=-1)
        cross_entropy = -log_q.gather(1, y.clamp(min=0).unsqueeze(1)).squeeze(1)
        return loss + torch.where(labeled, self.classification_weight * cross_entropy, label_kl)

    def _pair_loss(self, h, x, classes, eps, kl_weight):
        """Negative ELBO of x given each label in ``classes`` (shapes
        broadcast: one value per (row, class) pair)."""
        q = self._latent(h, classes)
        log_lik = self.likelihood.log_prob(x, self.decode(q.rsample(eps), classes))
        return kl_weight * q.kl() - log_lik

    def extra_repr(self):
        return f"n_components={self.n_components}, n_classes={self.n_classes}"

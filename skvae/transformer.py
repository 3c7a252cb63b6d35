"""VAETransformer: a variational autoencoder as a drop-in for PCA."""

import warnings
from dataclasses import replace
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import (
    INFERENCE_BATCH_SIZE,
    BaseVAE,
    check_n_samples,
    check_support,
    combine_moments,
    draw_seed,
    feature_moments,
    nominal_batch_size,
    rescale_dense_gaussian,
    resolve_conv_layers,
    resolve_hidden_layer_sizes,
    resolve_likelihood,
    scaling_from_moments,
    shared_docstring,
    standardisation,
    varies,
)
from ._limits import check_importance_samples, check_network_size
from ._table import (
    _as_integers,
    _describe_dtypes,
    _frame,
    _stack,
    _isna,
    _unique_levels,
    categorical_columns,
    column_name,
    decode_levels,
    encode_levels,
    fitted_dtype,
    likelihood_parts,
    numeric_values,
    table_columns,
    validate_numbers,
)
from .nn.likelihoods import likelihood_class
from .nn.posteriors import FLOWS

# Rows over which component_kl_ is averaged (a random subset beyond this).
_KL_ROWS = 2048


# partial_fit warns of ordered batches when a batch of at least this many
# rows has feature means at a mean squared distance of more than
# _ORDERED_BATCHES standard errors from those of the rows seen before
# (about 1 for random batches; 0.7-3 on digits and a drifting table
# shuffled, 40-1,800 sorted by class or time).
_MIN_ORDER_CHECK_ROWS = 10
_ORDERED_BATCHES = 20.0
# The words of that warning that skvae.fit_streaming, whose shuffled chunks
# are random blocks of rows rather than ordered batches, filters out.
ORDERED_BATCHES_WORDS = "the batches seem to come in order"


@shared_docstring
class VAETransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseVAE):
    """Dimensionality reduction with a (beta-)variational autoencoder.

    A nonlinear counterpart of :class:`~sklearn.decomposition.PCA`: ``fit``
    trains an encoder q(z | x) and a decoder p(x | z) with a standard normal
    prior on the ``n_components``-dimensional latent z; ``transform`` returns
    the posterior mean of z, ``inverse_transform`` the decoder's mean of x,
    ``sample`` generates new rows and ``score`` is a held-out log-likelihood
    bound comparable with :meth:`PCA.score <sklearn.decomposition.PCA.score>`.

    Rows may have missing values (NaN), in ``fit`` as in ``transform`` and
    ``score``: training uses only the observed entries (the encoder reads a
    missing entry as 0 and it adds nothing to the likelihood, as in MIWAE),
    so an incomplete table can be reduced without imputing it first. To
    fill the holes, use :class:`~skvae.VAEImputer`.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the latent space.

    network : {"dense", "conv"}, default="dense"
        Kind of encoder and decoder.

        - ``"dense"``: fully connected layers.
        - ``"conv"``: for images, each row one image flattened in C order
          (as ``images.reshape(n_samples, -1)`` gives). The encoder is a
          stack of 3x3 convolutions with stride 2, each halving height and
          width, then fully connected layers; the decoder mirrors it with
          transposed convolutions. Reconstructions and samples always have
          the input's shape, odd sizes included.

    image_shape : tuple of int or None, default=None
        Shape of one image, ``(height, width)`` or ``(channels, height,
        width)``, for ``network="conv"``; its product must equal the number
        of features. None reads each row as a square one-channel image
        (an error when the number of features is not a perfect square).
        Ignored by ``network="dense"``.

    conv_channels : int, tuple of int or None, default=None
        Output channels of the encoder's convolutions, one stride-2 stage
        per entry, input side first; the decoder mirrors them. None picks
        one stage per halving while the shorter side is at least 8 pixels
        (at least one), with 16 channels doubling per stage up to 128:
        ``(16,)`` for 8x8 images, ``(16, 32)`` for 28x28. Ignored by
        ``network="dense"``.

    hidden_layer_sizes : int, tuple of int or None, default=None
        Widths of the encoder's hidden layers; the decoder mirrors them.
        With ``network="conv"`` these are the fully connected layers between
        the convolutions and the latent code, and None gives one layer of
        256 units. With ``network="dense"``, None picks two layers from the
        size of the training data: the first has
        ``max(2 * n_features, n_samples / 8)`` units rounded to a power of
        two and clipped to [64, 512], the second half as many (at least 32).

    activation : {"relu", "elu", "gelu", "silu", "tanh", "logistic", \
            "identity"}, default="gelu"
        Activation between hidden layers.

    likelihood : {"auto", "gaussian", "bernoulli", "continuous_bernoulli"}, \
            default="auto"
        Observation model p(x | z).

        - ``"gaussian"``: features are standardised internally; each has a
          learned noise scale (floored, so constant features are safe).
        - ``"bernoulli"``: for binary data or intensities in [0, 1] such as
          pixels; trained with cross-entropy on logits. For values strictly
          inside (0, 1) its ``score`` is not a normalised density.
        - ``"continuous_bernoulli"``: a proper density on [0, 1]
          (Loaiza-Ganem and Cunningham, 2019).
        - ``"auto"``: ``"bernoulli"`` for nearly binary data (all training
          values in [0, 1], at least 80% of them within 0.05 of 0 or 1, as
          for black-and-white images), ``"gaussian"`` otherwise (graded
          intensities included).

        A table with categorical columns (see ``categorical_features``)
        takes ``"auto"`` or ``"gaussian"``: its numeric columns are
        Gaussian, each categorical one a softmax over its levels
        (``likelihood_`` is then ``"mixed"``).

    categorical_features : "from_dtype", array-like or None, \
            default="from_dtype"
        Which columns hold categories. ``"from_dtype"``: in a DataFrame,
        the object, category, string and bool columns (none in an array).
        Or the columns' indices, names (DataFrame) or a boolean mask, for
        arrays of codes or labels too; None: none. With categorical
        columns the encoder reads each one-hot, ``inverse_transform`` and
        ``sample`` return the table's own columns (a DataFrame with the
        dtypes of ``fit`` when fitted on one; levels seen in ``fit``,
        integers rounded), and ``score`` adds the log-probability of each
        row's levels to the density of its numbers. Levels not seen in
        ``fit`` read as missing, with a warning. Dense networks only;
        ``partial_fit`` keeps the first batch's scaling and levels.

    beta : float, default=1.0
        Weight of the KL term in the training objective (beta-VAE, Higgins
        et al., 2017). ``score`` always uses beta = 1.

    capacity : float, default=0.0
        Target KL, in nats per row, of the controlled-capacity objective
        (Burgess et al., 2018). With ``capacity`` > 0, training minimises
        the reconstruction error plus ``beta * |KL - C|``, the KL averaged
        over each batch, where the target C grows linearly from 0 to
        ``capacity`` over the first ``capacity_epochs`` epochs: the code
        takes in information a little at a time, the most useful factor
        first, which lets a large weight disentangle without the
        reconstruction cost of a large beta-VAE's beta. ``beta`` is then
        the weight that holds the KL to C (Burgess et al. use weights of
        100 to 1000), ``free_bits`` is unused, and early stopping watches
        the plain ELBO of the held-out rows from the end of the ramp on.
        0 trains the beta-ELBO.

    capacity_epochs : int, default=50
        Epochs over which the target KL grows to ``capacity``; unused when
        ``capacity`` is 0. ``max_iter`` should leave epochs after it.

    tc_weight : float or None, default=None
        beta-TCVAE (Chen et al., NeurIPS 2018): the weight of the total
        correlation of the aggregate posterior q(z) (how far its components
        depend on each other), estimated on each training batch, while the
        rest of the KL term (the code's information about the row and each
        component's distance from the prior) keeps weight ``beta``. Chen et
        al.'s beta is ``tc_weight`` with ``beta=1``. None: no separate
        weight (the beta-VAE's KL term). The estimate takes each batch as
        its sample of q(z), so it improves with ``batch_size`` (in
        ``bench_disentanglement`` batches of 256 did better than 64). Needs
        ``posterior="gaussian"`` and ``n_training_draws=1``; validation
        leaves the term out.

    free_bits : float, default=0.5
        Floor, in nats, on each latent component's KL term per row during
        training (Kingma et al., 2016). A component is never penalised for
        carrying less information than this, which keeps training from
        settling on an unused ("collapsed") latent space; components that
        carry more are trained on the usual objective. 0 gives the plain
        (beta-)ELBO. Early stopping watches the objective trained, floor
        included (the plain bound of held-out rows gets worse as components
        take up their free nats, and stopping on it kept barely trained
        weights); ``score`` never uses it.

    posterior : {"gaussian", "planar", "iaf"}, default="gaussian"
        The family of q(z | x). ``"gaussian"``: a diagonal Gaussian (the
        encoder's mean and variance). ``"planar"`` and ``"iaf"``: that
        Gaussian followed by ``n_flows`` steps of a normalizing flow, planar
        (Rezende and Mohamed, 2015) or inverse autoregressive (Kingma et
        al., 2016), each row's steps computed from its Gaussian; the KL term
        is then estimated from the training draw (exact for the Gaussian
        part plus a Monte-Carlo correction for the flow; ``free_bits``
        floors each component's term of it, the flow's log-determinant
        shared between the components: exactly for IAF, equally for
        planar), and
        ``score`` weighs its draws by the flowed density. A
        richer posterior tightens the bound, at some cost per step.
        ``transform`` returns the flow applied to the Gaussian's mean (a
        deterministic point per row, not the mean of q), and
        ``component_kl_`` orders the components by the Gaussian's KL.

    n_flows : int, default=4
        Steps of the flow; unused with ``posterior="gaussian"``.

    n_training_draws : int, default=1
        Latent draws per row in the training objective: 1 trains the ELBO,
        K > 1 the importance-weighted bound (IWAE, Burda et al., 2016),
        tighter and about K times the decoding work per step; ``free_bits``
        applies to the ELBO only.

    kl_warmup : int, default=0
        Number of epochs over which the KL weight ramps linearly from 0 to
        ``beta``. Early stopping does not count epochs inside the ramp.

    batch_size : int or "auto", default=64
        Rows per Adam step (clipped to the number of training rows).
        "auto": 64, doubled up to 512 while an epoch keeps at least 8
        steps and a step stays small (rows times the network's
        multiply-adds per row at most 2**26, the work one thread does
        best): small networks on thousands of rows then take larger
        batches, whose steps cost about what a step of 64 rows does, for
        about half the time of a fit; MNIST-sized networks keep 64. Not
        the default: it costs some accuracy (see the user guide's "Speed
        and scale"). Resolved in ``batch_size_``. ``partial_fit`` keeps
        the batch size of the fit it continues (64 when it starts the
        model).

    learning_rate : float or "auto", default="auto"
        Adam's step size. "auto": 1e-3 when an epoch takes at least 50
        steps (``batch_size`` rows each), and for fewer steps 1e-3 times
        the square root of 50 / steps, at most 3e-3: small tables get
        larger steps, so that they converge within ``max_iter`` epochs
        (a table of 400 rows in batches of 64: about 2.9e-3). Resolved in
        ``learning_rate_``. ``partial_fit`` keeps the rate of the fit it
        continues (1e-3 when it starts the model).

    learning_rate_schedule : {"constant", "cosine"}, default="constant"
        How the step size moves during a fit. "constant": ``learning_rate``
        throughout. "cosine": it decays along half a cosine over
        ``max_iter`` epochs, epoch ``e`` (from 0) running at
        ``learning_rate * (1 + cos(pi * e / max_iter)) / 2``, so that
        the last epochs take small steps and the weights settle instead
        of moving on with every step (early stopping may end the fit
        before the decay does). Each ``fit``, a warm start's included,
        starts the decay again; ``partial_fit`` steps at
        ``learning_rate``. Objectives whose useful structure keeps
        forming after the bound has levelled off, such as a large
        ``tc_weight``, gain from it (see the user guide's
        "Disentanglement").

    max_iter : int, default=200
        Maximum number of epochs.

    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows, stop when their
        objective has not improved by ``tol`` for ``n_iter_no_change``
        epochs, and restore the best weights. If False, stop when the
        training loss stops improving. ``partial_fit`` never holds out rows.

    validation_fraction : float, default=0.1
        Share of rows held out for early stopping.

    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.

    tol : float, default=1e-4
        Minimum improvement (nats per sample) that counts.

    n_importance_samples : int, default=100
        Latent draws per row for the importance-weighted bound of
        ``score_samples`` (Burda et al., 2016); more is tighter and slower.

    n_refinement_steps : int, default=0
        Steps of per-row refinement of the posterior before the draws of
        ``score_samples``: Adam steps (step size 0.05, 5 draws each) on
        each row's own importance-weighted bound of those draws, in its
        Gaussian's mean and log-variance (before any flow),
        starting from the encoder's (semi-amortised inference, Kim et al.,
        2018). The encoder gives rows it did not see a worse posterior
        than the best Gaussian for them, which loosens the bound; refining
        it tightens ``score`` on the same fitted model (on MNIST-5k with 10
        components, by 1.95 nats per image with 20 steps and 2.21 with 50,
        for 2.3 and 4.3 times the time of ``score``: ``bench
        posteriors``). Training, ``transform`` and everything else ignore
        it: the model does not change, so compare models by ``score``
        with the same setting. 0 scores with the encoder's posterior.

    device : str, default="auto"
        Torch device for training and inference: ``"auto"`` (a GPU when one
        is visible, else the CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        A model fitted on a GPU loads and runs on a machine without one.

    %(training_precision)s

    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, the validation split and the
        noise; the same int gives identical results on the CPU. Fitting
        never changes numpy's or torch's global random state.

    verbose : int, default=0
        0 is silent; 1 or more prints a line for each phase of the fit and
        one per epoch: the epoch out of the most, the loss (and
        validation score), the epoch's time, the time so far and an
        estimate of what is left (an upper bound under early stopping).

    warm_start : bool, default=False
        Continue from the previous fit's weights and optimiser state.

    Attributes
    ----------
    likelihood_ : str
        The likelihood used (``"auto"`` resolved; ``"mixed"`` for a table
        with categorical columns).
    categorical_features_ : ndarray of bool of shape (``n_features_in_``,) or None
        Which columns are categorical; None when none is.
    categories_ : list of ndarray
        The levels of each categorical column seen in the first fit, in
        column order (only for a table with categorical columns).
    component_kl_ : ndarray of shape (n_components,)
        Average KL divergence, in nats, between each latent component's
        posterior and the prior over the training rows (a random subset of
        5,000 when there are more): how much
        information the component carries. Components are ordered by it,
        most informative first (as PCA orders by variance). Values near 0
        mark unused components.
    loss_curve_ : list of float
        Training loss (negative beta-ELBO, nats per row in model units) per
        epoch.
    validation_scores_ : list of float or None
        Minus the training objective (beta-ELBO with the ``free_bits``
        floor) of the held-out rows per epoch (None without early
        stopping).
    best_validation_score_ : float or None
        Best of ``validation_scores_``; its weights are the ones kept.
    best_loss_ : float
        Lowest training loss.
    n_iter_ : int
        Number of epochs trained.
    %(resolved_schedule)s
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.decomposition.PCA : Linear dimensionality reduction.
    VAEImputer : Imputation of missing values with a VAE.

    References
    ----------
    Kingma and Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
    Higgins et al., "beta-VAE", ICLR 2017.
    Burda, Grosse and Salakhutdinov, "Importance Weighted Autoencoders",
    ICLR 2016.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import VAETransformer
    >>> X = load_digits().data / 16
    >>> vae = VAETransformer(n_components=2, max_iter=5, random_state=0)
    >>> Z = vae.fit_transform(X)
    >>> Z.shape
    (1797, 2)
    >>> vae.inverse_transform(Z).shape
    (1797, 64)
    >>> vae.sample(3, random_state=0).shape
    (3, 64)
    """

    _parameter_constraints: dict = {
        **BaseVAE._parameter_constraints,
        "categorical_features": [StrOptions({"from_dtype"}), "array-like", None],
        "posterior": [StrOptions({"gaussian", *FLOWS})],
        "n_flows": [Interval(Integral, 1, None, closed="left")],
        "n_training_draws": [Interval(Integral, 1, None, closed="left")],
        "capacity": [Interval(Real, 0, None, closed="left")],
        "capacity_epochs": [Interval(Integral, 0, None, closed="left")],
        "tc_weight": [Interval(Real, 0, None, closed="left"), None],
        "learning_rate_schedule": [StrOptions({"constant", "cosine"})],
        "n_refinement_steps": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        network="dense",
        image_shape=None,
        conv_channels=None,
        hidden_layer_sizes=None,
        activation="gelu",
        likelihood="auto",
        categorical_features="from_dtype",
        beta=1.0,
        capacity=0.0,
        capacity_epochs=50,
        tc_weight=None,
        free_bits=0.5,
        posterior="gaussian",
        n_flows=4,
        n_training_draws=1,
        kl_warmup=0,
        batch_size=64,
        learning_rate="auto",
        learning_rate_schedule="constant",
        max_iter=200,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        n_importance_samples=100,
        n_refinement_steps=0,
        device="auto",
        training_precision="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.n_components = n_components
        self.network = network
        self.image_shape = image_shape
        self.conv_channels = conv_channels
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.likelihood = likelihood
        self.categorical_features = categorical_features
        self.beta = beta
        self.capacity = capacity
        self.capacity_epochs = capacity_epochs
        self.tc_weight = tc_weight
        self.free_bits = free_bits
        self.posterior = posterior
        self.n_flows = n_flows
        self.n_training_draws = n_training_draws
        self.kl_warmup = kl_warmup
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.n_importance_samples = n_importance_samples
        self.n_refinement_steps = n_refinement_steps
        self.device = device
        self.training_precision = training_precision
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the VAE to X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Accepted (and ignored) so that the transformer fits in
            pipelines, including semi-supervised ones where ``y == -1``
            marks unlabeled rows.

        Returns
        -------
        self : VAETransformer
        """
        return self._fit(X, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train for one epoch on X, continuing from the current state.

        The first call sets up the model. Like ``StandardScaler.partial_fit``,
        the feature scaling follows the running mean and standard deviation
        of every row seen so far; after each batch the network is
        re-expressed in the new units, so that what it has learnt is kept
        (dense Gaussian models; convolutional ones keep the first batch's
        scaling). The bounds on what the encoder reads widen to each
        batch's range. No rows are held out for early stopping.

        Gradient training assumes batches drawn at random: batches sorted
        by time or class are learnt slowly and the earlier ones forgotten,
        and a ``UserWarning`` says so when a batch's means lie far from
        those seen before. :func:`~skvae.fit_streaming` shuffles rows
        across batches.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : VAETransformer
        """
        return self._fit(X, incremental=True)

    def transform(self, X):
        """Posterior mean of the latent code for each row of X (with a flow
        ``posterior``, the flow applied to its Gaussian's mean).

        Deterministic, and each row's code does not depend on the other rows
        passed with it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        X = self._validate_transform_data(X)
        module = self._inference
        Z = self._map_batches(
            lambda x, m=None: module.posterior(x, m).location, X, prepare=self._model_arrays
        )
        return Z[:, self._order]

    def inverse_transform(self, X):
        """Decoder mean of x for latent codes X, in the original units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Latent codes, e.g. the output of ``transform``.

        Returns
        -------
        X_original : ndarray or DataFrame of shape (n_samples, ``n_features_in_``)
            For a table with categorical columns, its own columns: a
            DataFrame with the column names and dtypes of ``fit`` when
            fitted on one (the most probable level of each categorical
            column, integers rounded), else an array (object where levels
            are not numbers).
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=np.float64, input_name="X")
        if Z.shape[1] != self.n_components_:
            raise ValueError(
                f"X has {Z.shape[1]} features, but inverse_transform expects latent "
                f"codes with {self.n_components_} columns (n_components)."
            )
        return self._decode_mean(Z)

    def sample(self, n_samples=1, random_state=None, *, noise=True):
        """Generate rows: latent codes drawn from the prior, then rows
        drawn from p(x | z).

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None
            None uses the estimator's ``random_state``.
        noise : bool, default=True
            True draws each row from p(x | z): Gaussian features with the
            model's noise (their spread then matches the data's), Bernoulli
            ones as 0 or 1. False gives the decoder's mean at each code
            instead: smoother rows with less spread, and the images to look
            at for pixel likelihoods.

        Returns
        -------
        X : ndarray or DataFrame of shape (n_samples, ``n_features_in_``)
            As ``inverse_transform`` returns: a DataFrame like the one of
            ``fit`` for a table with categorical columns.
        """
        check_is_fitted(self)
        n_samples = check_n_samples(n_samples)
        rng = check_random_state(self.random_state if random_state is None else random_state)
        Z = rng.standard_normal((n_samples, self.n_components_))
        if not noise:
            return self._decode_mean(Z)
        module = self._inference
        generator = torch.Generator(next(module.parameters()).device).manual_seed(draw_seed(rng))
        values = self._map_batches(
            lambda z: module.likelihood.sample(module.decode(z), generator),
            Z[:, np.argsort(self._order)],
        )
        return self._to_table(self._from_model_units(values))

    def score_samples(self, X):
        """Lower bound on the log-likelihood of each row, in nats.

        An importance-weighted bound with ``n_importance_samples`` draws
        (from each row's posterior, refined by ``n_refinement_steps``),
        computed with beta = 1 whatever beta was used for training, in the
        original units of X (internal standardisation is undone with its
        log-Jacobian), so it is comparable with ``PCA.score_samples``.
        Deterministic for a fitted model. For a row with missing values
        (NaN) it bounds the log-likelihood of its observed entries.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = self._validate_transform_data(X)
        check_support(X, self.likelihood_)
        # Missing entries are integrated out: the bound is on log p(x_observed).
        bound = self._log_likelihood_bound(
            X, prepare=self._model_arrays, refinement_steps=self.n_refinement_steps
        )
        log_scale = np.log(self._scale)
        jacobian = np.concatenate(
            [
                np.where(np.isnan(X[i : i + INFERENCE_BATCH_SIZE]), 0.0, log_scale).sum(axis=1)
                for i in range(0, X.shape[0], INFERENCE_BATCH_SIZE)
            ]
        )
        return bound - jacobian

    def score(self, X, y=None):
        """Mean of ``score_samples(X)``: higher is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    # ------------------------------------------------------------ helpers

    @property
    def n_components_(self):
        """Number of latent components of the fitted model."""
        return self._config["n_components"]

    @property
    def _n_features_out(self):
        return self._order.shape[0]

    def _validate_fit_data(self, X, y, *, reset):
        if reset:
            self.categorical_features_ = self._categorical_columns(X)
        if self._is_mixed:
            return self._encode_table(X, reset=reset), y
        # float32 input stays float32: training runs in float32 anyway.
        X = self._validate_numeric(X, reset=reset)
        return X, y

    def _posterior_gaussian(self, X):
        """Means and log-variances of each row's Gaussian q(z | x) (before
        any flow), components in ``transform``'s order: two arrays of shape
        (n_samples, n_components)."""
        check_is_fitted(self)
        X = self._validate_transform_data(X)
        module = self._inference
        stats = self._map_batches(
            lambda x, m=None: torch.cat(module.encode(x, m), dim=-1), X,
            prepare=self._model_arrays,
        )
        k = stats.shape[1] // 2
        return stats[:, :k][:, self._order], stats[:, k:][:, self._order]

    def _validate_transform_data(self, X):
        if self._is_mixed:
            return self._encode_table(X, reset=False)
        # float32 stays float32; batches are converted one at a time.
        return self._validate_numeric(X, reset=False)

    def _validate_numeric(self, X, *, reset):
        return validate_numbers(
            self,
            X,
            hint="Pass categorical_features (or a DataFrame with object, category, "
            "string or bool columns) to model categories.",
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan",
            reset=reset,
        )

    # ------------------------------------------------------- mixed tables

    @property
    def _is_mixed(self):
        return getattr(self, "categorical_features_", None) is not None

    def _categorical_columns(self, X):
        """The categorical columns of X as a mask, or None when it has
        none (the numeric path)."""
        mask = categorical_columns(self.categorical_features, X)
        return mask if mask.any() else None

    def _encode_table(self, X, *, reset):
        """A table with categorical columns as one float array: numbers in
        their own units, level codes (0, 1, ...) for categories, NaN where
        missing (unseen levels too, with a warning). The first fit records
        the levels and dtypes."""
        frame, raw = table_columns(self, X, reset=reset)
        if reset:
            if self.network != "dense":
                raise ValueError(
                    f"network={self.network!r} models images; a table with categorical "
                    "columns needs network='dense'."
                )
            if self.likelihood not in ("auto", "gaussian"):
                raise ValueError(
                    f"likelihood={self.likelihood!r} cannot model categorical columns; "
                    "use likelihood='auto' (Gaussian numbers, categorical levels)."
                )
            self.categories_ = []
            self._column_dtypes, self._dtype_categories, self._ordered_categories = (
                _describe_dtypes(frame)
            )
        encoded = np.full((len(raw[0]) if raw else 0, len(raw)), np.nan)
        unseen, rank = [], 0
        for j, column in enumerate(raw):
            name = column_name(self, j)
            if not self.categorical_features_[j]:
                encoded[:, j] = numeric_values(column, name)
                continue
            values = column.to_numpy(dtype=object) if hasattr(column, "to_numpy") else column
            seen = ~_isna(values)
            if reset:
                levels = _unique_levels(values[seen])
                if levels.size == 0:
                    raise ValueError(
                        f"Categorical column {name} has no observed values: there are "
                        "no levels to learn. Drop it."
                    )
                self.categories_.append(levels)
            encoded[:, j], any_unseen = encode_levels(values, seen, self.categories_[rank])
            rank += 1
            if any_unseen:
                unseen.append(name)
        if unseen:
            warnings.warn(
                f"Found categories not seen during fit in column(s) {', '.join(unseen)}; "
                "they are read as missing.",
                UserWarning,
            )
        return encoded

    def _mixed_likelihood(self):
        """The likelihood parts of a table with categorical columns."""
        return likelihood_parts(
            np.flatnonzero(~self.categorical_features_).tolist(),
            np.flatnonzero(self.categorical_features_).tolist(),
            [len(levels) for levels in self.categories_],
        )

    def _to_table(self, values):
        """Rows in original units (numbers, and level codes for categorical
        columns) as the table of ``fit``: a DataFrame with its columns and
        dtypes, or an array (object where levels are not numbers)."""
        if not self._is_mixed:
            return values
        columns, rank = [], 0
        frame = self._column_dtypes is not None
        pd = None
        if frame:
            import pandas as pd
        dtypes = [fitted_dtype(self, j, pd, np.float64) for j in range(values.shape[1])]
        for j in range(values.shape[1]):
            column = values[:, j]
            if self.categorical_features_[j]:
                columns.append(decode_levels(column, self.categories_[rank]))
                rank += 1
            else:
                columns.append(_as_integers(column, dtypes[j]))
        if frame:
            index = pd.RangeIndex(values.shape[0])
            return _frame(columns, dtypes, list(self.feature_names_in_), index, pd)
        numeric = all(c.dtype.kind in "fiub" for c in columns)
        return _stack(columns, values.shape[0], np.float64 if numeric else object)

    def _setup(self, X, y=None):
        """First fit: resolve the likelihood, feature scaling and network."""
        self._check_objective()
        if np.isnan(X).all():
            raise ValueError(
                "Every entry of X is missing (NaN): there is nothing to learn from."
            )
        if self._is_mixed:
            self.likelihood_ = "mixed"
            # Every column is modelled (the saved-file checks read this).
            self._model_features = np.arange(X.shape[1])
        else:
            self.likelihood_ = resolve_likelihood(self.likelihood, X)
        check_support(X, self.likelihood_)
        # Kept for partial_fit, which updates the scaling batch by batch.
        self._feature_moments = feature_moments(X)
        if likelihood_class(self.likelihood_).standardised:
            self._shift, self._scale = scaling_from_moments(*self._feature_moments[1:])
            if self._is_mixed:
                # Level codes go to the model as they are.
                self._shift[self.categorical_features_] = 0.0
                self._scale[self.categorical_features_] = 1.0
        else:
            self._shift, self._scale = standardisation(X, self.likelihood_)
        low, high = self._input_bounds(X)
        n_features = X.shape[1]
        self._config = {
            "network": self.network,
            "n_features": n_features,
            "n_components": int(self.n_components),
            "likelihood": self._mixed_likelihood() if self._is_mixed else self.likelihood_,
            "hidden_layer_sizes": resolve_hidden_layer_sizes(
                self.hidden_layer_sizes, n_features, n_samples=X.shape[0]
            ),
            "activation": self.activation,
            # The capacity objective sets its own floor on the KL.
            "free_bits": float(self.free_bits) if self.capacity == 0 else 0.0,
            "input_bounds": (low.tolist(), high.tolist()),
            # Written only when not the default, so that the configs of
            # Gaussian, one-draw models are as before.
            **({"posterior": self.posterior, "n_flows": int(self.n_flows)}
               if self.posterior != "gaussian" else {}),
            **({"training_samples": int(self.n_training_draws)}
               if self.n_training_draws > 1 else {}),
            **({"tc_extra_weight": float(self.tc_weight) - float(self.beta)}
               if self.tc_weight is not None else {}),
            # Image shape, channels and the conv defaults; nothing for dense.
            **resolve_conv_layers(
                self.network,
                n_features,
                self.image_shape,
                self.conv_channels,
                self.hidden_layer_sizes,
            ),
        }
        # Absurd sizes fail here, before anything is allocated.
        check_network_size(self._config, min(nominal_batch_size(self.batch_size), X.shape[0]))
        check_importance_samples(self.n_importance_samples, self._config)

    def _check_objective(self):
        """The objectives that need the one-draw ELBO of a Gaussian."""
        if self.tc_weight is not None and (
            self.posterior != "gaussian" or self.n_training_draws > 1
        ):
            raise ValueError(
                "tc_weight estimates the total correlation from the rows' Gaussian "
                "posteriors in the one-draw ELBO: it needs posterior='gaussian' and "
                f"n_training_draws=1 (got posterior={self.posterior!r}, "
                f"n_training_draws={self.n_training_draws})."
            )
        if self.capacity > 0 and self.n_training_draws > 1:
            raise ValueError(
                "The capacity objective is an ELBO: it needs n_training_draws=1 "
                f"(got {self.n_training_draws}); or set capacity=0."
            )

    def _validation_kl_weight(self):
        """beta (the objective trained, free bits included), or with the
        capacity objective the plain ELBO."""
        return 1.0 if self.capacity > 0 else float(self.beta)

    def _schedule(self, n_train, work_per_row=None):
        """BaseVAE's schedule, with ``learning_rate_schedule``'s decay."""
        schedule = super()._schedule(n_train, work_per_row)
        return replace(schedule, cosine=self.learning_rate_schedule == "cosine")

    def _capacity_schedule(self):
        """C(epoch): 0 to ``capacity`` over ``capacity_epochs``, then flat."""
        if self.capacity == 0:
            return None
        capacity, epochs = float(self.capacity), int(self.capacity_epochs)
        return lambda epoch: capacity * min(1.0, epoch / epochs) if epochs else capacity

    def _ramp_epochs(self):
        """The KL warm-up and the capacity ramp: the epochs early stopping
        does not count."""
        return max(self.kl_warmup, self.capacity_epochs if self.capacity > 0 else 0)

    def _input_bounds(self, X):
        """Bounds on what the encoder reads of each feature (model units):
        the range of X widened by its width on both sides. A feature never
        observed gets bounds around 0, what missing entries read as."""
        X_model = self._to_model_units(X)
        observed = ~np.isnan(X_model)
        low = np.min(X_model, axis=0, initial=np.inf, where=observed)
        high = np.max(X_model, axis=0, initial=-np.inf, where=observed)
        low, high = np.where(np.isfinite(low), low, 0.0), np.where(np.isfinite(high), high, 0.0)
        width = high - low
        return low - width, high + width

    def _update_preprocessing(self, X, y=None):
        """Later ``partial_fit`` batches: the feature scaling follows the
        running mean and standard deviation of every row seen so far (dense
        Gaussian models), and the input bounds widen to this batch's range.
        The network is re-expressed in the new units so that its function
        of the original units is unchanged: the first encoder layer and the
        decoder's output layer and scales are affine in the feature units.
        (Missing entries, which the encoder reads as 0 in model units, read
        as the new mean.)"""
        check_support(X, self.likelihood_)
        shift, scale = self._shift, self._scale
        batch = feature_moments(X)
        self._warn_if_ordered(self._feature_moments, batch)
        learnt = varies(*self._feature_moments[1:])
        self._feature_moments = combine_moments(self._feature_moments, batch)
        if self.likelihood_ == "gaussian":
            if self._config["network"] == "dense":
                new_shift, new_scale = scaling_from_moments(*self._feature_moments[1:])
                self._params = rescale_dense_gaussian(
                    self._params, shift, scale, new_shift, new_scale, learnt
                )
                self._shift, self._scale = new_shift, new_scale
        # The bounds so far, in the new units, and this batch's.
        low, high = (np.asarray(b) for b in self._config["input_bounds"])
        to_new = lambda b: (b * scale + shift - self._shift) / self._scale  # noqa: E731
        batch_low, batch_high = self._input_bounds(X)
        low, high = np.minimum(to_new(low), batch_low), np.maximum(to_new(high), batch_high)
        self._config = {**self._config, "input_bounds": (low.tolist(), high.tolist())}
        self._params = {
            **self._params,
            "input_lower": low.astype(self._params["input_lower"].dtype),
            "input_upper": high.astype(self._params["input_upper"].dtype),
        }

    def _warn_if_ordered(self, seen, batch):
        """Warn (once per model) when a ``partial_fit`` batch's feature means
        lie far from those of the rows seen before, as when batches come
        sorted by time or class: the mean squared number of standard errors
        between them is about 1 for batches drawn at random."""
        if getattr(self, "_ordered_batches_warned", False):
            return
        (n_seen, mean_seen, std_seen), (n_batch, mean_batch, _) = seen, batch
        usable = (std_seen > 0) & (n_seen > 1) & (n_batch > 1)
        if not usable.any() or n_batch[usable].min() < _MIN_ORDER_CHECK_ROWS:
            return
        error = (mean_batch[usable] - mean_seen[usable]) / std_seen[usable]
        distance = float(np.mean(error**2 * n_batch[usable]))
        if distance > _ORDERED_BATCHES:
            self._ordered_batches_warned = True
            warnings.warn(
                "This partial_fit batch's feature means lie far from those of the "
                f"rows seen before (mean squared distance {distance:.0f} standard "
                f"errors, about 1 for batches drawn at random): {ORDERED_BATCHES_WORDS} "
                "(sorted by time or class). The feature scaling "
                "follows every row seen, but gradient training learns slowly from "
                "ordered batches and forgets the earlier ones: shuffle the rows "
                "across batches (skvae.fit_streaming does).",
                UserWarning,
            )

    def _training_arrays(self, X, y=None):
        return tuple(
            a.astype(np.float32, copy=False) if a.dtype.kind == "f" else a
            for a in self._model_arrays(X)
        )

    def _to_model_units(self, X):
        if not likelihood_class(self.likelihood_).standardised:
            return X  # Bernoulli-type models see X itself
        return (X - self._shift) / self._scale

    def _model_arrays(self, X):
        """X in model units, plus the mask of observed entries (True) when
        some are missing (NaN); missing entries read as 0."""
        X_model = self._to_model_units(X)
        missing = np.isnan(X_model)
        if not missing.any():
            return (X_model,)
        return np.where(missing, 0.0, X_model), ~missing

    def _decode_mean(self, Z):
        Z_model = Z[:, np.argsort(self._order)]
        module = self._inference
        mean = self._map_batches(lambda z: module.likelihood.mean(module.decode(z)), Z_model)
        return self._to_table(self._from_model_units(mean))

    def _after_training(self, X, y=None):
        """Order the components by the information they carry."""
        module = self._inference

        def per_component_kl(x, mask=None):
            return module.posterior(x, mask).kl_per_component()

        rows = np.arange(X.shape[0])
        if X.shape[0] > _KL_ROWS:
            rows = np.sort(np.random.default_rng(self._seed).choice(rows, _KL_ROWS, replace=False))
        kl = self._map_batches(per_component_kl, X[rows], prepare=self._model_arrays).mean(axis=0)
        self._order = np.argsort(-kl, kind="stable")
        self.component_kl_ = kl[self._order]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        # Missing values (NaN) are integrated out in fit, transform and score.
        tags.input_tags.allow_nan = True
        return tags

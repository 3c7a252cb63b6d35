"""VAEImputer: deep imputation of incomplete tables, numeric and categorical."""

import math
import time
import warnings
from dataclasses import replace
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import TransformerMixin, _fit_context
from sklearn.impute import MissingIndicator
from sklearn.utils._missing import is_pandas_na, is_scalar_nan
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, MissingValues, StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from ._base import (
    BaseVAE,
    build_module,
    check_n_samples,
    draw_seed,
    resolve_device,
    resolve_hidden_layer_sizes,
    shared_docstring,
    standardisation,
)
from ._limits import check_importance_samples, check_network_size
from ._table import (
    column_name,
    decode_levels,
    encode_levels,
    fitted_dtype,
    likelihood_parts,
    read_table,
    _array_output_dtype,
    _as_integers,
    _describe_dtypes,
    _frame,
    _numeric_ranges,
    _stack,
    _unique_levels,
)
from .nn.likelihoods import Categorical
from .nn.train import Schedule

# Values per batch when imputing: rows x importance draws x the widest
# layer (at least 128 wide), which bounds the memory of each tensor at 8 MB
# in single precision whatever the number of levels of the categorical
# columns (the decoder outputs one logit per level). With batches this
# small, imputation took 0.4-0.7x the time it took with batches of 2**24
# values, the earlier default (python3 dev.py bench layout --part batches).
_IMPUTE_VALUES_PER_BATCH = 2**21
_MIN_LAYER_WIDTH = 128
# A categorical column looks like an identifier (and is warned about at
# fit) when it has more than _ID_MIN_LEVELS levels and more levels than
# _ID_LEVEL_SHARE of its observed entries.
_ID_MIN_LEVELS, _ID_LEVEL_SHARE = 50, 0.9
# The state key that stands for missing_values=pandas.NA in saved files.
_PANDAS_NA_FLAG = "_missing_values_is_pandas_na"
# The "auto" settings: those of small tables up to _SMALL rows, those of
# large tables from _LARGE rows on, geometrically in between.
_SMALL, _LARGE = 2000, 10000
_SMALL_SETTINGS = {
    "draws": 20, "samples": 2000, "epochs": 400, "batch_size": 64, "learning_rate": 1e-3,
}
# The network at every size: one hidden layer of 256 units. Up to _SMALL
# rows it imputes better than two layers of 128 (python3 dev.py bench
# imputation). Above, it replaced two layers narrowing from 128 units at
# 2,000 rows to 64 at 10,000, and imputes better at every size measured:
# synthetic 30 columns (bench imputation's scaling table), 10,000 rows
# RMSE 0.417 -> 0.349 in 1.2 s (IterativeImputer(BayesianRidge): 0.404 in
# 1.4 s), 100,000 rows 0.342 -> 0.301 in 4.5 s; synthetic 5,000 rows x 20
# columns 0.322 -> 0.310 (bench fit_time --part impute); 50,000
# nycflights13 rows (--part flights) carrier, origin and destination
# imputed right 0.408 -> 0.617 of the time, numbers 0.626 -> 0.625, in
# 47.5 s (60.5 s before, on another run).
_HIDDEN = (256,)
# Up to _SMALL rows, the epochs and step size of the "auto" schedule, whose
# step size decays along half a cosine. Against 400 epochs at a constant
# 1e-3 (_SMALL_SETTINGS, where larger tables' settings start from), in
# 0.45-0.8x the time: RMSE within 0.002 on breast_cancer, wine and concrete
# (python3 dev.py bench imputation, seeds 0-2 and 3-5), Credit's numbers
# 0.006 / 0.001 better, its categories 0.000 / 0.003 worse, synthetic 150
# rows 0.011 worse and 500-2,000 rows 0.003-0.005 better (bench fit_time).
# Larger tables keep a constant step size: the short schedules of large
# tables imputed worse with the decay (10,000 rows, with the two-layer
# network of the time: RMSE 0.418 -> 0.525). Moving from the cosine
# schedule above 2,000 rows too (a decay getting shallower up to 10,000
# rows) imputed synthetic tables of 2,001-5,000 rows 0.004-0.008 better in
# 0.6-1.0x the time (bench_impute_schedule.py in commit eb0be9d), but on
# ISLR/Wage (2,250 training rows) sample() then gave `year` 0.89 of the
# data's spread (python3 dev.py bench synthesis, seeds 0-2; its Gaussian
# explains little of `year`, and clipping to the years seen cuts its
# tails), under issue 14's line of 0.90; with this rule its worst column
# is `wage` at 0.94, quality 0.971 against 0.968, in 1.45x the time. So it
# was taken back.
_SMALL_COSINE = {"epochs": 250, "learning_rate": 3e-3}
# Fewest rows for which calibrate_categories does anything: each half of the
# table trains a model.
_MIN_CALIBRATION_ROWS = 20
# Held-out entries that calibrate_categories predicts, at most, for each
# categorical column and each half of the table (a seeded random subset
# beyond that): _CALIBRATION_ROWS, fewer where the table has more than 8
# categorical columns, so that a half predicts at most _CALIBRATION_ENTRIES
# entries in all, but never fewer than _CALIBRATION_MIN_ROWS per column.
# Each prediction decodes n_importance_samples_ draws (2,000 on tables of
# up to 2,000 rows): bench calibration.
_CALIBRATION_ROWS = 256
_CALIBRATION_ENTRIES = 2048
_CALIBRATION_MIN_ROWS = 64
# The shrinkage weights calibrate_categories chooses from.
_SHRINKAGE_GRID = np.linspace(0.0, 1.0, 101)
_LARGE_SETTINGS = {
    "draws": 1, "samples": 20, "epochs": 24, "batch_size": 512, "learning_rate": 4e-3,
}


def auto_schedule(n_samples):
    """The "auto" network (``hidden_layer_sizes``: ``_HIDDEN`` at every
    size), draws, epochs, batch size and learning rate for a table of
    ``n_samples`` rows.

    Small tables get what imputes best, with a cosine decay of the step
    size (``cosine``: True up to _SMALL rows); as tables grow, each row
    gets less work (fewer draws, epochs and units, larger batches), since
    more rows inform the model more than more passes over each: from
    _SMALL to _LARGE rows the settings move geometrically to those of
    large tables, and beyond, epochs shrink as 1 / sqrt(n_samples), so
    that the number of gradient steps still grows and the cost stays
    linear in the rows.
    """
    t = min(1.0, max(0.0, math.log(n_samples / _SMALL) / math.log(_LARGE / _SMALL)))
    settings = {
        key: small * (_LARGE_SETTINGS[key] / small) ** t for key, small in _SMALL_SETTINGS.items()
    }
    if n_samples > _LARGE:
        settings["epochs"] *= math.sqrt(_LARGE / n_samples)
    for key in ("draws", "samples", "epochs", "batch_size"):
        settings[key] = max(1, round(settings[key]))
    settings["epochs"] = max(settings["epochs"], 3)
    small = n_samples <= _SMALL
    settings["hidden_layer_sizes"] = list(_HIDDEN)
    settings["cosine"] = small
    if small:
        settings.update(_SMALL_COSINE)
    return settings


@shared_docstring
class VAEImputer(TransformerMixin, BaseVAE):
    """Imputation of missing values with a variational autoencoder (MIWAE).

    A deep counterpart of :class:`~sklearn.impute.IterativeImputer`: ``fit``
    trains a VAE on the incomplete table itself, with an objective in which
    missing entries count for nothing (the encoder reads them as 0 and they
    add nothing to the likelihood), and ``transform`` fills each hole by
    self-normalised importance sampling from the model's p(x_missing |
    x_observed), following MIWAE (Mattei and Frellsen, 2019). The cost is
    linear in the number of rows.

    Numeric and categorical columns of one table are modelled together,
    each with its own likelihood: numeric columns are standardised and
    Gaussian, categorical columns a softmax over their levels (the encoder
    reads them one-hot). A categorical hole is filled with a level seen in
    ``fit``: the most probable one once the model's probabilities are
    calibrated out of sample (``calibrate_categories``). Observed entries
    are never changed. A DataFrame in gives a
    DataFrame out, with the same index, column names and dtypes; a float32
    or integer array keeps its dtype too. The imputed values of an integer
    column (numpy, or pandas nullable ``Int64``, ...) are rounded to the
    nearest integer the dtype holds.

    Cost: the "auto" settings give small tables (up to 2,000 rows) what
    imputes best, as in MIWAE: a 20-draw bound on a network with one hidden
    layer of 256 units (which imputes better than MIWAE's deeper networks,
    in less time), trained for 250 epochs with a step size decaying from
    3e-3 along half a cosine (about as accurate as 400 epochs at a
    constant 1e-3, in about half the time), and 2,000 draws per row to
    impute.
    Larger tables get less work per row, on the same network, since more
    rows inform the model more than more passes over each: from 2,000 to
    10,000 rows the settings move geometrically to 24 epochs of the plain
    ELBO (1 draw) with batches of 512, imputing with 20 draws; beyond,
    epochs shrink as 1 / sqrt(n_samples). Training and imputation stay
    linear in the rows.

    Parameters
    ----------
    missing_values : int, float, str, np.nan, None or pandas.NA, default=np.nan
        The placeholder for missing values. With np.nan or pandas.NA, every
        NaN, None and pandas.NA counts as missing (in object arrays too); in
        categorical columns they always do. Features with no observed value
        in ``fit`` are dropped by ``transform``, with a warning (see
        ``keep_empty_features``), as sklearn's imputers do.

    categorical_features : "from_dtype", None or array-like, default="from_dtype"
        Which columns hold categories.

        - ``"from_dtype"``: the columns of a DataFrame with dtype object,
          category, string or bool; none for an array.
        - None: no column.
        - array-like of int, of str (column names) or of bool (one per
          column): those columns. Integers are positions, except in a
          DataFrame that has integer column labels, where they are labels
          (as in ``X[...]``; read as positions they would pick other
          columns than the ones so labelled); there, a boolean mask selects
          by position.

        A categorical column with more than 50 levels, more than 90% of its
        observed entries, looks like an identifier (the rest of a row cannot
        predict it) and gives a ``UserWarning`` in ``fit``. Imputation
        batches hold fewer rows the more levels there are, so that its
        memory does not grow with them; its time does.

    add_indicator : bool, default=False
        Append a :class:`~sklearn.impute.MissingIndicator` of the features
        that had missing values in ``fit``.

    keep_empty_features : bool, default=False
        Keep features that are entirely missing in ``fit`` (filled with 0;
        a non-numeric categorical column is left as it is) instead of
        dropping them.

    sample_posterior : bool, default=False
        Fill each hole with one draw from the model's posterior predictive
        p(x_missing | x_observed) (sampling importance resampling) instead
        of its mean (most probable level for categories). Different
        ``random_state`` values then give multiple imputations.

    calibrate_categories : bool or "auto", default="auto"
        Calibrate the probabilities of the levels of categorical columns out
        of sample. A VAE fitted to a few hundred rows learns chance
        associations: on a column that the rest of the row says little
        about, its most probable level is right less often than the
        column's most frequent level. With calibration, two more models of
        the same configuration, each trained on half of the rows, predict
        the observed categorical entries of the other half from the rest of
        their row (at most 256 entries of each column in each half, and
        2,048 of all columns together but at least 64 of each, a seeded
        random subset beyond that, so that the cost stays bounded on large
        tables with many categorical columns); for each column, the weight
        ``w`` in [0, 1] under which
        ``(1 - w) * p_model + w * p_frequency`` gives those entries the
        highest likelihood (``p_frequency``: the levels' shares among the
        column's observed entries) is applied to every imputation of the
        column, point estimates and ``sample_posterior`` draws alike. ``w``
        is near 0 where the model's probabilities hold up and near 1 where
        the column's frequencies predict better. On tables with categorical
        columns it makes ``fit`` take two to three times as long (each
        half-table model trains for as many epochs as the model itself, and
        half the rows take more than half the time). "auto": on for
        tables of at most 10,000 rows (on larger ones the model learns
        little by chance, and calibrating costs most); it also needs at
        least 20 rows.

    n_components : int, default=8
        Dimension of the latent space. Components the data do not need are
        switched off by the KL term, so a generous value is safe.

    hidden_layer_sizes : int, tuple of int or None, default=None
        Widths of the encoder's hidden layers; the decoder mirrors them.
        None: one layer of 256 units, whatever the size of the table
        (see "Cost" above).

    activation : {"relu", "elu", "gelu", "silu", "tanh", "logistic", \
            "identity"}, default="relu"
        Activation between hidden layers.

    n_training_draws : int or "auto", default="auto"
        Latent draws per row in the training objective, the
        importance-weighted bound of MIWAE; 1 is the plain ELBO. "auto": 20,
        down to 1 from 2,000 to 10,000 rows.

    beta : float, default=1.0
        Weight of the KL term in training.

    kl_warmup : int, default=0
        Epochs over which the KL weight ramps from 0 to ``beta``.

    batch_size : int or "auto", default="auto"
        Rows per Adam step. "auto": 64, up to 512 from 2,000 to 10,000 rows.

    learning_rate : float or "auto", default="auto"
        Adam's step size (the first epoch's, with the cosine decay of
        ``max_iter="auto"``). "auto": 3e-3 up to 2,000 rows; above, 1e-3,
        up to 4e-3 with the batch size at 10,000 rows.

    max_iter : int or "auto", default="auto"
        Number of epochs. "auto": 250 up to 2,000 rows, with the step size
        decaying along half a cosine towards 0 over them; above, 400 at
        2,000 rows, down to 24 at 10,000 rows, then as 24 * sqrt(10,000 /
        n_samples) (at least 3), at a constant step size. This schedule is
        the method (as in MIWAE), and ending it raises no
        ``ConvergenceWarning``. An int is a maximum at a constant step
        size: reaching it without meeting the stopping criterion warns.

    early_stopping : bool, default=False
        Hide half of the observed entries of ``validation_fraction`` of the
        rows from training and stop when the error of imputing them from
        the rest of their row has not improved for ``n_iter_no_change``
        epochs, keeping the best weights. If False, stop when the training
        loss stops improving, or at ``max_iter``. Held-out entries cost
        narrow tables much of their data, and the held-out error is a noisy
        guide on small ones, hence the fixed schedule by default.

    validation_fraction : float, default=0.1
        Share of rows that lend entries to validation.

    n_iter_no_change : int, default=20
        Epochs without improvement before stopping (not used by the "auto"
        schedule without early stopping).

    tol : float, default=1e-4
        Minimum improvement (nats per row) that counts.

    n_importance_samples : int or "auto", default="auto"
        Latent draws per row used to impute it; more is more accurate and
        slower. "auto": 2000, down to 20 from 2,000 to 10,000 rows.

    device : str, default="auto"
        Torch device: ``"auto"`` (a GPU when visible), ``"cpu"``, ``"cuda"``...

    %(training_precision)s

    random_state : int, RandomState instance or None, default=None
        Seeds training (initialisation, shuffling, validation split) and,
        with ``sample_posterior=True``, the draws of ``transform``: with an
        int, results are reproducible; set another value (no refit needed)
        for another imputation. Never changes numpy's or torch's global
        random state.

    verbose : int, default=0
        0 is silent; 1 or more prints a line for each phase of the fit and
        one per epoch: the epoch out of the most, the loss (and
        validation score), the epoch's time, the time so far and an
        estimate of what is left (an upper bound under early stopping).
        Calibration and imputation each print a line too.

    warm_start : bool, default=False
        Continue training from the previous fit's weights.

    Attributes
    ----------
    categorical_features_ : ndarray of shape (``n_features_in_``,), dtype=bool
        Which input features were modelled as categorical.
    categories_ : list of ndarray
        The levels of each categorical feature, in the order of
        ``categorical_features_`` (an empty array for an empty feature).
    indicator_ : MissingIndicator or None
        The indicator appended when ``add_indicator=True``.
    n_importance_samples_ : int
        Draws per row used to impute (``n_importance_samples`` resolved).
    category_shrinkage_ : ndarray of shape (n_categorical_features,)
        For each categorical feature, the weight ``w`` of its observed level
        frequencies in its imputed probabilities (see
        ``calibrate_categories``); 0 where not calibrated.
    loss_curve_ : list of float
        Training loss per epoch (the negative importance-weighted bound of
        the observed entries, nats per row in model units).
    validation_scores_ : list of float or None
        Per epoch, minus the squared error of imputing the held-out entries,
        summed per validation row (standardised units; Brier score for
        categories). None without early stopping.
    best_validation_score_, best_loss_, n_iter_, learning_rate_, batch_size_
        As for :class:`~skvae.VAETransformer` (``learning_rate_`` and
        ``batch_size_``: "auto" resolved as described above).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.impute.IterativeImputer : Imputation by chained regressions.
    sklearn.impute.KNNImputer : Imputation from nearest neighbours.
    VAETransformer : Dimensionality reduction of (possibly incomplete) data.

    References
    ----------
    Mattei and Frellsen, "MIWAE: Deep Generative Modelling and Imputation of
    Incomplete Data Sets", ICML 2019.
    Burda, Grosse and Salakhutdinov, "Importance Weighted Autoencoders",
    ICLR 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from skvae import VAEImputer
    >>> X = np.array([[1.0, 2.0], [np.nan, 3.0], [7.0, 6.0], [4.0, np.nan]] * 10)
    >>> imputer = VAEImputer(max_iter=5, random_state=0)
    >>> X_filled = imputer.fit_transform(X)
    >>> X_filled.shape, bool(np.isnan(X_filled).any())
    ((40, 2), False)
    """

    _parameter_constraints: dict = {
        "missing_values": [MissingValues()],
        "categorical_features": [StrOptions({"from_dtype"}), "array-like", None],
        "add_indicator": ["boolean"],
        "keep_empty_features": ["boolean"],
        "sample_posterior": ["boolean"],
        "calibrate_categories": ["boolean", StrOptions({"auto"})],
        **{
            key: value
            for key, value in BaseVAE._parameter_constraints.items()
            if key
            in (
                "n_components",
                "hidden_layer_sizes",
                "activation",
                "beta",
                "kl_warmup",
                "early_stopping",
                "validation_fraction",
                "n_iter_no_change",
                "tol",
                "n_importance_samples",
                "device",
                "training_precision",
                "random_state",
                "verbose",
                "warm_start",
            )
        },
        "n_training_draws": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "n_importance_samples": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    }

    def __init__(
        self,
        *,
        missing_values=np.nan,
        categorical_features="from_dtype",
        add_indicator=False,
        keep_empty_features=False,
        sample_posterior=False,
        calibrate_categories="auto",
        n_components=8,
        hidden_layer_sizes=None,
        activation="relu",
        n_training_draws="auto",
        beta=1.0,
        kl_warmup=0,
        batch_size="auto",
        learning_rate="auto",
        max_iter="auto",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=20,
        tol=1e-4,
        n_importance_samples="auto",
        device="auto",
        training_precision="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.missing_values = missing_values
        self.categorical_features = categorical_features
        self.add_indicator = add_indicator
        self.keep_empty_features = keep_empty_features
        self.sample_posterior = sample_posterior
        self.calibrate_categories = calibrate_categories
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.n_training_draws = n_training_draws
        self.beta = beta
        self.kl_warmup = kl_warmup
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.n_importance_samples = n_importance_samples
        self.device = device
        self.training_precision = training_precision
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the model on the incomplete table X.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Data with missing values marked by ``missing_values``.
        y : Ignored

        Returns
        -------
        self : VAEImputer
        """
        return self._fit(X, incremental=False)

    def transform(self, X):
        """Fill the missing values of X.

        Each row is imputed from its own observed entries only, the same
        way whatever other rows come with it. Observed entries are returned
        unchanged, as are rows with nothing missing.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        X_imputed : ndarray or DataFrame of shape (n_samples, n_features_out)
            X with its holes filled, without the features that were empty
            in ``fit`` (unless ``keep_empty_features``; a warning names
            them), followed by the missing indicator (if ``add_indicator``).
            A DataFrame when X is one, with its dtypes; else an array:
            float32 and integer arrays keep their dtype (imputations rounded
            to integers), other numbers give float64, and categories that
            are not numbers an object array.
        """
        check_is_fitted(self)
        table = read_table(self, X, reset=False)
        skipped = np.setdiff1d(np.arange(len(table.columns)), self._kept_features)
        if skipped.size:
            names = getattr(self, "feature_names_in_", None)
            warnings.warn(
                "Skipping features without any observed values: "
                f"{skipped if names is None else names[skipped]}. At least one "
                "non-missing value is needed for imputation with VAEImputer.",
                UserWarning,
            )
        X_model, observed, unseen = self._encode(table)
        if unseen:
            warnings.warn(
                "Found categories not seen during fit in column(s) "
                f"{', '.join(map(str, unseen))}; they are kept as they are and "
                "ignored when imputing the other entries of their rows.",
                UserWarning,
            )
        rows = np.flatnonzero(~observed.all(axis=1))
        if rows.size:
            start = time.perf_counter()
            if self.verbose:
                print(
                    f"Imputing {rows.size} rows with {self.n_importance_samples_} "
                    "importance draws each...",
                    flush=True,
                )
            # X_model is this call's own array: filled in place, its rows
            # gathered a batch at a time.
            X_model[rows] = self._impute(X_model, observed, rows)
            if self.verbose:
                print(f"Imputed in {time.perf_counter() - start:.1f}s.", flush=True)
        return self._assemble(table, X_model)

    def sample(self, n_samples=1, random_state=None, *, noise=True, clip=True):
        """Generate new rows from the model: synthetic data.

        Each row comes from a latent code drawn from the prior, z ~ N(0, I),
        then from p(x | z): numbers with the model's noise, levels drawn
        with their probabilities. Rows are independent of each other and
        of the rows seen in ``fit``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to generate.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; None uses the estimator's ``random_state``
            (so a fixed ``random_state`` gives the same rows at every call).
        noise : bool, default=True
            False gives the mean of p(x | z) instead of a draw (the most
            probable level for categories): smoother rows, with less spread
            than the data.
        clip : bool, default=True
            Keep every number within the range observed in ``fit`` (values
            outside come from the Gaussian's tails).

        Returns
        -------
        X_new : ndarray or DataFrame of shape (n_samples, n_features_out)
            The features of ``fit`` without those that were empty there
            (unless ``keep_empty_features``: then missing), and without the
            missing indicator. A DataFrame with the column names and dtypes
            of ``fit`` when fitted on one (integer columns hold rounded
            values, categorical ones the levels seen in ``fit``, with their
            categories); an array otherwise, as ``transform`` returns.

        Examples
        --------
        >>> import pandas as pd
        >>> from skvae import VAEImputer
        >>> frame = pd.DataFrame({
        ...     "size": [1.0, 2.0, None, 4.0] * 10,
        ...     "colour": pd.Categorical(["red", "blue", "red", None] * 10),
        ... })
        >>> imputer = VAEImputer(max_iter=5, random_state=0).fit(frame)
        >>> new = imputer.sample(3, random_state=0)
        >>> new.dtypes.astype(str).tolist()
        ['float64', 'category']
        >>> bool(new["colour"].isin(["red", "blue"]).all())
        True
        """
        check_is_fitted(self)
        n_samples = check_n_samples(n_samples)
        if not hasattr(self, "_data_min"):
            raise AttributeError(
                "This VAEImputer was saved by a version of skvae without sample(); "
                "fit it again to sample from it."
            )
        rng = check_random_state(self.random_state if random_state is None else random_state)
        Z = rng.standard_normal((int(n_samples), self._config["n_components"]))
        module = self._imputation_module()
        param = next(module.parameters())
        generator = torch.Generator(param.device).manual_seed(draw_seed(rng))
        likelihood = module.likelihood

        def draw(z):
            out = module.decode(z)
            return likelihood.sample(out, generator) if noise else likelihood.mean(out)

        values = self._map_batches(
            draw, Z, batch_size=self._imputation_batch_size(1), module=module
        )
        return self._assemble_sample(values, clip)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; None uses ``feature_names_in_`` or
            ``x0, x1, ...``.

        Returns
        -------
        feature_names_out : ndarray of str
        """
        check_is_fitted(self)
        input_features = _check_feature_names_in(self, input_features)
        names = input_features[self._kept_features]
        if self.indicator_ is not None:
            names = np.concatenate(
                [names, self.indicator_.get_feature_names_out(input_features)]
            )
        return names

    # --------------------------------------------------------- validation

    # ---------------------------------------------------- BaseVAE hooks

    def _validate_fit_data(self, X, y, *, reset):
        table = read_table(self, X, reset=reset)
        return table, y

    def _setup(self, table, y=None):
        """First fit: levels, scaling, empty features, the indicator, and
        the network."""
        observed = ~table.missing
        self._empty = ~observed.any(axis=0)
        self._kept_features = np.flatnonzero(~self._empty | self.keep_empty_features)
        self.indicator_ = None
        if self.add_indicator:
            self.indicator_ = MissingIndicator(missing_values=1, error_on_new=False)
            self.indicator_.fit(table.missing.astype(np.uint8))
        self.categories_ = []
        n_features = len(table.columns)
        self._shift, self._scale = np.zeros(n_features), np.ones(n_features)
        for j, column in enumerate(table.columns):
            values = column[observed[:, j]]
            if self.categorical_features_[j]:
                levels = _unique_levels(values) if values.size else np.array([], dtype=object)
                self.categories_.append(levels)
                if levels.size > _ID_MIN_LEVELS and levels.size > _ID_LEVEL_SHARE * values.size:
                    warnings.warn(
                        f"Column {column_name(self, j)} has {levels.size} levels among "
                        f"{values.size} observed entries: it looks like an identifier, "
                        "not a category. The rest of a row cannot predict it, a hole "
                        "in it gets one of the levels seen in fit, and imputing costs "
                        "time in proportion to its levels. Drop it, or leave it out "
                        "of categorical_features if it holds numbers.",
                        UserWarning,
                    )
            elif values.size:
                shift, scale = standardisation(
                    values.reshape(-1, 1), "gaussian", names=[column_name(self, j)]
                )
                self._shift[j], self._scale[j] = shift[0], scale[0]
        self._data_min, self._data_max = _numeric_ranges(table, self.categorical_features_)
        self._column_dtypes, self._dtype_categories, self._ordered_categories = (
            _describe_dtypes(table.frame)
        )
        # What transform would return for an array like X: sample's dtype.
        self._array_dtype = None if table.frame is not None else str(
            _array_output_dtype(table, [table.columns[j] for j in self._kept_features])
        )
        # The model sees the non-empty features, in input order.
        self._model_features = np.flatnonzero(~self._empty)
        is_cat = self.categorical_features_[self._model_features]
        numeric = np.flatnonzero(~is_cat).tolist()
        categorical = np.flatnonzero(is_cat).tolist()
        cat_index = np.flatnonzero(self.categorical_features_)
        levels = [
            len(self.categories_[int(np.searchsorted(cat_index, self._model_features[k]))])
            for k in categorical
        ]
        likelihood = likelihood_parts(numeric, categorical, levels)
        n_model = len(self._model_features)
        self._auto = auto_schedule(table.n_samples)
        hidden = self.hidden_layer_sizes
        if hidden is None:
            hidden = self._auto["hidden_layer_sizes"]
        draws = self.n_training_draws
        if draws == "auto":
            draws = self._auto["draws"]
        samples = self.n_importance_samples
        if samples == "auto":
            samples = self._auto["samples"]
        self.n_importance_samples_ = int(samples)
        self._config = {
            "network": "dense",
            "n_features": n_model,
            "n_components": int(self.n_components),
            "likelihood": likelihood,
            "hidden_layer_sizes": resolve_hidden_layer_sizes(hidden, n_model),
            "activation": self.activation,
            "training_samples": int(draws),
        }
        if n_model == 0:
            raise ValueError(
                "Every feature of X is entirely missing: there is nothing to "
                "learn an imputation from."
            )
        # Absurd sizes fail here, before anything is allocated. The
        # sample_posterior path draws without _importance_noise: this is its
        # check of n_importance_samples.
        batch = self._auto["batch_size"] if self.batch_size == "auto" else self.batch_size
        check_network_size(self._config, min(batch, table.n_samples))
        check_importance_samples(self.n_importance_samples_, self._config)

    def _training_arrays(self, table, y=None):
        X_model, observed, _ = self._encode(table)
        return X_model.astype(np.float32), observed

    def _schedule(self, n_train, work_per_row=None):
        """Resolve the "auto" epochs, batch size and learning rate (the
        table's size decides them: ``work_per_row`` is not used). Without
        early stopping, "auto" epochs are a fixed schedule (as in MIWAE):
        all are run, with a cosine decay of the step size, and ending them
        does not warn."""
        auto = self._auto
        batch_size = auto["batch_size"] if self.batch_size == "auto" else self.batch_size
        learning_rate = self.learning_rate
        if learning_rate == "auto":
            learning_rate = auto["learning_rate"]
        return Schedule(
            max_epochs=auto["epochs"] if self.max_iter == "auto" else self.max_iter,
            batch_size=min(batch_size, n_train),
            learning_rate=float(learning_rate),
            fixed_length=self.max_iter == "auto",
            cosine=self.max_iter == "auto" and auto.get("cosine", False),
        )

    def _split(self, arrays, use_validation, seed):
        """Hold out entries, not rows: in ``validation_fraction`` of the rows
        (those with something observed), half of the observed entries,
        rounded up, are hidden from training; the validation score is minus
        the error of imputing them from the rest of their row. Every row
        still trains on its other entries."""
        if not use_validation:
            return arrays, None
        X_model, observed = arrays
        rng = np.random.default_rng(seed)
        candidates = np.flatnonzero(observed.any(axis=1))
        n_val = math.ceil(self.validation_fraction * candidates.size)
        rows = np.sort(rng.permutation(candidates)[:n_val])
        seen = observed[rows]
        # A random order of each row's observed entries; the first half is held out.
        order = np.where(seen, rng.random(seen.shape), np.inf).argsort(axis=1).argsort(axis=1)
        held_rows = order < np.ceil(seen.sum(axis=1) / 2)[:, None]
        held = np.zeros_like(observed)
        held[rows] = held_rows
        kept = observed & ~held
        train = (X_model, kept)
        val = (X_model[rows], kept[rows], held_rows)
        return train, val

    def _after_training(self, table, y=None):
        self._calibrate(table)

    # -------------------------------------------------------- calibration

    def _categorical_layout(self):
        """For each categorical model column: its model column, its index in
        ``categories_`` and the slice of its levels in the model's
        predictive statistics (numeric columns first, then the levels of
        each categorical column in order, as the likelihood is built in
        ``_setup``)."""
        features = self._model_features
        is_cat = self.categorical_features_[features]
        cat_index = np.flatnonzero(self.categorical_features_)
        start = int((~is_cat).sum())
        layout = []
        for k in np.flatnonzero(is_cat):
            c = int(np.searchsorted(cat_index, features[k]))
            n_levels = len(self.categories_[c])
            layout.append((int(k), c, slice(start, start + n_levels)))
            start += n_levels
        return layout

    def _calibrate(self, table):
        """Cross-fitted shrinkage of each categorical column's imputed
        probabilities towards its observed level frequencies (see
        ``calibrate_categories``): sets ``category_shrinkage_`` and the
        frequencies."""
        layout = self._categorical_layout()
        self.category_shrinkage_ = np.zeros(len(self.categories_))
        self._level_frequencies = [np.zeros(len(levels)) for levels in self.categories_]
        calibrate = self.calibrate_categories
        if calibrate == "auto":
            calibrate = table.n_samples <= _LARGE
        if not calibrate or not layout or table.n_samples < _MIN_CALIBRATION_ROWS:
            return
        X_model, observed = self._training_arrays(table)
        for k, c, _ in layout:
            counts = np.bincount(
                X_model[observed[:, k], k].astype(np.intp), minlength=len(self.categories_[c])
            )
            self._level_frequencies[c] = counts / counts.sum()
        if self.verbose:
            print(
                "Calibrating the categorical columns: two models, each trained on "
                "half of the rows, predict the other half.",
                flush=True,
            )
        seeds = np.random.SeedSequence([self._seed, self._n_fit_calls, 1]).generate_state(3)
        fold = np.random.default_rng(seeds[0]).permutation(table.n_samples) % 2
        predicted = {k: [] for k, _, _ in layout}  # per column: (probabilities, codes)
        subset = np.random.default_rng(
            np.random.SeedSequence([self._seed, self._n_fit_calls, 2]).generate_state(1)
        )
        most = min(
            _CALIBRATION_ROWS, max(_CALIBRATION_MIN_ROWS, _CALIBRATION_ENTRIES // len(layout))
        )
        for f, seed in zip((0, 1), seeds[1:]):
            train = np.flatnonzero(fold != f)
            module = self._train_calibration_module(
                (X_model[train], observed[train]), int(seed),
                phase=f"Calibration model {f + 1}/2, epoch",
            )
            if module is None:  # diverged: leave the model's probabilities as they are
                return
            held = np.flatnonzero(fold == f)
            for k, c, levels in layout:
                rows = held[observed[held, k]]
                if rows.size == 0:
                    continue
                if rows.size > most:
                    rows = np.sort(subset.choice(rows, most, replace=False))
                mask = observed[rows]
                mask[:, k] = False  # predict the entry from the rest of its row
                probabilities = self._level_probabilities(module, X_model[rows], mask, levels)
                predicted[k].append((probabilities, X_model[rows, k].astype(np.intp)))
        for k, c, _ in layout:
            if predicted[k] and len(self.categories_[c]) > 1:
                probs = np.concatenate([p for p, _ in predicted[k]])
                codes = np.concatenate([t for _, t in predicted[k]])
                self.category_shrinkage_[c] = _shrinkage_weight(
                    probs, codes, self._level_frequencies[c]
                )
        if self.verbose:
            names = [column_name(self, j) for j in np.flatnonzero(self.categorical_features_)]
            print(
                "Calibrated the categorical columns; weight of the level frequencies: "
                + ", ".join(f"{n} {w:.2f}" for n, w in zip(names, self.category_shrinkage_))
            )

    def _train_calibration_module(self, arrays, seed, phase):
        """A model of this configuration trained on ``arrays`` for as many
        epochs as this model has had, ready to impute in single precision;
        None if training diverged."""
        device = resolve_device(self.device)
        init_seed, shuffle_seed = np.random.SeedSequence(seed).generate_state(2)
        module = build_module(self._config, seed=int(init_seed), device=device)
        schedule = replace(
            self._schedule(arrays[0].shape[0]), max_epochs=max(1, self.n_iter_), fixed_length=True
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                _, outcome = self._train_module(
                    module, arrays, None, schedule, int(shuffle_seed), phase=phase
                )
        except ValueError:  # diverged
            return None
        if outcome.interrupted:
            warnings.warn(
                "Calibration interrupted by the user; the categorical columns keep "
                "the model's own probabilities.",
                UserWarning,
            )
            return None
        return module.to(self._inference_device()).eval()

    def _level_probabilities(self, module, X_model, observed, levels):
        """The importance-sampled probabilities of one categorical column's
        levels for each row of X_model given its ``observed`` entries, a
        batch at a time; ``levels``: the column's slice of the decoder's
        outputs (and of the predictive statistics: they lie alike). Only
        that column's probabilities are computed, not every column's."""
        k = self.n_importance_samples_
        eps = self._importance_noise(k, module)
        column = Categorical([levels.stop - levels.start]).to(next(module.parameters()).device)
        return self._map_batches(
            lambda x, m: module.predictive_statistics(x, m, eps, levels, column),
            X_model,
            observed,
            batch_size=self._imputation_batch_size(k),
            module=module,
            draws=k,
        )

    def _shrinkage(self, module):
        """(weight, target) over the model's predictive statistics for
        ``VAE.impute``, or None when no column is shrunk."""
        shrinkage = getattr(self, "category_shrinkage_", None)
        if shrinkage is None or not shrinkage.any():
            return None
        n_statistics = module.likelihood.n_statistics
        weight, target = np.zeros(n_statistics), np.zeros(n_statistics)
        for _, c, levels in self._categorical_layout():
            weight[levels] = shrinkage[c]
            target[levels] = self._level_frequencies[c]
        param = next(module.parameters())
        as_tensor = lambda a: torch.as_tensor(a, device=param.device, dtype=param.dtype)  # noqa: E731
        return as_tensor(weight), as_tensor(target)

    def _redraw_from_frequencies(self, filled, observed, rng):
        """For ``sample_posterior``: replace each imputed level of column c,
        with probability ``category_shrinkage_[c]``, by a draw from the
        column's level frequencies (a draw from the calibrated mixture)."""
        shrinkage = getattr(self, "category_shrinkage_", None)
        if shrinkage is None or not shrinkage.any():
            return filled
        for k, c, _ in self._categorical_layout():
            holes = np.flatnonzero(~observed[:, k])
            redraw = holes[rng.random(holes.size) < shrinkage[c]]
            frequencies = self._level_frequencies[c]
            filled[redraw, k] = rng.choice(frequencies.size, size=redraw.size, p=frequencies)
        return filled

    # ------------------------------------------------------------ helpers

    def _encode(self, table):
        """The model's view of a table: standardised numbers and level codes
        (0 where missing), the mask of usable entries, and the columns with
        unseen categories."""
        n = table.n_samples
        features = self._model_features
        X_model = np.zeros((n, len(features)))
        observed = ~table.missing[:, features]
        unseen = []
        cat_index = np.flatnonzero(self.categorical_features_)
        for k, j in enumerate(features):
            column, seen = table.columns[j], observed[:, k]
            if self.categorical_features_[j]:
                levels = self.categories_[int(np.searchsorted(cat_index, j))]
                codes, any_unseen = encode_levels(column, seen, levels)
                if any_unseen:
                    unseen.append(column_name(self, j))
                seen &= ~np.isnan(codes)
                X_model[seen, k] = codes[seen]
            else:
                X_model[seen, k] = (column[seen] - self._shift[j]) / self._scale[j]
        return X_model, observed, unseen

    def _impute(self, X_model, observed, rows):
        """Importance-sampling imputation of the rows ``rows`` of X_model, in
        model units; the rows are gathered one batch at a time."""
        module = self._imputation_module()
        param = next(module.parameters())
        k = self.n_importance_samples_
        per_batch = self._imputation_batch_size(k)
        n_components = self._config["n_components"]
        if not self.sample_posterior:
            eps = self._importance_noise(k, module)
            shrinkage = self._shrinkage(module)
            fn = lambda x, m: module.impute(x, m, eps, shrinkage=shrinkage)  # noqa: E731
        else:
            seed = draw_seed(self.random_state)
            generator = torch.Generator(param.device).manual_seed(seed)

            def fn(x, m):
                eps = torch.randn(
                    k, 1, n_components, generator=generator, device=param.device,
                    dtype=param.dtype,
                )
                return module.impute(x, m, eps, generator=generator)

        filled = self._map_batches(
            fn, rows, batch_size=per_batch, module=module, draws=k,
            prepare=lambda index: (X_model[index], observed[index]),
        )
        if self.sample_posterior:
            rng = np.random.default_rng([seed, 1])
            filled = self._redraw_from_frequencies(filled, observed[rows], rng)
        return filled

    def _imputation_module(self):
        return self._inference

    def _imputation_batch_size(self, n_draws):
        """Rows per batch when imputing with ``n_draws`` draws per row: rows
        x draws x the widest layer stays within _IMPUTE_VALUES_PER_BATCH
        (at least one row), so that a categorical column of many levels
        (one logit each, padded to the most levels per column) takes
        smaller batches rather than more memory."""
        config = self._config
        widths = [_MIN_LAYER_WIDTH, config["n_features"], *config["hidden_layer_sizes"]]
        if isinstance(config["likelihood"], list):
            parts = {part["kind"]: part for part in config["likelihood"]}
            levels = parts["categorical"]["n_categories"]
            n_numeric = len(parts["gaussian"]["features"]) if "gaussian" in parts else 0
            widths.append(n_numeric + max(sum(levels), len(levels) * max(levels)))
        return max(1, _IMPUTE_VALUES_PER_BATCH // (n_draws * max(widths)))

    def _build_inference_module(self):
        # Single precision: imputation averages many draws, and float32 is
        # about twice as fast as the float64 used for exact scores; the
        # imputer computes no scores.
        device = self._inference_device()
        return build_module(self._config, params=self._params, device=device).eval()

    def _assemble(self, table, filled):
        """Write the imputed entries into a copy of the input and add the
        indicator."""
        n = table.n_samples
        missing = table.missing
        columns = []
        cat_index = np.flatnonzero(self.categorical_features_)
        position = {int(j): k for k, j in enumerate(self._model_features)}
        for j in self._kept_features:
            column = table.columns[j].copy()
            hole = missing[:, j]
            if hole.any():
                if self._empty[j]:
                    # Nothing to learn from: 0, as sklearn's imputers do (a
                    # column of non-numeric categories is left as it is).
                    if column.dtype.kind == "f":
                        column[hole] = 0
                else:
                    values = filled[hole, position[int(j)]]
                    if self.categorical_features_[j]:
                        levels = self.categories_[int(np.searchsorted(cat_index, j))]
                        column[hole] = levels[values.astype(np.intp)]
                    else:
                        values = values * self._scale[j] + self._shift[j]
                        column[hole] = _as_integers(values, table.column_dtype(j))
            columns.append(column)
        indicator = None
        if self.indicator_ is not None:
            indicator = self.indicator_.transform(missing.astype(np.uint8)).astype(np.float64)
        if table.frame is not None:
            return self._to_frame(table.frame, columns, indicator)
        # An integer array comes back in its dtype (imputed values rounded).
        dtype = _array_output_dtype(table, columns)
        if table.numeric_array is not None:
            out = np.column_stack(columns) if columns else np.empty((n, 0))
            out = out.astype(dtype, copy=False)
        else:
            out = _stack(columns, n, dtype)
        if indicator is not None:
            out = np.hstack([out, indicator.astype(out.dtype)])
        return out

    def _to_frame(self, frame, columns, indicator):
        import pandas as pd

        dtypes = list(frame.dtypes.iloc[self._kept_features])
        names = list(frame.columns[self._kept_features])
        if indicator is not None:
            names += list(self.get_feature_names_out()[len(names) :])
            columns = [*columns, *indicator.T]
            dtypes += [indicator.dtype] * indicator.shape[1]
        return _frame(columns, dtypes, names, frame.index, pd)

    def _assemble_sample(self, values, clip):
        """Generated rows, from model units (``values``, one column per
        modelled feature) to the columns and dtypes of ``fit``."""
        n = values.shape[0]
        cat_index = np.flatnonzero(self.categorical_features_)
        position = {int(j): k for k, j in enumerate(self._model_features)}
        frame = self._column_dtypes is not None
        pd = None
        if frame:
            import pandas as pd
        columns, dtypes = [], []
        for j in self._kept_features:
            dtype = fitted_dtype(self, j, pd, self._array_dtype)
            dtypes.append(dtype)
            if self._empty[j]:
                columns.append(np.full(n, np.nan) if not self.categorical_features_[j]
                               else np.full(n, None, dtype=object))
                continue
            column = values[:, position[int(j)]]
            if self.categorical_features_[j]:
                levels = self.categories_[int(np.searchsorted(cat_index, j))]
                columns.append(decode_levels(column, levels))
                continue
            column = column.astype(np.float64) * self._scale[j] + self._shift[j]
            if clip:
                column = np.clip(column, self._data_min[j], self._data_max[j])
            columns.append(_as_integers(column, dtype))
        if frame:
            names = list(self.feature_names_in_[self._kept_features])
            return _frame(columns, dtypes, names, pd.RangeIndex(n), pd)
        return _stack(columns, n, self._array_dtype)

    def __getstate__(self):
        state = super().__getstate__()
        if is_pandas_na(state.get("missing_values")):
            # A flag instead of pandas.NA: loading a skops file then trusts
            # skvae's types only, not pandas' NAType.
            state = {**state, "missing_values": None, _PANDAS_NA_FLAG: True}
        return state

    def __setstate__(self, state):
        if _PANDAS_NA_FLAG in state:
            import pandas as pd

            state = dict(state)
            if state.pop(_PANDAS_NA_FLAG) is True:
                state["missing_values"] = pd.NA
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        marker = self.missing_values
        tags.input_tags.allow_nan = is_scalar_nan(marker) or is_pandas_na(marker)
        tags.input_tags.categorical = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _shrinkage_weight(probs, codes, frequencies):
    """The weight w on the grid that maximises the mean log-likelihood of
    the levels ``codes`` under ``(1 - w) * probs + w * frequencies``; the
    smallest such w."""
    rows = np.arange(codes.size)
    mixture = np.outer(1 - _SHRINKAGE_GRID, probs[rows, codes])
    mixture += np.outer(_SHRINKAGE_GRID, frequencies[codes])
    log_lik = np.log(np.maximum(mixture, np.finfo(np.float64).tiny)).mean(axis=1)
    return float(_SHRINKAGE_GRID[np.argmax(log_lik)])



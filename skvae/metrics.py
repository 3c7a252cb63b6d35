"""Disentanglement and latent-space diagnostics.

- :func:`mutual_information_gap` (MIG, Chen et al., NeurIPS 2018): how far
  each known factor of variation is captured by one latent component
  rather than spread over several, for codes ``Z`` and known ``factors``.
- :func:`make_mig_scorer`: MIG as a scikit-learn scorer, for a
  ``GridSearchCV`` whose ``y`` holds the factors.
- :func:`total_correlation` and :func:`active_components`: unsupervised
  diagnostics of a fitted :class:`~skvae.VAETransformer`, which need no
  factors: the total correlation of the aggregate posterior q(z) (0 when
  its components are independent) and the number of components whose code
  varies across rows (Burda et al., ICLR 2016).
"""

import numpy as np
import torch
from sklearn.metrics import mutual_info_score
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.validation import _num_samples, check_array, check_is_fitted

from .nn.posteriors import DiagonalGaussian


def _discretise(values, n_bins):
    """Codes 0 .. n_bins - 1 of equal-width bins over the range of
    ``values`` (one column), as disentanglement_lib discretises codes."""
    lo, hi = values.min(), values.max()
    if hi <= lo:
        return np.zeros(values.shape[0], dtype=np.intp)
    edges = np.linspace(lo, hi, n_bins + 1)[1:-1]
    return np.digitize(values, edges)


def _factor_codes(factor, n_bins):
    """A factor as integer codes: its own levels when it has at most
    ``n_bins`` distinct values, else equal-width bins."""
    levels, codes = np.unique(factor, return_inverse=True)
    if levels.size <= n_bins:
        return codes
    return _discretise(factor.astype(np.float64), n_bins)


def mutual_information_gap(Z, factors, *, n_bins=20):
    """Mutual information gap of the codes ``Z`` for the known ``factors``.

    For each factor v_k: the mutual information I(z_j; v_k) with each
    component z_j (each component discretised into ``n_bins`` equal-width
    bins, as in Chen et al., 2018 and Locatello et al., 2019), the gap
    between the largest and the second largest, divided by the factor's
    entropy H(v_k); the mean over factors. 1 when each factor is read
    off one component that says nothing of the others; 0 when every factor
    is spread evenly (or not captured).

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_components)
        Latent codes (``transform`` of a fitted model), at least 2
        components.
    factors : array-like of shape (n_samples,) or (n_samples, n_factors)
        The known factors of variation: discrete factors as they are (at
        most ``n_bins`` levels), continuous ones are discretised like Z.
        A factor that never varies (entropy 0) is left out.
    n_bins : int, default=20
        Bins per component (and per continuous factor).

    Returns
    -------
    mig : float
        In [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from skvae.metrics import mutual_information_gap
    >>> rng = np.random.default_rng(0)
    >>> factors = rng.integers(0, 5, size=(1000, 2))
    >>> Z = factors + 0.01 * rng.standard_normal((1000, 2))
    >>> mutual_information_gap(Z, factors) > 0.95  # one component per factor
    True
    >>> mutual_information_gap(Z @ [[1, 1], [1, -1]], factors) < 0.1  # mixed
    True
    """
    Z = check_array(Z, ensure_min_features=2)
    factors = np.asarray(factors)
    if factors.ndim == 1:
        factors = factors[:, None]
    if factors.ndim != 2 or factors.shape[0] != Z.shape[0]:
        raise ValueError(
            f"factors must have one row per row of Z ({Z.shape[0]}); got shape {factors.shape}."
        )
    if not (isinstance(n_bins, (int, np.integer)) and n_bins >= 2):
        raise ValueError(f"n_bins must be an integer of at least 2; got {n_bins!r}.")
    codes = [_discretise(Z[:, j], n_bins) for j in range(Z.shape[1])]
    gaps = []
    for k in range(factors.shape[1]):
        v = _factor_codes(factors[:, k], n_bins)
        entropy = mutual_info_score(v, v)
        if entropy <= 0:
            continue
        information = np.sort([mutual_info_score(c, v) for c in codes])[::-1]
        gaps.append((information[0] - information[1]) / entropy)
    if not gaps:
        raise ValueError("No factor varies: the mutual information gap is undefined.")
    return float(np.mean(gaps))


def make_mig_scorer(*, n_bins=20):
    """A scorer ``scorer(estimator, X, y)`` that returns the mutual
    information gap of ``estimator.transform(X)`` for the factors ``y``.

    For a :class:`~sklearn.model_selection.GridSearchCV` over a transformer
    (``beta``, ``n_components``, ...) on data whose factors of variation
    are known: pass them as ``y`` to ``fit``; the transformer ignores
    them, the scorer reads them on each validation split.

    Parameters
    ----------
    n_bins : int, default=20
        Bins of each latent component (and of a continuous factor), as in
        :func:`mutual_information_gap`.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``, higher is better.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skvae import VAETransformer
    >>> from skvae.metrics import make_mig_scorer
    >>> factors = np.random.default_rng(0).uniform(-1, 1, size=(60, 2))
    >>> X = np.column_stack([factors, factors.prod(axis=1)])
    >>> search = GridSearchCV(
    ...     VAETransformer(2, max_iter=2, random_state=0),
    ...     {"beta": [1.0, 4.0]}, scoring=make_mig_scorer(), cv=2,
    ... ).fit(X, factors)
    >>> sorted(search.best_params_)
    ['beta']
    """

    def mig_scorer(estimator, X, y):
        return mutual_information_gap(estimator.transform(X), y, n_bins=n_bins)

    return mig_scorer


def _gaussian_mixture_total_correlation(mean, log_var, rng):
    """Total correlation of the aggregate posterior q(z) = mean over rows of
    N(mean_i, diag(exp(log_var_i))), estimated from one draw per row:
    mean_i [log q(z_i) - sum_k log q_k(z_ik)], the densities being the
    mixture over all rows (Chen et al., 2018, with the whole set as the
    batch; the estimator beta-TCVAE trains with, see
    :meth:`~skvae.nn.posteriors.DiagonalGaussian.total_correlation_terms`)."""
    mean, log_var = (np.asarray(a, dtype=np.float64) for a in (mean, log_var))
    z = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape)
    q = DiagonalGaussian(torch.from_numpy(mean), torch.from_numpy(log_var))
    with torch.no_grad():
        return float(q.total_correlation_terms(torch.from_numpy(z)).mean())


def _rows(X, max_rows, rng):
    """At most ``max_rows`` rows of X (array, DataFrame or list), at random."""
    n_samples = _num_samples(X)
    if max_rows is not None and n_samples > max_rows:
        return _safe_indexing(X, np.sort(rng.choice(n_samples, max_rows, replace=False)))
    return X


def total_correlation(estimator, X, *, max_rows=2000, random_state=None):
    """Estimated total correlation of a fitted VAETransformer's aggregate
    posterior q(z) on X, in nats: KL(q(z) || prod_k q(z_k)), 0 when the
    components of the code are independent across the data (what beta-VAE
    and beta-TCVAE push towards). Needs no factors of variation.

    q(z) is the mixture of the rows' Gaussians q(z | x) (before any flow
    ``posterior``); the estimate draws one z per row and evaluates the
    mixture densities over all rows (``max_rows`` of them at most, chosen
    at random: the cost is quadratic in the rows). The estimate is biased
    upwards when the rows' posteriors are narrow beside the spread of their
    means and the rows few (a mixture of few narrow Gaussians in several
    dimensions looks more dependent than it is): compare models on the
    same rows, as a diagnostic rather than an absolute value.

    Parameters
    ----------
    estimator : fitted VAETransformer
    X : array-like of shape (n_samples, n_features)
    max_rows : int or None, default=2000
    random_state : int, RandomState instance or None, default=None
        The subset of rows and the draws.

    Returns
    -------
    tc : float

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import VAETransformer
    >>> from skvae.metrics import total_correlation
    >>> X = load_digits().data / 16
    >>> vae = VAETransformer(2, max_iter=5, random_state=0).fit(X)
    >>> total_correlation(vae, X, random_state=0) >= -0.1
    True
    """
    check_is_fitted(estimator)
    if not hasattr(estimator, "_posterior_gaussian"):
        raise TypeError(
            f"total_correlation reads the posterior of a VAETransformer, not of a "
            f"{type(estimator).__name__}."
        )
    rng = check_random_state(random_state)
    mean, log_var = estimator._posterior_gaussian(_rows(X, max_rows, rng))
    return _gaussian_mixture_total_correlation(mean, log_var, rng)


def active_components(estimator, X, *, threshold=0.01):
    """The number of active components of a fitted model's code on X: those
    whose ``transform`` varies across the rows of X with a variance above
    ``threshold`` (Burda et al., ICLR 2016, use 0.01). Components that the
    model leaves at the prior (collapsed) have a code near 0 for every row.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import VAETransformer
    >>> from skvae.metrics import active_components
    >>> X = load_digits().data / 16
    >>> vae = VAETransformer(3, max_iter=5, random_state=0).fit(X)
    >>> 0 <= active_components(vae, X) <= 3
    True
    """
    check_is_fitted(estimator)
    return int(np.count_nonzero(np.var(estimator.transform(X), axis=0) > threshold))

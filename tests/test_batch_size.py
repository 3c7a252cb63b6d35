"""batch_size="auto" (an option, not the default): larger batches for small
networks on many rows."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

from skvae import VAEClassifier, VAEImputer, VAETransformer
from skvae._base import (
    _AUTO_BATCH_MAX,
    _SINGLE_THREAD_MAX_WORK,
    AUTO_BATCH_SIZE,
    auto_batch_size,
    auto_learning_rate,
    build_module,
    multiply_adds_per_row,
)

FAST = dict(max_iter=2, random_state=0, hidden_layer_sizes=(16,), batch_size="auto")


def quiet(estimator, *args, method="fit"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        getattr(estimator, method)(*args)
    return estimator


@pytest.fixture
def X():
    return np.random.default_rng(0).standard_normal((3000, 4))


def test_rule_values():
    # Fewer than 8 steps of 128 rows: 64, the smallest.
    assert auto_batch_size(1000, 1000) == AUTO_BATCH_SIZE
    assert auto_batch_size(10, 1000) == AUTO_BATCH_SIZE
    # Doubled while an epoch keeps 8 steps...
    assert auto_batch_size(8 * 128, 1000) == 128
    assert auto_batch_size(8 * 256 - 1, 1000) == 128
    assert auto_batch_size(8 * 256, 1000) == 256
    # ... up to the largest batch,
    assert auto_batch_size(10**7, 1000) == _AUTO_BATCH_MAX
    # ... and while a step stays within one thread's work.
    work = _SINGLE_THREAD_MAX_WORK // 128
    assert auto_batch_size(10**7, work) == 128
    assert auto_batch_size(10**7, work + 1) == AUTO_BATCH_SIZE
    # MNIST's default dense network (784-512-256, 10 components) keeps 64.
    assert auto_batch_size(3375, 1_072_640) == AUTO_BATCH_SIZE
    # Unknown work (a convolution outside skvae's networks): 64.
    assert auto_batch_size(10**7, None) == AUTO_BATCH_SIZE
    sizes = [auto_batch_size(n, 5000) for n in range(1, 20000, 97)]
    assert sizes == sorted(sizes)


def test_auto_is_resolved(X):
    # Not the default: on ISLR Wage it cost train-on-synthetic R^2 (bench synthesis).
    assert VAETransformer().batch_size == 64
    assert quiet(VAETransformer(max_iter=1, random_state=0), X).batch_size_ == 64
    vae = quiet(VAETransformer(**FAST), X)
    n_train = 3000 - 300  # validation_fraction=0.1
    module = build_module(vae._config, seed=0)
    assert vae.batch_size_ == auto_batch_size(n_train, multiply_adds_per_row(module))
    assert vae.batch_size_ == 256
    # learning_rate="auto" follows the steps of the batches chosen.
    assert vae.learning_rate_ == pytest.approx(auto_learning_rate(n_train, 256))
    small = quiet(VAETransformer(**FAST), X[:500])
    assert small.batch_size_ == AUTO_BATCH_SIZE
    explicit = quiet(VAETransformer(**{**FAST, "batch_size": 32}), X)
    assert explicit.batch_size_ == 32
    clipped = quiet(VAETransformer(**{**FAST, "batch_size": 1000}), X[:100])
    assert clipped.batch_size_ == 90


def test_auto_trains_as_its_resolved_batch_size(X):
    auto = quiet(VAETransformer(**FAST), X)
    same = quiet(VAETransformer(**{**FAST, "batch_size": auto.batch_size_}), X)
    base = quiet(VAETransformer(**{**FAST, "batch_size": 64}), X)
    np.testing.assert_array_equal(auto.transform(X), same.transform(X))
    assert auto.learning_rate_ == same.learning_rate_
    assert not np.array_equal(auto.transform(X), base.transform(X))


def test_draws_count_as_work():
    # The importance-weighted bound decodes every row K times: K times the work.
    X = np.random.default_rng(0).standard_normal((3000, 4))
    wide = {**FAST, "hidden_layer_sizes": (1024,)}
    one = quiet(VAETransformer(**wide), X)
    many = quiet(VAETransformer(n_training_draws=20, **wide), X)
    assert (one.batch_size_, many.batch_size_) == (256, 128)


def test_partial_fit_keeps_the_batch_size_of_the_fit_it_continues(X):
    fresh = quiet(VAETransformer(**FAST), X, method="partial_fit")
    assert fresh.batch_size_ == AUTO_BATCH_SIZE
    vae = quiet(VAETransformer(**FAST), X)
    assert vae.batch_size_ == 256
    quiet(vae, X[:50], method="partial_fit")  # a chunk smaller than a batch
    assert vae.batch_size_ == 256
    quiet(vae, X[:1000], method="partial_fit")
    assert vae.batch_size_ == 256


def test_verbose_names_the_batch_size(X, capsys):
    quiet(VAETransformer(verbose=1, **FAST), X)
    assert "in batches of 256" in capsys.readouterr().out


def test_bad_values_are_refused(X):
    with pytest.raises(InvalidParameterError, match="batch_size"):
        VAETransformer(**{**FAST, "batch_size": "large"}).fit(X)
    with pytest.raises(InvalidParameterError, match="batch_size"):
        VAETransformer(**{**FAST, "batch_size": 0}).fit(X)


def test_grid_search_over_auto_and_integers(X):
    search = GridSearchCV(
        VAETransformer(**FAST), {"batch_size": ["auto", 64]}, cv=2
    )
    quiet(search, X[:600])
    assert search.cv_results_["params"][0] == {"batch_size": "auto"}
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert clone(search.best_estimator_).batch_size in ("auto", 64)


def test_imputer_and_classifier_record_it(X):
    Xm = X[:300].copy()
    Xm[::3, 0] = np.nan
    imputer = quiet(VAEImputer(max_iter=1, random_state=0), Xm)
    assert imputer.batch_size_ == 64  # its own "auto" schedule for 300 rows
    y = np.where(np.arange(300) % 3 == 0, np.arange(300) % 2, -1)
    clf = quiet(VAEClassifier(**FAST), X[:300], y)
    assert clf.batch_size_ == AUTO_BATCH_SIZE

"""learning_rate="auto": larger Adam steps for fits with few steps per epoch."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

from skvae import VAEClassifier, VAEImputer, VAETransformer
from skvae._base import AUTO_LEARNING_RATE, auto_learning_rate
from skvae.impute import auto_schedule

FAST = dict(max_iter=3, random_state=0, hidden_layer_sizes=(16,))


@pytest.fixture
def X():
    return np.random.default_rng(0).standard_normal((200, 5))


def quiet(estimator, *args, method="fit"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        getattr(estimator, method)(*args)
    return estimator


def test_rule_values():
    # 50 steps per epoch and more: Adam's usual step size.
    assert auto_learning_rate(50 * 64, 64) == AUTO_LEARNING_RATE
    assert auto_learning_rate(10**6, 64) == AUTO_LEARNING_RATE
    # Fewer steps: 1e-3 * sqrt(50 / steps), at most 3e-3.
    assert auto_learning_rate(25 * 64, 64) == pytest.approx(1e-3 * np.sqrt(2))
    assert auto_learning_rate(6 * 64, 64) == pytest.approx(1e-3 * np.sqrt(50 / 6))
    assert auto_learning_rate(64, 64) == pytest.approx(3e-3)
    assert auto_learning_rate(1, 64) == pytest.approx(3e-3)
    # Steps, not rows: larger batches mean fewer steps, larger steps.
    assert auto_learning_rate(3200, 256) > auto_learning_rate(3200, 64)
    rates = [auto_learning_rate(n, 64) for n in range(1, 5000, 37)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))


def test_default_is_auto_and_resolved(X):
    assert VAETransformer().learning_rate == "auto"
    vae = quiet(VAETransformer(**FAST), X)
    n_train = 200 - 20  # validation_fraction=0.1 holds out 20 rows
    assert vae.learning_rate_ == pytest.approx(auto_learning_rate(n_train, 64))
    assert vae.learning_rate_ > AUTO_LEARNING_RATE
    explicit = quiet(VAETransformer(learning_rate=0.002, **FAST), X)
    assert explicit.learning_rate_ == 0.002


def test_auto_trains_as_its_resolved_rate(X):
    auto = quiet(VAETransformer(**FAST), X)
    same = quiet(VAETransformer(learning_rate=auto.learning_rate_, **FAST), X)
    base = quiet(VAETransformer(learning_rate=1e-3, **FAST), X)
    np.testing.assert_array_equal(auto.transform(X), same.transform(X))
    assert not np.array_equal(auto.transform(X), base.transform(X))


def test_partial_fit_keeps_the_rate_of_the_fit_it_continues(X):
    fresh = quiet(VAETransformer(**FAST), X[:50], method="partial_fit")
    assert fresh.learning_rate_ == AUTO_LEARNING_RATE
    vae = quiet(VAETransformer(**FAST), X)
    rate = vae.learning_rate_
    quiet(vae, X[:50], method="partial_fit")
    assert vae.learning_rate_ == rate


def test_verbose_names_the_rate(X, capsys):
    quiet(VAETransformer(verbose=1, **FAST), X)
    out = capsys.readouterr().out
    assert "learning rate 0.00" in out


def test_bad_string_is_refused(X):
    with pytest.raises(InvalidParameterError, match="learning_rate"):
        VAETransformer(learning_rate="fast").fit(X)


def test_search_over_auto_and_floats(X):
    search = GridSearchCV(
        VAETransformer(**FAST), {"learning_rate": ["auto", 1e-3]}, cv=2, error_score="raise"
    )
    quiet(search, X)
    assert search.best_params_["learning_rate"] in ("auto", 1e-3)


def test_imputer_and_classifier_record_their_rate(X):
    X_missing = X.copy()
    X_missing[::3, 1] = np.nan
    imputer = quiet(VAEImputer(max_iter=2, random_state=0), X_missing)
    assert imputer.learning_rate_ == auto_schedule(200)["learning_rate"]
    y = np.where(np.arange(200) % 4 == 0, (X[:, 0] > 0).astype(int), -1)
    clf = quiet(VAEClassifier(learning_rate="auto", **FAST), X, y)
    assert clf.learning_rate_ > AUTO_LEARNING_RATE

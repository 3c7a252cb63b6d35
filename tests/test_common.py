"""scikit-learn's estimator checks over every public skvae estimator."""

import inspect

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

import skvae


def public_estimators():
    """Every public estimator class, built with its default parameters."""
    classes = [
        obj
        for name in skvae.__all__
        if inspect.isclass(obj := getattr(skvae, name)) and issubclass(obj, BaseEstimator)
    ]
    return [cls() for cls in classes]


def test_every_public_estimator_is_checked():
    names = {type(e).__name__ for e in public_estimators()}
    assert "VAETransformer" in names


# No expected failures: every check must pass with the default parameters.
@parametrize_with_checks(public_estimators())
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)

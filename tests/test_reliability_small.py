"""Issue 15, item 9: VAEClassifier with a hidden width of 1, the text '-1'
in any array of strings, and absurd sizes refused before any allocation."""

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from skvae import VAEClassifier, VAETransformer
from skvae._limits import MAX_PARAMETERS, check_network_size, network_size

TINY = dict(max_iter=2, batch_size=16, random_state=0)


def semi_supervised_data(n_features=4):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((40, n_features))
    y = (X[:, 0] > 0).astype(int)
    y[::3] = -1
    return X, y


# ------------------------------------------------- hidden width of 1


@pytest.mark.parametrize(
    "params",
    [
        dict(hidden_layer_sizes=(8, 1)),
        dict(hidden_layer_sizes=(1,)),
        dict(network="conv", image_shape=(2, 2), conv_channels=(1,), hidden_layer_sizes=(1,)),
    ],
    ids=["dense-8-1", "dense-1", "conv-1"],
)
def test_classifier_trains_with_a_last_hidden_width_of_one(params):
    X, y = semi_supervised_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = VAEClassifier(2, **TINY, **params).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (40, 2) and np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.transform(X).shape == (40, 2)


# ---------------------------------------- the text '-1' in string arrays


def string_labels():
    return np.array(["a", "b", "-1"])[np.arange(40) % 3]


@pytest.mark.parametrize("container", ["numpy", "pandas-str", "pandas-string", "pandas-category"])
def test_text_minus_one_is_rejected_from_every_array_of_strings(container):
    X, _ = semi_supervised_data()
    y = string_labels()
    if container != "numpy":
        pd = pytest.importorskip("pandas")
        y = pd.Series(y, dtype={"pandas-str": "str", "pandas-string": "string",
                                "pandas-category": "category"}[container])
    with pytest.raises(ValueError, match="array of strings containing '-1'.*dtype=object"):
        VAEClassifier(2, **TINY).fit(X, y)


@pytest.mark.parametrize("container", ["numpy", "pandas"])
def test_object_labels_follow_sklearn_int_minus_one_is_unlabeled(container):
    # As for SelfTrainingClassifier: in an object array the integer -1 marks
    # unlabeled rows; a string is a label, whatever its text.
    X, _ = semi_supervised_data()
    y = string_labels().astype(object)
    y[::4] = -1
    if container == "pandas":
        y = pytest.importorskip("pandas").Series(y, dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = VAEClassifier(2, **TINY).fit(X, y)
    assert clf.classes_.tolist() == ["-1", "a", "b"]


# ------------------------------------------------------ absurd sizes

# Each case runs in a child process whose address space is capped, so that
# a regression fails with an allocation error instead of taking the memory
# of the machine.
ABSURD = {
    "transformer-hidden": ("VAETransformer(2, hidden_layer_sizes=(10**9,))", "parameters"),
    "transformer-n_components": ("VAETransformer(10**9)", "parameters"),
    "transformer-conv_channels": (
        "VAETransformer(2, network='conv', conv_channels=(20000, 20000))", "parameters",
    ),
    "transformer-training-step": (
        "VAETransformer(2, hidden_layer_sizes=(2**24,), batch_size=64)", "training step",
    ),
    "transformer-n_importance_samples": (
        "VAETransformer(2, n_importance_samples=10**12)", "n_importance_samples=1000000000000",
    ),
    "classifier-hidden": ("VAEClassifier(2, hidden_layer_sizes=(10**9,))", "parameters"),
    "classifier-n_components": ("VAEClassifier(10**9)", "parameters"),
    "classifier-conv_channels": (
        "VAEClassifier(2, network='conv', conv_channels=(20000, 20000))", "parameters",
    ),
}

CHILD = textwrap.dedent(
    """
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))
    import numpy as np
    from skvae import VAEClassifier, VAETransformer
    X = np.random.RandomState(0).rand(40, 16)
    y = (X[:, 0] > 0.5).astype(int)
    results = {}
    for name, code in json.loads(sys.argv[1]).items():
        try:
            eval(code).set_params(max_iter=1, early_stopping=False).fit(X, y)
            results[name] = "fitted"
        except Exception as exc:
            results[name] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(results))
    """
)


def test_absurd_sizes_fail_with_a_clear_error_before_allocating():
    cases = {name: code for name, (code, _) in ABSURD.items()}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(cases)],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1],
    )
    assert child.returncode == 0, child.stderr
    results = json.loads(child.stdout.splitlines()[-1])
    for name, (_, words) in ABSURD.items():
        assert results[name].startswith("ValueError: ") and words in results[name], (
            name, results[name],
        )


def test_absurd_n_importance_samples_set_after_fit_fails_at_score(blobs):
    vae = VAETransformer(2, hidden_layer_sizes=(8,), **TINY).fit(blobs)
    vae.set_params(n_importance_samples=10**12)
    with pytest.raises(ValueError, match="n_importance_samples=1000000000000 is too many"):
        vae.score(blobs[:2])


def test_network_size_counts_on_the_meta_device():
    X, y = semi_supervised_data(n_features=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for estimator, target in [
            (VAETransformer(2, **TINY), None),
            (VAETransformer(2, network="conv", **TINY), None),
            (VAEClassifier(2, **TINY), y),
            (VAEClassifier(2, network="conv", **TINY), y),
        ]:
            estimator.fit(X, target)
            n_parameters = sum(p.numel() for p in estimator._inference.parameters())
            assert network_size(estimator._config)[0] == n_parameters
    # Counting builds nothing real and draws nothing from torch's generator.
    config = dict(estimator._config, hidden_layer_sizes=[10**9])
    state = torch.random.get_rng_state()
    with pytest.raises(ValueError, match=f"more than the {MAX_PARAMETERS:,} allowed"):
        check_network_size(config, batch_rows=1)
    assert torch.equal(torch.random.get_rng_state(), state)

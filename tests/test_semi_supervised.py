import io
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.semi_supervised import SelfTrainingClassifier

from skvae import VAEClassifier, VAETransformer
from skvae._base import build_module

FAST = dict(max_iter=20, batch_size=32, random_state=0, hidden_layer_sizes=(64, 32), n_components=4)


def fitted(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return VAEClassifier(**{**FAST, **params}).fit(X, y)


@pytest.fixture(scope="module")
def digits():
    """Four digit classes of sklearn's 8x8 digits, pixels in [0, 1]."""
    X, y = load_digits(return_X_y=True)
    keep = np.isin(y, [0, 1, 4, 7])
    X, y = X[keep] / 16, y[keep]
    return X[:480], y[:480], X[480:], y[480:]


def partly_labeled(y, per_class, seed=0):
    """y with all but ``per_class`` rows of each class set to -1."""
    rng = np.random.RandomState(seed)
    y_partial = np.full_like(y, -1)
    for c in np.unique(y):
        keep = rng.choice(np.flatnonzero(y == c), per_class, replace=False)
        y_partial[keep] = c
    return y_partial


@pytest.fixture(scope="module")
def semi(digits):
    """A model fitted with 5 labels per class and 460 unlabeled rows."""
    X, y, _, _ = digits
    return fitted(X, partly_labeled(y, 5), max_iter=40)


# ------------------------------------------------------------- behaviour


def test_fully_labeled_is_supervised(digits):
    X, y, X_test, y_test = digits
    clf = fitted(X, y)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 4, 7])
    assert clf.score(X_test, y_test) > 0.9
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-10)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X_test)), proba, rtol=1e-8)


def test_mostly_unlabeled(digits, semi):
    X, y, X_test, y_test = digits
    assert semi.score(X_test, y_test) > 0.85
    # The unlabeled rows are not ignored: the same 20 labels alone do worse.
    y_partial = partly_labeled(y, 5)
    alone = fitted(X[y_partial >= 0], y_partial[y_partial >= 0], early_stopping=False)
    assert semi.score(X_test, y_test) > alone.score(X_test, y_test)


def test_string_labels_with_unlabeled_rows(digits):
    X, y, X_test, y_test = digits
    names = np.array(["zero", "one", "four", "seven"], dtype=object)[np.searchsorted([0, 1, 4, 7], y)]
    y_partial = names.copy()
    y_partial[partly_labeled(y, 5) < 0] = -1  # object array: strings and -1
    clf = fitted(X, y_partial)
    assert set(clf.classes_) == {"zero", "one", "four", "seven"}
    predicted = clf.predict(X_test)
    assert set(predicted) <= set(clf.classes_)
    X_new, y_new = clf.sample(3, y="four", random_state=0)
    assert X_new.shape == (3, 64) and list(y_new) == ["four"] * 3


def test_string_array_is_fully_labeled_and_rejects_text_minus_one(digits):
    X, y, _, _ = digits
    names = np.array(["a", "b", "c", "d"])[np.searchsorted([0, 1, 4, 7], y)]
    clf = fitted(X[:100], names[:100], max_iter=2)
    assert clf.classes_.tolist() == sorted(set(names[:100]))
    with pytest.raises(ValueError, match="dtype=object"):
        VAEClassifier(max_iter=1).fit(X[:4], np.array(["a", "b", -1, "a"]))


def test_all_unlabeled_is_an_error(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="no labeled rows"):
        VAEClassifier(max_iter=1).fit(X[:50], np.full(50, -1))


def test_class_with_one_labeled_example(digits):
    X, y, _, _ = digits
    y_partial = partly_labeled(y, 5)
    sevens = np.flatnonzero(y_partial == 7)
    y_partial[sevens[1:]] = -1
    clf = fitted(X, y_partial, max_iter=30)
    assert 7 in clf.classes_
    # Early stopping never holds out the only labeled row of a class.
    assert clf.predict(X[sevens[:1]])[0] == 7
    assert np.mean(clf.predict(X[y == 7]) == 7) > 0.5


def test_conditional_samples_are_classified_as_their_class(semi):
    for c in semi.classes_:
        X_new, y_new = semi.sample(50, y=c, random_state=1)
        assert np.all(y_new == c)
        assert np.mean(semi.predict(X_new) == c) > 0.7
    X_new, y_new = semi.sample(40, random_state=0)
    assert set(y_new) <= set(semi.classes_) and len(set(y_new)) > 1
    with pytest.raises(ValueError, match="not seen during fit"):
        semi.sample(2, y=3)
    with pytest.raises(ValueError, match="n_samples"):
        semi.sample(3, y=[0, 1])


def test_transform_is_deterministic_and_row_independent(digits, semi):
    X = digits[2]
    Z = semi.transform(X)
    assert Z.shape == (len(X), 4)
    np.testing.assert_array_equal(Z, semi.transform(X))
    np.testing.assert_allclose(semi.transform(X[3:4]), Z[3:4], rtol=1e-12)
    names = semi.get_feature_names_out()
    assert list(names) == [f"vaeclassifier{i}" for i in range(4)]


def test_random_state_reproducible_and_global_rng_untouched(digits):
    X, y, X_test, _ = digits
    y_partial = partly_labeled(y[:200], 3)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    a = fitted(X[:200], y_partial, max_iter=3)
    b = fitted(X[:200], y_partial, max_iter=3)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    assert torch.equal(torch_state, torch.get_rng_state())
    np.testing.assert_array_equal(numpy_state, np.random.get_state()[1])


def test_random_state_reproducible_with_wide_two_thread_steps():
    """Steps large enough for two threads and for torch's indexing to sum
    gradients with parallel atomic additions (the label offsets of
    q(z | x, y): 10 rows, each the sum of the gradients of every pair of
    its class): the fit is the same, bit for bit, at every run. With
    ``weight.t()[labels]`` it was not (this test failed in 2 of 3 runs),
    nor were VAEClassifier's fits on MNIST in batches of 128."""
    X, y = load_digits(return_X_y=True)
    X, y_partial = X[:1000] / 16, partly_labeled(y[:1000], 5)
    params = dict(max_iter=3, batch_size=128, hidden_layer_sizes=(512, 256), n_components=32)
    a = fitted(X, y_partial, **params)
    b = fitted(X, y_partial, **params)
    assert a.loss_curve_ == b.loss_curve_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_persistence(semi, digits):
    X_test = digits[2]
    expected = semi.predict_proba(X_test)
    loaded = pickle.loads(pickle.dumps(semi))
    np.testing.assert_array_equal(loaded.predict_proba(X_test), expected)
    sio = pytest.importorskip("skops.io")
    dumped = sio.dumps(semi)
    # Only the estimator's own class needs trusting: the fitted state is
    # numpy arrays and built-in values.
    untrusted = sio.get_untrusted_types(data=dumped)
    assert untrusted == ["skvae.semi_supervised.VAEClassifier"]
    np.testing.assert_array_equal(sio.loads(dumped, trusted=untrusted).predict_proba(X_test), expected)


def test_warm_start_and_clone(digits):
    X, y, _, _ = digits
    y_partial = partly_labeled(y, 5)
    clf = fitted(X, y_partial, max_iter=2, warm_start=True, early_stopping=False)
    clf.fit(X, y_partial)
    assert clf.n_iter_ == 4 and len(clf.loss_curve_) == 4
    assert not hasattr(clone(clf), "classes_")
    with pytest.raises(ValueError, match="not seen during fit"):
        clf.fit(X, np.where(y_partial == 7, 9, y_partial))


# ------------------------------------------------------------------ M1


def test_m1_pipeline_with_unlabeled_rows(digits):
    """VAE features fitted on every row, self-training on the labeled ones."""
    X, y, X_test, y_test = digits
    y_partial = partly_labeled(y, 5)
    vae = VAETransformer(4, max_iter=40, batch_size=32, hidden_layer_sizes=(64, 32), random_state=0)
    m1 = Pipeline(
        [("vae", vae), ("clf", SelfTrainingClassifier(LogisticRegression(max_iter=1000)))]
    ).fit(X, y_partial)
    np.testing.assert_array_equal(m1.classes_, [0, 1, 4, 7])
    assert m1.score(X_test, y_test) > 0.6
    # The VAE ignores y: it learns from every row, labeled or not.
    alone = clone(vae).fit(X)
    np.testing.assert_array_equal(m1[0].transform(X_test), alone.transform(X_test))


# ----------------------------------------------------------- the module


def test_unlabeled_loss_marginalises_the_label():
    """The vectorised loss equals an explicit sum over classes."""
    config = {
        "model": "m2", "network": "dense", "n_features": 5, "n_components": 2,
        "n_classes": 3, "likelihood": "gaussian", "hidden_layer_sizes": [8],
        "activation": "tanh", "classification_weight": 2.5,
    }
    model = build_module(config, seed=0, dtype=torch.float64)
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.tensor([-1, 2, -1, 0])
    loss = model.training_loss(x, y, kl_weight=0.5, generator=torch.Generator().manual_seed(2))
    # Decoding every (row, class) pair, as on accelerators, gives the same.
    model.all_pairs = True
    loss_all_pairs = model.training_loss(
        x, y, kl_weight=0.5, generator=torch.Generator().manual_seed(2)
    )
    torch.testing.assert_close(loss_all_pairs, loss)

    # The same noise: one draw per (row, class).
    pairs = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 0), (2, 1), (2, 2), (3, 0)]
    eps = torch.randn(4, 3, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    log_q = model.classify(x).log_softmax(-1)
    neg_elbo = {}
    for row, c in pairs:
        e = eps[row, c]
        label = torch.tensor([c])
        mean, log_var = model.encode(x[row : row + 1], label)
        z = mean + e * torch.exp(0.5 * log_var)
        log_lik = model.likelihood.log_prob(x[row : row + 1], model.decode(z, label))
        kl = 0.5 * (mean**2 + log_var.exp() - 1 - log_var).sum()
        neg_elbo[row, c] = (0.5 * kl - log_lik).squeeze()
    expected = []
    for row in range(4):
        if y[row] >= 0:
            c = int(y[row])
            expected.append(neg_elbo[row, c] - 2.5 * log_q[row, c])
        else:
            q = log_q[row].exp()
            marginal = sum(q[c] * neg_elbo[row, c] for c in range(3))
            expected.append(marginal + (q * (log_q[row] + np.log(3))).sum())
    torch.testing.assert_close(loss, torch.stack(expected))


def test_unlikely_classes_are_not_decoded_while_training():
    """With min_class_probability, an unlabeled row is decoded only with
    the classes q(y | x) gives at least that probability (always its most
    probable one); each class left out counts with its row's largest
    decoded loss. Validation (eval mode) and 0 decode every class."""
    config = {
        "model": "m2", "network": "dense", "n_features": 5, "n_components": 2,
        "n_classes": 3, "likelihood": "gaussian", "hidden_layer_sizes": [8],
        "activation": "tanh", "min_class_probability": 0.05,
    }
    model = build_module(config, seed=0, dtype=torch.float64)
    assert model.min_class_probability == 0.05
    with torch.no_grad():  # q(y | x): about 0.02 for class 1, whatever x
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([2.0, -1.5, 2.0]))
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.tensor([-1, 1, -1, 0])
    decoded = []
    pair_loss = type(model)._pair_loss

    def recording(self, h, x, classes, eps, kl_weight):
        out = pair_loss(self, h, x, classes, eps, kl_weight)
        decoded.append((classes.tolist(), out.detach()))
        return out

    model._pair_loss = recording.__get__(model)
    loss = model.training_loss(x, y, generator=torch.Generator().manual_seed(2))
    # Rows 0 and 2 without class 1; labeled row 1 keeps its own class 1.
    assert decoded[-1][0] == [0, 2, 1, 0, 2, 0]
    model.eval()
    exact = model.training_loss(x, y, generator=torch.Generator().manual_seed(2))
    assert decoded[-1][0] == [0, 1, 2, 1, 0, 1, 2, 0]
    model.train()
    model.min_class_probability = 0.0
    torch.testing.assert_close(
        model.training_loss(x, y, generator=torch.Generator().manual_seed(2)), exact
    )
    # The same draws for the pairs decoded in both: the loss differs only
    # in the left-out classes, by their weight times the loss they stand in
    # for minus their own.
    all_pairs = dict(zip([(0, 0), (0, 1), (0, 2), (1, 1), (2, 0), (2, 1), (2, 2), (3, 0)],
                         decoded[-1][1]))
    q = model.classify(x).softmax(-1).detach()
    for row in (0, 2):
        worst = max(all_pairs[row, 0], all_pairs[row, 2])
        expected = exact[row] + q[row, 1] * (worst - all_pairs[row, 1])
        torch.testing.assert_close(loss[row], expected)
    torch.testing.assert_close(loss[[1, 3]], exact[[1, 3]])

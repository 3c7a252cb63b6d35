import numpy as np
import pytest


@pytest.fixture
def blobs():
    """200 rows x 6 features with a 2-D nonlinear structure, standardised."""
    rng = np.random.RandomState(0)
    t = rng.uniform(-2, 2, size=(200, 2))
    X = np.column_stack(
        [t[:, 0], t[:, 1], np.sin(t[:, 0]), t[:, 0] * t[:, 1], t[:, 1] ** 2, np.cos(t[:, 1])]
    )
    X += 0.05 * rng.standard_normal(X.shape)
    return (X - X.mean(0)) / X.std(0)


@pytest.fixture
def images():
    """150 nearly binary 'images' of 16 pixels in [0, 1] (sklearn digits,
    cropped, faint pixels dropped, strokes saturated)."""
    from sklearn.datasets import load_digits

    X = load_digits().data[:150, 20:36] / 16
    return np.where(X < 0.3, 0.0, np.minimum(1.0, X * 1.3))


@pytest.fixture(autouse=True)
def _fresh_interrupt_window(monkeypatch):
    """Each test starts with no Ctrl-C absorbed recently: a second Ctrl-C
    within skvae.nn.train.INTERRUPT_WINDOW_S seconds propagates, and tests
    that interrupt fits run closer together than that."""
    import math

    from skvae.nn import train

    monkeypatch.setattr(train, "_last_absorbed_interrupt", -math.inf)


def estimator_classes():
    """The public estimator classes: the names in ``skvae.__all__`` that are
    classes. Tests that cover every estimator take them from here."""
    import inspect

    import skvae

    return [obj for name in skvae.__all__ if inspect.isclass(obj := getattr(skvae, name))]


def fail_in_epoch(monkeypatch, number, error):
    """Make the ``number``-th training epoch (counted over every model the
    test trains) raise ``error``; earlier epochs run, so the failure comes
    part-way through a fit."""
    from skvae.nn.train import Trainer

    calls = {"n": 0}
    original = Trainer.train_epoch

    def train_epoch(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == number:
            raise error
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train_epoch", train_epoch)


def skops_round_trip(estimator, tmp_path):
    """``estimator`` saved with skops and loaded back, after checking that
    the file needs no types but skvae's to be trusted."""
    sio = pytest.importorskip("skops.io")
    path = tmp_path / "estimator.skops"
    sio.dump(estimator, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert all(name.startswith("skvae.") for name in untrusted), untrusted
    return sio.load(path, trusted=untrusted)


@pytest.fixture
def mixed_table():
    """150 rows mixing a float, a nullable and a plain integer, a category
    with an unused level (a function of the float), pandas strings, an
    object column and a bool."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    n = 150
    x = rng.normal(10, 3, n)
    return pd.DataFrame(
        {
            "x": x,
            "count": pd.array(np.round(x * 2).astype(int), dtype="Int64"),
            "small": rng.integers(0, 9, n),
            "colour": pd.Categorical(
                np.where(x > 10, "red", "blue"), categories=["blue", "red", "unused"]
            ),
            "name": pd.array(rng.choice(["u", "v", "w"], n), dtype="string"),
            "text": pd.Series(rng.choice(["p", "q"], n), dtype=object),
            "flag": x > 11,
        }
    )

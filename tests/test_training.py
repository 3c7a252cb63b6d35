"""The one training routine: schedule, stopping rule, threads, phases."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from skvae import VAEImputer, VAETransformer
from skvae.nn.train import Schedule, StoppingRule, Trainer, intra_op_threads, mkl_library


def test_stopping_rule_counts_epochs_without_improvement_by_tol():
    rule = StoppingRule(tol=0.5, patience=2)
    assert rule.update(1.0)  # first score: the best so far
    assert rule.count == 0
    assert rule.update(1.2) and rule.count == 1  # a new best, but by less than tol
    assert not rule.update(1.1) and rule.count == 2
    assert not rule.should_stop
    assert not rule.update(0.0) and rule.count == 3 and rule.should_stop
    assert rule.update(2.0) and rule.count == 0 and not rule.should_stop
    # Epochs of a warm-up or capacity ramp are not recorded at all.
    assert not rule.update(-5.0, counts=False) and rule.count == 0 and rule.best == 2.0
    assert not rule.update(9.0, counts=False) and rule.best == 2.0


def test_intra_op_threads_only_lowers_and_restores():
    before = torch.get_num_threads()
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with intra_op_threads(before + 4):
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before


def test_intra_op_threads_also_limits_mkl_after_torch_set_num_threads():
    """torch.set_num_threads pins the thread count of the MKL inside torch,
    which OpenMP limits do not reach: a user who called it had small
    networks' matrix products on every thread, and their results differed
    in the last bits from a search's worker processes (a CI failure of
    test_grid_search_in_worker_processes_matches_serial, on an AMD EPYC,
    after a test that calls torch.set_num_threads). The block now limits
    MKL too, for its own thread, and hands the user's count back after."""
    mkl = mkl_library()
    if mkl is None:
        pytest.skip("torch without MKL")
    mkl_max = mkl.MKL_Get_Max_Threads
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert mkl_max() == 2
        with intra_op_threads(1):
            assert torch.get_num_threads() == 1
            assert mkl_max() == 1
        assert mkl_max() == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(torch.get_num_threads() < 2, reason="one thread already")
def test_small_inference_runs_on_one_thread_and_large_on_all():
    """Inference batches follow training's thread rule: a small network's
    transform, score and sample run on one thread (a second one gains
    little, and waits for a core at every operation on a busy machine),
    work above the line keeps torch's setting, and the setting is the same
    after as before."""
    X = np.random.RandomState(0).standard_normal((200, 5))
    model = VAETransformer(2, max_iter=2, random_state=0).fit(X)
    before = torch.get_num_threads()

    def threads(x, m=None):
        return torch.full((x.shape[0], 1), torch.get_num_threads())

    assert set(model._map_batches(threads, X).ravel()) == {1}
    # Draws multiply the work: 10**7 decoded rows per batch is above the line.
    assert set(model._map_batches(threads, X, draws=10**7).ravel()) == {before}
    assert torch.get_num_threads() == before
    # Every user-facing inference path goes through the rule.
    seen = []
    decode = model._inference.decode

    def recording(z):
        seen.append(torch.get_num_threads())
        return decode(z)

    model._inference.decode = recording
    model.transform(X), model.score(X), model.sample(5), model.inverse_transform(X[:, :2])
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == before


def _record_step_sizes(monkeypatch):
    """The step size of every epoch trained from now on, in a list that
    fills as they run (Trainer.train_epoch wrapped)."""
    seen = []
    original = Trainer.train_epoch

    def recording(self, *args, **kwargs):
        seen.append(self.optimizer.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train_epoch", recording)
    return seen


def test_cosine_schedule_decays_the_step_size_epoch_by_epoch(monkeypatch):
    """A cosine schedule runs epoch e of E at lr * (1 + cos(pi * e / E)) / 2:
    the full step size first, half of it midway, near 0 at the end; a
    divergence's tenfold cut applies to the decayed rates that follow."""
    schedule = Schedule(max_epochs=4, batch_size=8, learning_rate=0.01, cosine=True)
    rates = [schedule.epoch_learning_rate(0.01, e) for e in range(4)]
    assert rates == pytest.approx([0.01, 0.01 * (1 + math.cos(math.pi / 4)) / 2, 0.005,
                                   0.01 * (1 + math.cos(3 * math.pi / 4)) / 2])
    assert Schedule(4, 8, 0.01).epoch_learning_rate(0.01, 3) == 0.01
    original = Trainer.train_epoch
    seen = _record_step_sizes(monkeypatch)
    X = np.random.RandomState(0).standard_normal((40, 3))
    X[X > 1.5] = np.nan
    VAEImputer(hidden_layer_sizes=(8,), n_training_draws=2, n_importance_samples=10,
               random_state=0).fit(X)
    assert len(seen) == 250
    auto = Schedule(250, 40, 3e-3, cosine=True)
    assert seen == pytest.approx([auto.epoch_learning_rate(3e-3, e) for e in range(250)])
    # An explicit max_iter is a maximum at a constant step size.
    seen.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        VAEImputer(hidden_layer_sizes=(8,), n_training_draws=2, n_importance_samples=10,
                   max_iter=5, random_state=0).fit(X)
    assert seen == [3e-3] * 5
    # A non-finite epoch: its weights are dropped, and the decay goes on
    # from a tenth of the step size, at the same epoch.
    seen.clear()
    failed = []

    def failing(self, *args, **kwargs):
        seen.append(self.optimizer.param_groups[0]["lr"])
        loss = original(self, *args, **kwargs)
        if len(seen) == 3 and not failed:
            failed.append(True)
            return float("nan")
        return loss

    monkeypatch.setattr(Trainer, "train_epoch", failing)
    with pytest.warns(RuntimeWarning, match="non-finite in epoch 3"):
        VAEImputer(hidden_layer_sizes=(8,), n_training_draws=2, n_importance_samples=10,
                   random_state=0).fit(X)
    assert len(seen) == 251
    assert seen[:3] == pytest.approx([auto.epoch_learning_rate(3e-3, e) for e in range(3)])
    assert seen[3:] == pytest.approx([auto.epoch_learning_rate(3e-4, e) for e in range(2, 250)])


def _threads_seen(monkeypatch):
    seen = []
    original = Trainer.train_epoch

    def recording(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train_epoch", recording)
    return seen


@pytest.mark.skipif(torch.get_num_threads() < 2, reason="needs torch on 2+ threads")
def test_small_networks_train_on_one_thread(monkeypatch, blobs):
    seen = _threads_seen(monkeypatch)
    before = torch.get_num_threads()
    VAETransformer(max_iter=2, early_stopping=False, device="cpu").fit(blobs)
    assert seen == [1, 1]
    assert torch.get_num_threads() == before
    # A large network keeps torch's setting.
    seen.clear()
    X = np.random.default_rng(0).random((64, 784))
    VAETransformer(max_iter=1, early_stopping=False, hidden_layer_sizes=(512, 256),
                   device="cpu").fit(X)
    assert seen == [before]


def test_calibration_fits_use_the_training_routine(capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.choice(["x", "y"], 60)})
    frame.loc[::7, "a"] = np.nan
    frame.loc[::5, "b"] = None
    VAEImputer(max_iter=2, n_importance_samples=5, hidden_layer_sizes=(8,), verbose=1,
               random_state=0).fit_transform(frame)
    out = capsys.readouterr().out
    assert "Training VAEImputer: 60 rows, at most 2 epochs" in out
    assert "Calibration model 1/2, epoch 2/2:" in out
    assert "Calibration model 2/2, epoch 2/2:" in out
    assert "Imputing" in out and "Imputed in" in out


def test_fixed_schedule_runs_every_epoch_silently():
    X = np.array([[1.0, 2.0], [np.nan, 3.0], [4.0, np.nan], [2.0, 2.5]] * 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = VAEImputer(hidden_layer_sizes=(8,), n_training_draws=2, n_importance_samples=10,
                         random_state=0).fit(X)
    assert est.n_iter_ == est._auto["epochs"]


def test_transformer_cosine_schedule_decays_over_max_iter(monkeypatch, capsys):
    """learning_rate_schedule="cosine": epoch e of max_iter runs at
    learning_rate * (1 + cos(pi * e / max_iter)) / 2, whether early
    stopping ends the fit first or not; "constant" keeps the rate; each
    fit starts the decay again, partial_fit steps at the base rate; the
    same random_state gives the same model."""
    seen = _record_step_sizes(monkeypatch)
    X = np.random.RandomState(0).standard_normal((60, 4))
    params = dict(hidden_layer_sizes=(8,), learning_rate=0.01, max_iter=6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cosine = VAETransformer(learning_rate_schedule="cosine", verbose=1, **params).fit(X)
        assert "decaying along half a cosine" in capsys.readouterr().out
        decay = [0.01 * (1 + math.cos(math.pi * e / 6)) / 2 for e in range(6)]
        assert seen == pytest.approx(decay[: cosine.n_iter_])
        assert cosine.learning_rate_ == 0.01
        seen.clear()
        constant = VAETransformer(**params).fit(X)
        assert seen == [0.01] * constant.n_iter_
        # Without early stopping and with patience to spare: all epochs run.
        seen.clear()
        full = dict(params, early_stopping=False, n_iter_no_change=10)
        again = VAETransformer(learning_rate_schedule="cosine", **full).fit(X)
        assert seen == pytest.approx(decay)
        twice = VAETransformer(learning_rate_schedule="cosine", **full).fit(X)
        np.testing.assert_array_equal(again.transform(X), twice.transform(X))
        assert not np.array_equal(
            again.transform(X), VAETransformer(**full).fit(X).transform(X)
        )
        # A warm start starts the decay again; partial_fit keeps the rate.
        seen.clear()
        again.set_params(warm_start=True).fit(X)
        assert seen == pytest.approx(decay)
        seen.clear()
        again.partial_fit(X)
        assert seen == [0.01]


def test_transformer_learning_rate_schedule_is_validated():
    with pytest.raises(InvalidParameterError, match="learning_rate_schedule"):
        VAETransformer(learning_rate_schedule="linear").fit(np.zeros((10, 2)))

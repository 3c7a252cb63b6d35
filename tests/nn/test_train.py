"""Trainer's direct fused-Adam step: the same numbers as optimizer.step();
and its flush of tiny Adam moments, which changes no weight."""

import numpy as np
import pytest
import torch

from skvae.nn import train as train_module
from skvae.nn.train import Trainer


class Toy(torch.nn.Module):
    """A small network with a training_loss, and optionally a parameter
    that gets no gradient."""

    def __init__(self, unused=False):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.a = torch.nn.Parameter(torch.randn(5, 8, generator=generator))
        self.b = torch.nn.Parameter(torch.randn(8, generator=generator))
        self.unused = torch.nn.Parameter(torch.zeros(3)) if unused else None

    def training_loss(self, x, *, kl_weight=1.0, generator=None):
        noise = torch.randn(x.shape[0], 8, generator=generator)
        return ((torch.tanh(x @ self.a + self.b) - noise) ** 2).sum(dim=1)


def run(step, unused=False, epochs=4, reset_at=None, reload_at=None):
    module = Toy(unused)
    trainer = Trainer(module, learning_rate=0.01, batch_size=16, seed=0)
    trainer._step = step.__get__(trainer)
    data = (torch.randn(100, 5, generator=torch.Generator().manual_seed(1)),)
    losses = []
    for epoch in range(epochs):
        if epoch == reset_at:
            trainer.reset_optimizer(0.003)
        if epoch == reload_at:
            trainer.load_optimizer_state(trainer.optimizer_state())
        losses.append(trainer.train_epoch(data))
    return losses, [p.detach().clone() for p in module.parameters()], trainer


def plain_step(self):
    self.optimizer.step()


@pytest.mark.parametrize("unused", [False, True])
@pytest.mark.parametrize("reset_at, reload_at", [(None, None), (2, None), (None, 2)])
def test_direct_step_is_the_optimizers_step(unused, reset_at, reload_at):
    direct = run(Trainer._step, unused, reset_at=reset_at, reload_at=reload_at)
    plain = run(plain_step, unused, reset_at=reset_at, reload_at=reload_at)
    assert direct[0] == plain[0]
    for a, b in zip(direct[1], plain[1]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # The optimiser's state (saved with warm-started models) is the same too.
    state_a, state_b = direct[2].optimizer_state(), plain[2].optimizer_state()
    for key in state_b["state"]:
        for name, value in state_b["state"][key].items():
            np.testing.assert_array_equal(state_a["state"][key][name], value)


def test_direct_step_is_taken_once_the_state_exists(monkeypatch):
    calls = []
    original = torch.optim.Adam.step

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", counting)
    losses, _, trainer = run(Trainer._step, epochs=2)
    # 2 epochs of 7 steps: only the first goes through optimizer.step().
    assert len(calls) == 1
    assert trainer._fused_state is not None
    # A parameter without a gradient sends every step through it.
    calls.clear()
    run(Trainer._step, unused=True, epochs=1)
    assert len(calls) == 7


def test_learning_rate_changes_reach_the_direct_step():
    a = run(Trainer._step)[2]
    b = run(plain_step)[2]
    for trainer in (a, b):
        trainer.reset_learning_rate(0.05)
    data = (torch.ones(16, 5),)
    assert a.train_epoch(data) == b.train_epoch(data)
    for p, q in zip(a.module.parameters(), b.module.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def train_with_a_vanishing_input():
    """Steps over rows whose first column is nonzero for the first epoch
    only: from then on, the weights it multiplies get zero gradients and
    their first moments decay by 0.9 a step, far into float32's
    subnormal range in 1,000 steps."""
    module = Toy()
    trainer = Trainer(module, learning_rate=0.01, batch_size=1, seed=0)
    data = torch.randn(100, 5, generator=torch.Generator().manual_seed(1))
    losses = [trainer.train_epoch((data,))]
    data[:, 0] = 0.0
    losses += [trainer.train_epoch((data,)) for _ in range(10)]
    return losses, [p.detach().clone() for p in module.parameters()], trainer


def test_tiny_moments_are_flushed_without_changing_the_fit(monkeypatch):
    flushed = train_with_a_vanishing_input()
    monkeypatch.setattr(train_module, "_FLUSH_STEPS", 10**9)
    kept = train_with_a_vanishing_input()
    # Without the flush, the moments of the first input's weights (8 of
    # them) become subnormal; with it, none.
    assert kept[2].subnormal_moments() >= 8
    assert flushed[2].subnormal_moments() == 0
    # The same fit, bit for bit.
    assert flushed[0] == kept[0]
    for a, b in zip(flushed[1], kept[1]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)

"""The seeds' training loop (Linear + MSELoss + SGD with momentum) replayed against torch.

Seed 001 builds ``nn.Linear(10, 1)``, ``nn.MSELoss()``, 16 samples of 10 features, and calls
``zero_grad``, ``backward``; its notes add gradient accumulation (backward twice without
zero_grad) and ``no_grad``. Here both libraries start from the same weights (torch's, copied
with load_state_dict) and must agree after every step.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from losskit import nn, optim

STEPS = 25


def _data(rng, dtype):
    return rng.standard_normal((16, 10)).astype(dtype), rng.standard_normal((16, 1)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_loop_replays_torch_step_by_step(dtype, rng, assert_close):
    torch = pytest.importorskip("torch")
    inputs, targets = _data(rng, dtype)
    torch.manual_seed(0)
    t_model = torch.nn.Linear(10, 1).to(getattr(torch, np.dtype(dtype).name))
    t_opt = torch.optim.SGD(t_model.parameters(), lr=0.05, momentum=0.9)
    model = nn.Linear(10, 1, dtype=dtype)
    model.load_state_dict(t_model.state_dict())
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    criterion, t_criterion = nn.MSELoss(), torch.nn.MSELoss()

    losses = []
    for step in range(STEPS):
        opt.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        opt.step()
        t_opt.zero_grad()
        t_loss = t_criterion(t_model(torch.from_numpy(inputs)), torch.from_numpy(targets))
        t_loss.backward()
        t_opt.step()
        assert_close(loss.numpy(), t_loss.detach().numpy(), dtype, err_msg=f"loss at step {step}")
        for name, p in t_model.state_dict().items():
            assert_close(model.state_dict()[name], p.numpy(), dtype, err_msg=f"{name} after step {step}")
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]  # and it learns


def test_gradient_accumulates_without_zero_grad(rng):
    inputs, targets = _data(rng, np.float64)
    model = nn.Linear(10, 1, dtype=np.float64)
    criterion = nn.MSELoss()
    criterion(model(inputs[:8]), targets[:8]).backward()
    first = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
    criterion(model(inputs[8:]), targets[8:]).backward()
    accumulated = {n: p.grad.numpy() for n, p in model.named_parameters()}
    model.zero_grad()
    criterion(model(inputs[8:]), targets[8:]).backward()
    for n, p in model.named_parameters():
        np.testing.assert_allclose(accumulated[n], first[n] + p.grad.numpy(), rtol=1e-14)


def test_accumulated_half_batches_equal_the_full_batch(rng):
    # mean over 16 = (mean over the first 8 + mean over the last 8) / 2
    inputs, targets = _data(rng, np.float64)
    model = nn.Linear(10, 1, dtype=np.float64)
    criterion = nn.MSELoss()
    for half in (slice(0, 8), slice(8, 16)):
        (criterion(model(inputs[half]), targets[half]) * 0.5).backward()
    accumulated = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    criterion(model(inputs), targets).backward()
    for a, p in zip(accumulated, model.parameters()):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-12)


def test_no_grad_records_nothing(rng):
    inputs, targets = _data(rng, np.float32)
    model = nn.Linear(10, 1)
    with losskit.no_grad():
        loss = nn.MSELoss()(model(inputs), targets)
    assert loss.grad_fn is None and not loss.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        loss.backward()
    assert all(p.grad is None for p in model.parameters())


def test_training_without_torch_reaches_the_least_squares_solution(rng):
    # Pure NumPy: Adam on a noiseless linear problem recovers the generating weights.
    X = rng.standard_normal((64, 3))
    w_true = np.array([[1.5], [-2.0], [0.5]])
    y = X @ w_true + 0.25
    losskit.manual_seed(1)
    model = nn.Linear(3, 1, dtype=np.float64)
    opt = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(1500):
        opt.zero_grad()
        loss = nn.MSELoss()(model(X), y)
        loss.backward()
        opt.step()
    np.testing.assert_allclose(model.weight.numpy(), w_true.T, atol=1e-4)
    np.testing.assert_allclose(model.bias.numpy(), [0.25], atol=1e-4)

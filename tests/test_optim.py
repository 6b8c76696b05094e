"""losskit.optim: SGD and Adam follow torch's update rules step for step, on every option."""

from __future__ import annotations

import numpy as np
import pytest

import losskit
from losskit import nn, optim

STEPS = 6


def _problem(rng, dtype):
    X = rng.standard_normal((8, 3)).astype(dtype)
    y = rng.standard_normal((8, 1)).astype(dtype)
    p0 = rng.standard_normal((3, 1)).astype(dtype)
    return X, y, p0


def _losskit_run(opt_cls, options, X, y, p0):
    p = nn.Parameter(p0.copy())
    opt = opt_cls([p], **options)
    history = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = losskit.functional.mse_loss(losskit.matmul(X, p), y) + (p * p).sum() * 0.1
        loss.backward()
        opt.step()
        history.append(p.numpy().copy())
    return history, opt


def _torch_run(torch, opt_name, options, X, y, p0):
    p = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = getattr(torch.optim, opt_name)([p], **options)
    history = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(torch.from_numpy(X) @ p, torch.from_numpy(y)) + (p * p).sum() * 0.1
        loss.backward()
        opt.step()
        history.append(p.detach().numpy().copy())
    return history, opt


SGD_OPTIONS = [
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.1, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True},
    {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.01},
    {"lr": 0.1, "momentum": 0.9, "maximize": True},
]

ADAM_OPTIONS = [
    {},
    {"lr": 0.05},
    {"lr": 0.05, "betas": (0.8, 0.9), "eps": 1e-6},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.05, "amsgrad": True},
    {"lr": 0.05, "maximize": True},
    {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True},
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name, options",
    [("SGD", o) for o in SGD_OPTIONS] + [("Adam", o) for o in ADAM_OPTIONS],
    ids=[f"SGD{o}" for o in SGD_OPTIONS] + [f"Adam{o}" for o in ADAM_OPTIONS],
)
def test_steps_equal_torch(name, options, dtype, rng, assert_close):
    torch = pytest.importorskip("torch")
    X, y, p0 = _problem(rng, dtype)
    ours, opt = _losskit_run(getattr(optim, name), options, X, y, p0)
    theirs, topt = _torch_run(torch, name, options, X, y, p0)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        assert_close(a, b, dtype, err_msg=f"step {step + 1}")
    # the optimiser state has torch's names and values
    states, tstates = opt.state_dict()["state"], topt.state_dict()["state"]
    assert set(states) == set(tstates)
    for index, tstate in tstates.items():
        assert set(states[index]) == set(tstate)
        for key, value in tstate.items():
            if key == "step":
                assert states[index][key] == int(value)
            else:
                assert_close(states[index][key], value.numpy(), dtype, err_msg=key)


def test_param_groups_have_their_own_options():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    for p in (a, b):
        p.grad = losskit.tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose(a.numpy(), [0.9, 0.9])  # 1 - 0.1 * 1
    np.testing.assert_allclose(b.numpy(), [0.0, 0.0])  # 1 - 1.0 * 1
    assert [g["lr"] for g in opt.state_dict()["param_groups"]] == [0.1, 1.0]


def test_parameters_without_gradient_are_left_alone():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = losskit.tensor(np.ones(2))
    opt.step()
    np.testing.assert_array_equal(b.numpy(), [1.0, 1.0])
    assert id(b) not in opt.state


def test_state_dict_resumes_identically(rng):
    X, y, p0 = _problem(rng, np.float64)

    def loss_of(p):
        return losskit.functional.mse_loss(losskit.matmul(X, p), y)

    p = nn.Parameter(p0.copy())
    opt = optim.Adam([p], lr=0.1, amsgrad=True)
    for _ in range(3):
        opt.zero_grad()
        loss_of(p).backward()
        opt.step()
    saved_p, saved_state = p.numpy().copy(), opt.state_dict()
    for _ in range(2):
        opt.zero_grad()
        loss_of(p).backward()
        opt.step()
    q = nn.Parameter(saved_p)
    opt2 = optim.Adam([q], lr=0.1, amsgrad=True)
    opt2.load_state_dict(saved_state)
    for _ in range(2):
        opt2.zero_grad()
        loss_of(q).backward()
        opt2.step()
    np.testing.assert_array_equal(q.numpy(), p.numpy())


def test_zero_grad():
    p = nn.Parameter(np.ones(2))
    opt = optim.SGD([p], lr=0.1)
    p.grad = losskit.tensor(np.ones(2))
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None


def test_step_with_closure_returns_the_loss():
    p = nn.Parameter(np.array([2.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 4.0
    np.testing.assert_allclose(p.numpy(), [1.0])  # 2 - 0.25 * (2 * 2)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda p: optim.SGD([p], lr=-1.0), ValueError, "lr"),
        (lambda p: optim.SGD([p], lr=0.1, momentum=-0.1), ValueError, "momentum"),
        (lambda p: optim.SGD([p], lr=0.1, nesterov=True), ValueError, "nesterov"),
        (lambda p: optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "nesterov"),
        (lambda p: optim.SGD([p], lr=0.1, weight_decay=-1.0), ValueError, "weight_decay"),
        (lambda p: optim.Adam([p], betas=(1.0, 0.999)), ValueError, r"betas\[0\]"),
        (lambda p: optim.Adam([p], betas=(0.9, -0.1)), ValueError, r"betas\[1\]"),
        (lambda p: optim.Adam([p], eps=-1.0), ValueError, "eps"),
        (lambda p: optim.Adam([p], lr="fast"), TypeError, "lr"),
        (lambda p: optim.SGD([], lr=0.1), ValueError, "empty parameter list"),
        (lambda p: optim.SGD(p, lr=0.1), TypeError, "single Tensor"),
        (lambda p: optim.SGD([np.ones(2)], lr=0.1), TypeError, "params"),
        (lambda p: optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1), ValueError, "more than one"),
    ],
)
def test_bad_options_are_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make(nn.Parameter(np.ones(2)))

"""The engine: Tensor construction and protocol, graph recording, backward, grad modes, transforms.

Gradients of individual primitives are checked by finite differences in test_gradcheck.py; here,
the mechanics, with expected values derived by hand in comments or taken from torch.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import losskit
import losskit.functional as F
from losskit import Tensor


def test_tensor_copies_and_as_tensor_shares():
    a = np.array([1.0, 2.0])
    t = losskit.tensor(a)
    s = losskit.as_tensor(a)
    a[0] = 5.0
    assert t.data[0] == 1.0  # tensor() copied
    assert s.data[0] == 5.0  # as_tensor() shares
    assert losskit.as_tensor(s) is s


def test_python_data_takes_torch_default_dtypes():
    assert losskit.tensor([1.0, 2.0]).dtype == np.float32
    assert losskit.tensor([1, 2]).dtype == np.int64
    assert losskit.tensor(np.array([1.0])).dtype == np.float64  # arrays keep their dtype
    assert losskit.tensor([1, 2], dtype="float64").dtype == np.float64


def test_array_protocol_honours_copy():
    t = losskit.as_tensor(np.arange(3.0))
    assert np.shares_memory(np.asarray(t), t.data)
    assert not np.shares_memory(np.array(t, copy=True), t.data)
    with pytest.raises(ValueError):
        np.asarray(t, dtype=np.float32, copy=False)  # a cast cannot be done without a copy
    assert np.asarray(t, dtype=np.float32).dtype == np.float32


def test_requires_grad_only_on_floating_leaves():
    with pytest.raises(TypeError, match="floating"):
        losskit.tensor([1, 2], requires_grad=True)
    x = losskit.tensor([1.0], requires_grad=True)
    y = x * 2.0
    assert not y.is_leaf and x.is_leaf
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False


def test_grad_fn_names_follow_torch():
    x = losskit.tensor([1.0, 2.0], requires_grad=True)
    assert (x * 2.0).grad_fn.name() == "MulBackward0"
    assert (x + x).grad_fn.name() == "AddBackward0"
    assert F.mse_loss(x, np.zeros(2, np.float32)).grad_fn.name() == "MseLossBackward0"
    assert "grad_fn=<MulBackward0>" in repr(x * 2.0)


def test_backward_chain_rule_by_hand():
    # f = sum((2x + 1)^2) => df/dx = 4 (2x + 1); at x = [0, 1]: [4, 12]
    x = losskit.tensor([0.0, 1.0], dtype="float64", requires_grad=True)
    f = ((2.0 * x + 1.0) ** 2).sum()
    f.backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 12.0])


def test_shared_subexpression_gradients_add():
    # f = x*x + x => df/dx = 2x + 1; x = 3 -> 7
    x = losskit.tensor(3.0, dtype="float64", requires_grad=True)
    y = x * x
    (y + x).backward()
    assert x.grad.item() == 7.0


def test_broadcast_gradients_sum_back_to_input_shape():
    # f = sum(a + b) with a (2, 3), b (3,) and c (2, 1): each b_j appears twice, each c_i thrice.
    a = losskit.tensor(np.ones((2, 3)), requires_grad=True)
    b = losskit.tensor(np.ones(3), requires_grad=True)
    c = losskit.tensor(np.ones((2, 1)), requires_grad=True)
    (a + b + c).sum().backward()
    np.testing.assert_array_equal(a.grad.data, np.ones((2, 3)))
    np.testing.assert_array_equal(b.grad.data, np.full(3, 2.0))
    np.testing.assert_array_equal(c.grad.data, np.full((2, 1), 3.0))


def test_gradients_accumulate_across_backward_calls():
    x = losskit.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    # 3 + 2x
    np.testing.assert_array_equal(x.grad.data, [5.0, 7.0])


def test_second_backward_through_freed_graph_is_a_clear_error():
    x = losskit.tensor([1.0], requires_grad=True)
    loss = F.mse_loss(x, np.zeros(1, np.float32))
    loss.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward():
    x = losskit.tensor([1.0, -2.0], dtype="float64", requires_grad=True)
    loss = F.mse_loss(x, np.zeros(2))  # d/dx = 2x / 2 = x
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, -4.0])


def test_backward_needs_gradient_for_non_scalar_outputs():
    x = losskit.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match="one-element"):
        y.backward()
    with pytest.raises(ValueError, match="shape"):
        y.backward(np.ones(3, np.float32))
    y.backward(np.array([1.0, 10.0], np.float32))
    np.testing.assert_array_equal(x.grad.data, [2.0, 20.0])


def test_backward_on_tensor_without_history_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        losskit.tensor([1.0]).sum().backward()


def test_no_grad_records_nothing_and_works_as_decorator():
    x = losskit.tensor([1.0], requires_grad=True)
    with losskit.no_grad():
        y = x * 2.0
        with losskit.enable_grad():
            z = x * 2.0
    assert y.grad_fn is None and not y.requires_grad
    assert z.grad_fn is not None

    @losskit.no_grad()
    def f(t):
        return t * 2.0

    assert f(x).grad_fn is None
    assert losskit.is_grad_enabled()


def test_grad_mode_is_thread_local():
    seen = {}

    def worker():
        seen["worker"] = losskit.is_grad_enabled()

    with losskit.no_grad():
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        seen["main"] = losskit.is_grad_enabled()
    assert seen == {"worker": True, "main": False}


def test_detach_cuts_the_graph():
    x = losskit.tensor([2.0], requires_grad=True)
    y = x.detach() * x  # d/dx = x (the detached factor is a constant)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0])


def test_max_without_dim_shares_gradient_among_ties_like_torch():
    torch = pytest.importorskip("torch")
    data = np.array([1.0, 3.0, 3.0, 2.0])
    x = losskit.tensor(data, requires_grad=True)
    losskit.max(x).backward()
    tx = torch.tensor(data, requires_grad=True)
    tx.max().backward()
    np.testing.assert_array_equal(x.grad.data, tx.grad.numpy())


def test_max_with_dim_returns_values_and_indices_like_torch():
    torch = pytest.importorskip("torch")
    data = np.array([[1.0, 3.0, 3.0], [4.0, 0.0, 4.0]])
    x = losskit.tensor(data, requires_grad=True)
    values, indices = losskit.max(x, dim=1)
    values.sum().backward()
    tx = torch.tensor(data, requires_grad=True)
    tv, ti = tx.max(dim=1)
    tv.sum().backward()
    np.testing.assert_array_equal(values.data, tv.detach().numpy())
    np.testing.assert_array_equal(indices.data, ti.numpy())
    np.testing.assert_array_equal(x.grad.data, tx.grad.numpy())


def test_user_written_focal_loss_from_the_seeds_trains_through_the_engine():
    # Seed 001's FocalLoss: ce = cross_entropy(reduction='none'), p = exp(-ce),
    # loss = mean((1 - p)^gamma * ce). Compared with the same expression in torch.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 4))
    target = rng.integers(0, 4, 6)
    x = losskit.tensor(logits, requires_grad=True)
    ce = F.cross_entropy(x, target, reduction="none")
    p = losskit.exp(-ce)
    loss = ((1.0 - p) ** 2.0 * ce).mean()
    loss.backward()
    tx = torch.tensor(logits, requires_grad=True)
    tce = torch.nn.functional.cross_entropy(tx, torch.tensor(target), reduction="none")
    tloss = ((1 - torch.exp(-tce)) ** 2.0 * tce).mean()
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_value_and_grad_of_a_function_of_arrays():
    # f(x, y) = sum(x * y) => df/dx = y, df/dy = x
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    value, (gx, gy) = losskit.value_and_grad(lambda a, b: (a * b).sum(), argnums=(0, 1))(x, y)
    assert value == 11.0
    np.testing.assert_array_equal(gx, y)
    np.testing.assert_array_equal(gy, x)
    g = losskit.grad(lambda a: F.mse_loss(a, np.zeros(2), reduction="sum"))(x)
    np.testing.assert_array_equal(g, 2 * x)
    with pytest.raises(ValueError, match="argnums"):
        losskit.grad(lambda a: a.sum(), argnums=3)(x)
    with pytest.raises(TypeError, match="Tensor"):
        losskit.grad(lambda a: 1.0)(x)


def test_tensor_methods_match_torch():
    torch = pytest.importorskip("torch")
    data = np.arange(1.0, 7.0).reshape(2, 3)
    x = losskit.tensor(data, requires_grad=True)
    tx = torch.tensor(data, requires_grad=True)
    out = (x.reshape(3, 2).transpose(0, 1) @ x.T).sum() + x[1].sqrt().sum() + losskit.clamp(x, 2.0, 5.0).sum()
    tout = (tx.reshape(3, 2).transpose(0, 1) @ tx.T).sum() + tx[1].sqrt().sum() + tx.clamp(2.0, 5.0).sum()
    out.backward()
    tout.backward()
    np.testing.assert_allclose(out.item(), tout.item(), rtol=1e-14)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-14)


def test_reflected_ops_with_numpy_arrays_return_tensors():
    x = losskit.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0], dtype=np.float32) - x
    assert isinstance(y, Tensor) and y.grad_fn.name() == "SubBackward0"


def test_concurrent_backward_in_threads_matches_serial():
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((8, 5)) for _ in range(8)]
    targets = [rng.integers(0, 5, 8) for _ in range(8)]

    def grad_of(i):
        x = losskit.tensor(inputs[i], requires_grad=True)
        F.cross_entropy(x * 2.0, targets[i]).backward()
        return x.grad.data

    serial = [grad_of(i) for i in range(8)]
    results = [None] * 8

    def worker(i):
        results[i] = grad_of(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s, r in zip(serial, results):
        np.testing.assert_array_equal(s, r)


# --- leaf gradients: a fresh op gradient becomes .grad as it is, nothing else is aliased -------


def _op_returning(store):
    """An op whose backward returns a fresh array and records its id (holding no reference)."""
    from losskit.autograd import apply
    from losskit.losses._op import Op

    def forward(xp, inputs):
        return xp.sum(inputs[0]), None

    def backward(xp, residuals, g, needs):
        grad = np.full((3,), 2.0)
        store.append(id(grad))
        return (grad,)

    return lambda x: apply(Op("Probe", forward, backward), (x,))


def test_fresh_op_gradient_becomes_the_leaf_grad_without_a_copy():
    store: list[int] = []
    x = Tensor(np.zeros(3), requires_grad=True)
    _op_returning(store)(x).backward()
    assert id(x.grad.data) == store[0]  # the same (live) array: no copy was made
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0, 2.0])


def test_one_gradient_array_for_two_leaves_is_not_shared():
    # add's backward hands the same array to both of its inputs
    a = Tensor(np.ones(4), requires_grad=True)
    b = Tensor(np.ones(4), requires_grad=True)
    ((a + b) * 3.0).sum().backward()
    assert not np.shares_memory(a.grad.data, b.grad.data)
    a.grad.data *= 0  # the user's own in-place edit of one .grad
    np.testing.assert_array_equal(b.grad.data, 3.0 * np.ones(4))


def test_leaf_grad_does_not_alias_the_callers_gradient():
    x = Tensor(np.ones(3), requires_grad=True)
    seed = np.array([1.0, 2.0, 3.0])
    x.backward(gradient=seed)
    assert not np.shares_memory(x.grad.data, seed)
    y = Tensor(np.ones(3), requires_grad=True)
    (y + 0.0).backward(gradient=seed)  # add passes the caller's array through
    assert not np.shares_memory(y.grad.data, seed)


def test_leaf_grad_does_not_alias_residuals_kept_by_retain_graph():
    from losskit.autograd import apply
    from losskit.losses._op import Op

    # an op whose backward returns its saved residual itself (allowed: ops never mutate it)
    def forward(xp, inputs):
        return xp.sum(inputs[0] ** 2), 2.0 * inputs[0]

    twice = Op("Square", forward, lambda xp, res, g, needs: (res,))
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    loss = apply(twice, (x,))
    loss.backward(retain_graph=True)
    x.grad.data[...] = 1e6  # must not reach the residual the graph still holds
    x.grad = None
    loss.backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, -2.0, 4.0])


def test_a_reshaped_fresh_gradient_is_kept_and_a_reshaped_residual_copied():
    from losskit.autograd import apply
    from losskit.losses._op import Op

    store: list[int] = []

    def fresh_view(xp, res, g, needs):
        grad = np.full((6,), 2.0)
        store.append(id(grad))
        return (grad.reshape(2, 3),)  # a view of the whole of an array nobody else holds

    x = Tensor(np.zeros((2, 3)), requires_grad=True)
    apply(Op("Probe", lambda xp, i: (xp.sum(i[0]), None), fresh_view), (x,)).backward()
    assert id(x.grad.data.base) == store[0]  # kept: no copy

    # the same view of a residual the graph keeps (retain_graph): copied, never aliased
    def forward(xp, inputs):
        return xp.sum(inputs[0]), np.full((6,), 3.0)

    op = Op("Probe", forward, lambda xp, res, g, needs: (res.reshape(2, 3),))
    y = Tensor(np.zeros((2, 3)), requires_grad=True)
    loss = apply(op, (y,))
    loss.backward(retain_graph=True)
    y.grad.data[...] = -1.0
    y.grad = None
    loss.backward()
    np.testing.assert_array_equal(y.grad.data, np.full((2, 3), 3.0))

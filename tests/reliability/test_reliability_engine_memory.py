"""The engine frees what it no longer needs: a backward frees the graph's saved values, a dropped
result frees its graph at once (no reference cycles, so no garbage collector needed), and the
seeds' training loop runs 10^4 steps in flat memory, measured with tracemalloc.
"""

from __future__ import annotations

import gc
import math
import tracemalloc
import weakref

import numpy as np
import pytest

import losskit
import losskit.functional as F

MB = 1 << 20


@pytest.fixture
def collector_off():
    """The garbage collector off, so that only reference counting frees memory."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@pytest.fixture
def traced(collector_off):
    """tracemalloc running (with the collector off): returns the traced-memory reader."""
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def test_training_memory_stays_flat_over_ten_thousand_steps(collector_off):
    # The README's loop: Linear(10, 1), MSELoss, SGD with momentum, 10^4 steps. The first 2000
    # warm up (momentum buffers, the interpreter's free lists and caches) untraced; the other
    # 8000 run under tracemalloc and must not grow the traced memory: each step's graph is freed
    # by reference counting alone (the collector is off). A leak of one small object per step
    # would show as ~400 KB. (~6 s, nearly all of it tracemalloc's; untraced, ~7000 steps/s.)
    losskit.manual_seed(0)
    model = losskit.nn.Linear(10, 1)
    criterion = losskit.nn.MSELoss()
    optimizer = losskit.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 10), np.float32), rng.standard_normal((16, 1), np.float32)

    def step():
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    first = step().item()
    for _ in range(1999):
        step()
    checkpoints = [0] * 4
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for i in range(8000):
            loss = step()
            if i % 2000 == 1999:
                checkpoints[i // 2000] = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert max(checkpoints) < 100_000, f"traced memory grew by {checkpoints} bytes after 2000, ..., 8000 steps"
    assert loss.item() < first  # it did train


def test_backward_frees_the_saved_values_while_the_result_is_alive(traced):
    # The graph holds x * 2 (8 MB, an input of the loss node, alive while loss is) and the loss's
    # saved exp(2x - max) (8 MB); backward frees the latter and adds x.grad (8 MB).
    x = losskit.tensor(np.ones(MB), dtype="float64", requires_grad=True)
    before = traced()
    loss = F.cross_entropy(x * 2.0, np.array(0))  # one sample of MB classes
    with_graph = traced() - before
    assert with_graph >= 16 * MB
    loss.backward()
    after = traced() - before
    assert after - x.grad.data.nbytes <= with_graph - 8 * MB + 64 * 1024, (with_graph, after)
    assert loss.item() == pytest.approx(math.log(MB), rel=1e-15)  # uniform over MB classes


def test_retain_graph_keeps_the_saved_values_for_a_second_backward(traced):
    x = losskit.tensor(np.ones(MB), dtype="float64", requires_grad=True)
    loss = F.cross_entropy(x * 2.0, np.array(0))  # saves exp(2x - max), 8 MB
    loss.backward(retain_graph=True)
    kept = traced()
    loss.backward()
    assert traced() < kept - 4 * MB  # the second backward, not retaining, freed them
    # d/dx CE(2x, 0) = 2 (softmax - onehot_0) = 2 (1/n - [i = 0]) per backward; two of them
    expected = np.full(MB, 4.0 / MB)
    expected[0] -= 4.0
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12)
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*retain_graph=True"):
        loss.backward()


def test_a_dropped_result_frees_its_graph_without_the_collector(traced):
    model = losskit.nn.Sequential(losskit.nn.Linear(4, 8), losskit.nn.ReLU(), losskit.nn.Linear(8, 1))
    x = np.ones((3, 4), np.float32)
    out = model(x)
    loss = F.mse_loss(out, np.zeros((3, 1), np.float32))
    refs = [weakref.ref(out), weakref.ref(loss)]
    loss.backward()
    del out, loss
    assert all(r() is None for r in refs)  # freed by reference counting alone: no cycles


def test_no_grad_records_nothing(traced):
    x = losskit.tensor(np.ones(MB), dtype="float64", requires_grad=True)
    before = traced()
    with losskit.no_grad():
        loss = F.mse_loss(x * 2.0, np.zeros(MB))
    assert loss.grad_fn is None and not loss.requires_grad
    assert traced() - before < MB  # no intermediate kept alive: only the 0-d result

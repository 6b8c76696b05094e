"""The engine under threads: grad mode is per thread, and separate graphs built and differentiated
concurrently give exactly the gradients of a serial run.

A barrier starts the threads together and a short switch interval makes the interpreter hop
between them often, so that shared state (if there were any) would be seen interleaved.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable

import numpy as np
import pytest

import losskit
import losskit.functional as F

THREADS = 8


def run_threads(target: Callable[[int], Any], n: int = THREADS) -> list[Any]:
    """``target(i)`` in ``n`` threads started together; their results, or their first error."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target(i)
        except BaseException as exc:  # noqa: BLE001 - reported in the main thread
            errors.append(exc)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    if errors:
        raise errors[0]
    return results


def test_no_grad_and_enable_grad_are_thread_local():
    # Half the threads work under no_grad, half under enable_grad nested in no_grad, each many
    # times while the others switch modes: every op must see its own thread's mode.
    x = losskit.tensor(np.ones(3), requires_grad=True)

    def work(i: int) -> int:
        recorded = 0
        for _ in range(200):
            if i % 2:
                with losskit.no_grad():
                    assert not losskit.is_grad_enabled()
                    y = x * 2.0
                    assert y.grad_fn is None
            else:
                with losskit.no_grad(), losskit.enable_grad():
                    assert losskit.is_grad_enabled()
                    y = x * 2.0
                    assert y.grad_fn is not None
                    recorded += 1
            assert losskit.is_grad_enabled()  # each block restored this thread's mode
        return recorded

    assert run_threads(work) == [200, 0] * (THREADS // 2)


def test_set_grad_enabled_entered_from_many_threads_at_once():
    # One instance, shared: its saved modes live per thread, so exits restore each thread's own.
    off = losskit.set_grad_enabled(False)

    @off
    def inside() -> bool:
        return losskit.is_grad_enabled()

    def work(i: int) -> tuple[bool, bool]:
        with losskit.set_grad_enabled(i % 2 == 0):
            before = losskit.is_grad_enabled()
            assert inside() is False
            return before, losskit.is_grad_enabled()

    assert run_threads(work) == [(True, True), (False, False)] * (THREADS // 2)
    assert losskit.is_grad_enabled()


def test_grad_mode_of_the_main_thread_is_not_inherited():
    with losskit.no_grad():
        seen = run_threads(lambda i: losskit.is_grad_enabled())
        assert not losskit.is_grad_enabled()
    assert seen == [True] * THREADS


def _problem(i: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(i)
    return dict(x=rng.standard_normal((16, 10)), y=rng.standard_normal((16, 1)), w=rng.standard_normal((1, 10)),
                logits=rng.standard_normal((16, 4)), t=rng.integers(0, 4, 16))


def _gradients(data: dict[str, np.ndarray], steps: int = 20) -> list[np.ndarray]:
    """A few losses on one thread's own leaves: gradients of each backward, in order."""
    w = losskit.Tensor(data["w"].copy(), requires_grad=True)
    logits = losskit.Tensor(data["logits"].copy(), requires_grad=True)
    out = []
    for step in range(steps):
        pred = data["x"] @ w.T
        loss = (F.mse_loss(pred, data["y"]) + F.huber_loss(pred, data["y"], delta=0.5)
                + F.cross_entropy(logits * (1.0 + step / 10), data["t"], label_smoothing=0.1))
        loss.backward(retain_graph=step % 2 == 0)
        out += [w.grad.data.copy(), logits.grad.data.copy()]
        w.grad = logits.grad = None
    return out


def test_concurrent_forward_and_backward_give_the_serial_gradients():
    problems = [_problem(i) for i in range(THREADS)]
    serial = [_gradients(p) for p in problems]
    concurrent = run_threads(lambda i: _gradients(problems[i]))
    for s, c in zip(serial, concurrent):
        assert len(s) == len(c)
        for a, b in zip(s, c):
            np.testing.assert_array_equal(a, b)


def test_concurrent_backward_of_separate_graphs_on_shared_inputs():
    # The leaves differ per thread; the (read-only) data arrays are shared by all threads.
    shared = _problem(0)
    serial = _gradients(shared)
    for result in run_threads(lambda i: _gradients(shared)):
        for a, b in zip(serial, result):
            np.testing.assert_array_equal(a, b)


def test_training_loops_in_threads_match_a_serial_one():
    def train(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        x, y = rng.standard_normal((16, 10), np.float32), rng.standard_normal((16, 1), np.float32)
        model = losskit.nn.Linear(10, 1)
        # fixed weights: the initialising generator is shared by the threads, its draws are not
        model.load_state_dict({"weight": np.full((1, 10), 0.1, np.float32), "bias": np.zeros(1, np.float32)})
        opt = losskit.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for _ in range(50):
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            opt.step()
        return model.weight.data.copy()

    serial = [train(i) for i in range(THREADS)]
    for s, c in zip(serial, run_threads(train)):
        np.testing.assert_array_equal(s, c)


def test_gradients_accumulated_into_a_shared_leaf_from_many_threads_are_all_kept():
    # Separate graphs, one leaf (Hogwild-style shared parameters): as in torch, accumulation into
    # .grad is atomic, so no thread's contribution is lost.
    x = losskit.tensor(np.zeros(4), requires_grad=True)
    steps = 300

    def work(i: int) -> None:
        for _ in range(steps):
            (x * float(i + 1)).sum().backward()

    run_threads(work)
    # d/dx sum((i + 1) x) = i + 1 per backward
    expected = steps * sum(range(1, THREADS + 1))
    np.testing.assert_array_equal(x.grad.data, np.full(4, float(expected)))


def test_backward_through_a_freed_graph_is_a_clear_error_in_every_thread():
    def work(i: int) -> str:
        x = losskit.tensor(np.arange(4.0), requires_grad=True)
        loss = F.mse_loss(x * 3.0, np.zeros(4))
        loss.backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            loss.backward()
        loss = F.mse_loss(x * 3.0, np.zeros(4))
        loss.backward(retain_graph=True)
        loss.backward()  # retained: a second backward works and accumulates
        return "ok"

    assert run_threads(work) == ["ok"] * THREADS

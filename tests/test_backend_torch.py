"""torch tensors in, torch tensors out: losskit's ops under torch autograd, torch.func and compile.

Values and gradients of every loss on torch tensors are checked in tests/test_backends.py; here the
bridge's own behaviour: no graph without requires_grad, double backward, torch.func, torch.compile.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402

import losskit.functional as F  # noqa: E402

def test_no_grad_inputs_give_a_plain_result():
    out = F.mse_loss(torch.ones(3), torch.zeros(3))
    assert isinstance(out, torch.Tensor) and out.grad_fn is None and out.item() == 1.0


def test_double_backward_is_a_clear_error():
    x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(F.mse_loss(x, torch.zeros(3, dtype=torch.float64)), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|does not require grad"):
        g.sum().backward()


def test_vmap_of_grad_equals_torch():
    from torch.func import grad, vmap

    x = torch.randn(6, 5, dtype=torch.float64)
    t = torch.randint(0, 5, (6,))
    ours = vmap(grad(lambda xi, ti: F.cross_entropy(xi, ti)))(x, t)
    theirs = vmap(grad(lambda xi, ti: TF.cross_entropy(xi, ti)))(x, t)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14)


def test_compiles_without_graph_breaks():
    compiled = torch.compile(lambda a, b: F.smooth_l1_loss(a, b, beta=0.5), fullgraph=True, backend="eager")
    a = torch.randn(8, dtype=torch.float64, requires_grad=True)
    b = torch.randn(8, dtype=torch.float64)
    torch.testing.assert_close(compiled(a, b), TF.smooth_l1_loss(a, b, beta=0.5), rtol=1e-12, atol=0)

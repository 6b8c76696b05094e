"""torch tensors in, torch tensors out: losskit's ops under torch autograd, torch.func and compile.

The catalog-wide matrix over every loss is issue 4's; here the bridge itself is exercised on the
core losses.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402

import losskit.functional as F  # noqa: E402

CASES = [
    ("mse_loss", lambda g: (g.standard_normal((4, 3)), g.standard_normal((4, 3))), {}, (0, 1)),
    ("l1_loss", lambda g: (g.standard_normal((4, 3)), g.standard_normal((4, 3))), {"reduction": "sum"}, (0, 1)),
    ("huber_loss", lambda g: (g.standard_normal((4, 3)) * 2, g.standard_normal((4, 3))), {"delta": 0.7}, (0, 1)),
    ("smooth_l1_loss", lambda g: (g.standard_normal((4, 3)) * 2, g.standard_normal((4, 3))), {"beta": 0.5, "reduction": "none"}, (0, 1)),
    ("binary_cross_entropy", lambda g: (g.uniform(0.05, 0.95, (4, 3)), g.uniform(0, 1, (4, 3))), {}, (0, 1)),
    ("binary_cross_entropy_with_logits", lambda g: (g.standard_normal((4, 3)), g.uniform(0, 1, (4, 3))), {}, (0, 1)),
    ("cross_entropy", lambda g: (g.standard_normal((5, 4)), g.integers(0, 4, 5)), {"label_smoothing": 0.1}, (0,)),
    ("cross_entropy", lambda g: (g.standard_normal((5, 4, 2)), g.dirichlet(np.ones(4), (5, 2)).transpose(0, 2, 1)), {}, (0, 1)),
    ("nll_loss", lambda g: (g.standard_normal((5, 4)), g.integers(0, 4, 5)), {"ignore_index": 2}, (0,)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name, make, options, grad", CASES, ids=[c[0] for c in CASES])
def test_torch_tensors_match_torch(name, make, options, grad, dtype, rng):
    arrays = make(rng)
    args = [torch.tensor(a, dtype=dtype if a.dtype.kind == "f" else torch.int64) for a in arrays]
    ours_in = [a.clone().requires_grad_(i in grad) for i, a in enumerate(args)]
    theirs_in = [a.clone().requires_grad_(i in grad) for i, a in enumerate(args)]
    ours = getattr(F, name)(*ours_in, **options)
    theirs = getattr(TF, name)(*theirs_in, **options)
    assert isinstance(ours, torch.Tensor) and ours.dtype == dtype and ours.shape == theirs.shape
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-12}
    torch.testing.assert_close(ours, theirs, **tol)
    cot = torch.rand(theirs.shape, dtype=dtype) + 0.5
    g_ours = torch.autograd.grad(ours, [ours_in[i] for i in grad], cot)
    g_theirs = torch.autograd.grad(theirs, [theirs_in[i] for i in grad], cot)
    for a, b in zip(g_ours, g_theirs):
        torch.testing.assert_close(a, b, **tol)


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

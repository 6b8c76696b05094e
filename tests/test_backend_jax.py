"""JAX arrays in, JAX arrays out: eager, jit, grad and vmap, checked against torch's gradients."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

import losskit.functional as F  # noqa: E402

CASES = [
    ("mse_loss", lambda g: (g.standard_normal((4, 3)), g.standard_normal((4, 3))), {}),
    ("huber_loss", lambda g: (g.standard_normal((4, 3)) * 2, g.standard_normal((4, 3))), {"delta": 0.7, "reduction": "sum"}),
    ("binary_cross_entropy", lambda g: (g.uniform(0.05, 0.95, (4, 3)), g.uniform(0, 1, (4, 3))), {}),
    ("binary_cross_entropy_with_logits", lambda g: (g.standard_normal((4, 3)), g.uniform(0, 1, (4, 3))), {"reduction": "none"}),
    ("cross_entropy", lambda g: (g.standard_normal((5, 4)), g.integers(0, 4, 5)), {"label_smoothing": 0.2, "ignore_index": 1}),
    ("nll_loss", lambda g: (g.standard_normal((5, 4, 3)), g.integers(0, 4, (5, 3))), {}),
]


def _torch_reference(name, arrays, options):
    torch = pytest.importorskip("torch")
    args = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = getattr(torch.nn.functional, name)(*args, **options)
    cot = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
    out.backward(cot)
    return out.detach().numpy(), args[0].grad.numpy(), cot.numpy()


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name, make, options", CASES, ids=[c[0] for c in CASES])
def test_value_and_grad_equal_torch(name, make, options, jit, rng):
    arrays = make(rng)
    expected, expected_grad, cot = _torch_reference(name, arrays, options)
    rest = [jnp.asarray(a) for a in arrays[1:]]

    def f(x):
        return getattr(F, name)(x, *rest, **options)

    value_and_vjp = (lambda x: jax.vjp(f, x)) if not jit else jax.jit(lambda x: jax.vjp(f, x))
    value, vjp = value_and_vjp(jnp.asarray(arrays[0]))
    assert isinstance(value, jax.Array) and value.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(value), expected, rtol=1e-12, atol=1e-14)
    (grad,) = vjp(jnp.asarray(cot))
    np.testing.assert_allclose(np.asarray(grad), expected_grad, rtol=1e-10, atol=1e-14)


def test_vmap_of_grad_is_per_sample_grad(rng):
    x = jnp.asarray(rng.standard_normal((6, 5)))
    t = jnp.asarray(rng.integers(0, 5, 6))
    per_sample = jax.vmap(jax.grad(lambda xi, ti: F.cross_entropy(xi, ti)))(x, t)
    # the gradient of the summed loss, row by row, is the stack of per-sample gradients
    full = jax.grad(lambda xx: F.cross_entropy(xx, t, reduction="sum"))(x)
    np.testing.assert_allclose(np.asarray(per_sample), np.asarray(full), rtol=1e-13, atol=1e-15)


def test_float32_stays_float32(rng):
    x = jnp.asarray(rng.standard_normal(4), dtype=jnp.float32)
    assert F.binary_cross_entropy_with_logits(x, jnp.zeros(4, jnp.float32)).dtype == jnp.float32

"""JAX arrays in, JAX arrays out: per-sample gradients by vmap(grad), float32 kept.

Values and gradients of every loss under eager, jit and vmap are checked in tests/test_backends.py.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

import losskit.functional as F  # noqa: E402

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


def test_jit_with_a_concrete_target_closed_over(rng):
    # under jit even reductions of a concrete captured target are staged: the index check must
    # skip rather than read them
    x = jnp.asarray(rng.standard_normal((6, 5)))
    t = jnp.asarray(rng.integers(0, 5, 6))
    value, grad = jax.jit(jax.value_and_grad(lambda xx: F.cross_entropy(xx, t)))(x)
    eager_value, eager_grad = jax.value_and_grad(lambda xx: F.cross_entropy(xx, t))(x)
    np.testing.assert_allclose(float(value), float(eager_value), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(grad), np.asarray(eager_grad), rtol=1e-13, atol=1e-16)
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(x, t.at[0].set(9))  # eagerly: still checked

"""The same call on every array library, for every entry of the catalog and every example option set.

For each loss and function in :mod:`losskit.catalog` (its examples cover the reductions and the
options that take other code paths), torch's own function is the oracle:

* NumPy arrays (plain result) and ``losskit.Tensor`` (value and gradients, float32 and float64);
* torch tensors through losskit (``torch.autograd.Function``): torch tensors back, same dtype,
  gradients by torch autograd equal to torch's own function's;
* JAX arrays (float64 with x64): eagerly and under ``jax.jit``, value and VJP against torch; and
  ``jax.vmap`` of value and gradient equals the examples one at a time;
* Dask arrays: a lazy dask array back, built without computing anything, whose value equals NumPy's;
* array-api-strict arrays: the plain call and losskit's engine on a non-NumPy library (the path
  CuPy takes) give NumPy's value and gradients.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import losskit
from losskit import catalog

pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss:UserWarning")

N, C = 6, 5
DTYPES = [np.float32, np.float64]


def _examples(entry, dtype, seed=0):
    rng = np.random.default_rng([seed, sum(map(ord, entry.name)), np.dtype(dtype).itemsize])
    return entry.examples(rng, np.dtype(dtype), N, C)


def _params(dtypes=DTYPES, first_only=False):
    params = []
    for entry in catalog.ENTRIES:
        for dtype in dtypes:
            examples = _examples(entry, dtype)
            for k, ex in enumerate(examples[:1] if first_only else examples):
                params.append(pytest.param(entry, dtype, k, id=f"{entry.name}-{ex.label}-{np.dtype(dtype).name}"))
    return params


def _cotangent(shape, dtype):
    return np.random.default_rng(7).uniform(0.5, 1.5, shape).astype(dtype)


def _arrays_to(convert, values):
    return [convert(v) if isinstance(v, np.ndarray) else v for v in values]


def _torch_oracle(entry, ex):
    """torch's value and the gradients (at ``ex.grad``) of ``<value, cotangent>``."""
    torch = pytest.importorskip("torch")
    args = [
        torch.tensor(a, requires_grad=i in ex.grad) if isinstance(a, np.ndarray) else a
        for i, a in enumerate(ex.args)
    ]
    kwargs = dict(zip(ex.kwargs, _arrays_to(torch.from_numpy, ex.kwargs.values())))
    out = entry.torch_function()(*args, **kwargs)
    cot = _cotangent(tuple(out.shape), out.detach().numpy().dtype)
    grads = torch.autograd.grad(out, [args[i] for i in ex.grad], torch.from_numpy(cot), allow_unused=True)
    grads = [np.zeros(ex.args[i].shape, cot.dtype) if g is None else g.numpy() for i, g in zip(ex.grad, grads)]
    return out.detach().numpy(), grads, cot


# --- NumPy and losskit.Tensor ------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "dtype", "k"), _params())
def test_numpy_and_tensor_equal_torch(check_against_torch, entry, dtype, k):
    ex = _examples(entry, dtype)[k]
    check_against_torch(entry.function(), entry.torch_function(), ex.args, ex.kwargs, grad=ex.grad)


# --- torch tensors -------------------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "dtype", "k"), _params())
def test_torch_tensors_equal_torch(assert_close, entry, dtype, k):
    torch = pytest.importorskip("torch")
    ex = _examples(entry, dtype)[k]
    expected, expected_grads, cot = _torch_oracle(entry, ex)
    args = [
        torch.tensor(a, requires_grad=i in ex.grad) if isinstance(a, np.ndarray) else a
        for i, a in enumerate(ex.args)
    ]
    kwargs = dict(zip(ex.kwargs, _arrays_to(torch.from_numpy, ex.kwargs.values())))
    out = entry.function()(*args, **kwargs)
    assert isinstance(out, torch.Tensor) and out.dtype == args[0].dtype and out.device == args[0].device
    assert_close(out.detach().numpy(), expected, dtype)
    grads = torch.autograd.grad(out, [args[i] for i in ex.grad], torch.from_numpy(cot))
    for i, g, e in zip(ex.grad, grads, expected_grads):
        assert_close(g.numpy(), e, dtype, err_msg=f"grad of arg {i}")


# --- JAX -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def _jax_call(jax, entry, ex):
    """``(f, diff, rest)``: ``f(diff, rest)`` calls the loss with JAX arrays in every array slot."""
    jnp = jax.numpy
    names = list(ex.kwargs)

    def f(diff, rest):
        args = list(rest[: len(ex.args)])
        for i, d in zip(ex.grad, diff):
            args[i] = d
        kwargs = dict(zip(names, rest[len(ex.args):]))
        return entry.function()(*args, **kwargs)

    values = _arrays_to(jnp.asarray, list(ex.args) + list(ex.kwargs.values()))
    statics = {i: v for i, v in enumerate(values) if not isinstance(v, jax.Array)}
    arrays = [None if i in statics else v for i, v in enumerate(values)]

    def g(diff, arrays):  # Python scalars and strings stay static, arrays are traced under jit
        return f(diff, [statics.get(i, a) for i, a in enumerate(arrays)])

    return g, [values[i] for i in ex.grad], arrays


@pytest.mark.parametrize("mode", ["eager", "jit"])
@pytest.mark.parametrize(("entry", "dtype", "k"), _params(dtypes=[np.float64]))
def test_jax_value_and_grad_equal_torch(jax, entry, dtype, k, mode):
    ex = _examples(entry, dtype)[k]
    expected, expected_grads, cot = _torch_oracle(entry, ex)
    g, diff, arrays = _jax_call(jax, entry, ex)

    def value_and_vjp(diff, arrays):
        return jax.vjp(lambda d: g(d, arrays), diff)

    if mode == "jit":
        value_and_vjp = jax.jit(value_and_vjp)
    value, vjp = value_and_vjp(diff, arrays)
    assert isinstance(value, jax.Array) and value.dtype == jax.numpy.float64
    np.testing.assert_allclose(np.asarray(value), expected, rtol=1e-10, atol=1e-12)
    (grads,) = vjp(jax.numpy.asarray(cot))
    for i, gr, e in zip(ex.grad, grads, expected_grads):
        np.testing.assert_allclose(np.asarray(gr), e, rtol=1e-9, atol=1e-12, err_msg=f"grad of arg {i}")


@pytest.mark.parametrize(("entry", "dtype", "k"), _params(dtypes=[np.float64], first_only=True))
def test_jax_vmap_equals_one_at_a_time(jax, entry, dtype, k):
    # Two examples of the same shapes, stacked on a new leading axis; vmap of value and of
    # gradient equals each example on its own.
    jnp = jax.numpy
    exs = [_examples(entry, dtype, seed)[k] for seed in (0, 1)]
    calls = [_jax_call(jax, entry, ex) for ex in exs]
    g = calls[0][0]

    def value_and_grad(diff, arrays):
        value = g(diff, arrays)
        return value, jax.grad(lambda d: jnp.sum(g(d, arrays)))(diff)

    stack = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *[(c[1], c[2]) for c in calls])
    values, grads = jax.vmap(value_and_grad)(*stack)
    for j, (_, diff, arrays) in enumerate(calls):
        value, grad = value_and_grad(diff, arrays)
        np.testing.assert_allclose(np.asarray(values[j]), np.asarray(value), rtol=1e-12, atol=1e-14)
        for a, b in zip(grads, grad):
            np.testing.assert_allclose(np.asarray(a[j]), np.asarray(b), rtol=1e-12, atol=1e-14)


# --- Dask ----------------------------------------------------------------------------------------


def _no_compute(*args, **kwargs):
    raise AssertionError("a dask graph was computed while the loss was being built")


@pytest.mark.parametrize(("entry", "dtype", "k"), _params())
def test_dask_is_lazy_and_equals_numpy(entry, dtype, k):
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    ex = _examples(entry, dtype)[k]
    expected = np.asarray(entry.function()(*ex.args, **ex.kwargs))

    def chunked(a):  # several chunks along the first axis, so reductions cross chunk boundaries
        return da.from_array(a, chunks=(max(a.shape[0] // 3, 1),) + a.shape[1:]) if a.ndim else da.from_array(a)

    args = _arrays_to(chunked, ex.args)
    kwargs = dict(zip(ex.kwargs, _arrays_to(chunked, ex.kwargs.values())))
    with dask.config.set(scheduler=_no_compute):
        out = entry.function()(*args, **kwargs)
    assert isinstance(out, da.Array), type(out)
    value = out.compute(scheduler="sync")
    assert value.dtype == expected.dtype and value.shape == expected.shape
    rtol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=rtol * 1e-2)


# --- array-api-strict (and losskit's engine on a library other than NumPy) ----------------------


@pytest.mark.parametrize(("entry", "dtype", "k"), _params())
def test_array_api_strict_equals_numpy(strict, entry, dtype, k):
    ex = _examples(entry, dtype)[k]
    fn = entry.function()
    kwargs_np = ex.kwargs
    kwargs_strict = dict(zip(ex.kwargs, _arrays_to(strict.asarray, ex.kwargs.values())))

    plain = fn(*_arrays_to(strict.asarray, ex.args), **kwargs_strict)
    assert type(plain).__module__.startswith("array_api_strict"), type(plain)
    np.testing.assert_allclose(np.asarray(plain), np.asarray(fn(*ex.args, **kwargs_np)), rtol=1e-12, atol=0)

    def run(convert, kwargs):
        args = [losskit.Tensor(convert(a), requires_grad=True) if i in ex.grad else a for i, a in enumerate(ex.args)]
        args = [convert(a) if isinstance(a, np.ndarray) else a for a in args]
        out = fn(*args, **kwargs)
        out.backward(convert(_cotangent(tuple(out.shape), np.dtype(dtype))))
        return out, [args[i].grad for i in ex.grad]

    out, grads = run(strict.asarray, kwargs_strict)
    ref_out, ref_grads = run(np.asarray, kwargs_np)
    assert type(out.data).__module__.startswith("array_api_strict")
    np.testing.assert_allclose(np.asarray(out.data), ref_out.data, rtol=1e-12, atol=0)
    for g, r in zip(grads, ref_grads):
        assert type(g.data).__module__.startswith("array_api_strict")
        np.testing.assert_allclose(np.asarray(g.data), r.data, rtol=1e-12, atol=1e-300)


# --- optional libraries stay unimported ------------------------------------------------------------


def test_optional_backends_are_imported_only_when_used():
    # A fresh interpreter: NumPy losses, the engine, nn, optim and the catalog import no optional
    # library; passing a torch tensor imports torch's bridge and nothing else.
    code = """
import sys, numpy as np, losskit, losskit.functional as F, losskit.catalog
x = losskit.tensor(np.zeros((2, 3)), requires_grad=True)
F.cross_entropy(x, np.array([0, 1])).backward()
losskit.optim.SGD(losskit.nn.Linear(3, 1).parameters(), lr=0.1).step()
print(sorted(m for m in ("torch", "jax", "dask", "array_api_strict", "cupy") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[0] == "[]", out.stdout + out.stderr

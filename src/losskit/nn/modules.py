"""Modules: parameters that train, and the containers and layers a small model is made of.

``Module`` follows torch's contract: assigning a :class:`Parameter` or a ``Module`` to an attribute
registers it, in assignment order, so that ``parameters()``, ``named_parameters()`` and
``state_dict()`` find it; ``module(x)`` calls ``forward(x)``.
"""

from __future__ import annotations

import math
from collections import OrderedDict, namedtuple
from typing import Any, Iterator

import numpy as np

from .. import _array, _checks
from .. import functional as F
from ..autograd.tensor import Tensor, _as_array, _resolve_dtype, matmul, where, zero_grads
from ..random import generator

__all__ = [
    "Identity",
    "Linear",
    "LogSoftmax",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A leaf Tensor that a Module registers as trainable; requires gradients by default."""

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        super().__init__(np.zeros(0, np.float32) if data is None else data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer, model and loss."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # --- registration ------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() call in {type(self).__name__}"
            )
        params, modules = self.__dict__["_parameters"], self.__dict__["_modules"]
        params.pop(name, None)
        modules.pop(name, None)
        self.__dict__.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Module):
            modules[name] = value
        elif value is None and name in params:
            params[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        if name in d.get("_parameters", {}):
            return d["_parameters"][name]
        if name in d.get("_modules", {}):
            return d["_modules"][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"param must be a losskit.nn.Parameter or None, got {type(param).__name__}")
        self._parameters[name] = param

    def add_module(self, name: str, module: "Module | None") -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"module must be a losskit.nn.Module or None, got {type(module).__name__}")
        self._modules[name] = module

    # --- traversal ---------------------------------------------------------------------------

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        yield prefix, self
        for name, m in self.named_children():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs, each parameter once even where modules share it."""
        seen: set[int] = set()
        owners = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for owner, module in owners:
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{owner}.{name}" if owner else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    # --- state -------------------------------------------------------------------------------

    def zero_grad(self, set_to_none: bool = True) -> None:
        zero_grads(self.parameters(), set_to_none)

    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise TypeError(f"mode must be a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def state_dict(self) -> "OrderedDict[str, Any]":
        """Parameter name -> a copy of its array (so that later training leaves it unchanged)."""
        return OrderedDict(
            (name, _array.namespace(p.data).asarray(p.data, copy=True)) for name, p in self.named_parameters()
        )

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (NumPy, any Array API library, Tensors, torch tensors) into the parameters.

        Each value keeps its parameter's dtype; a shape mismatch is an error. With ``strict``,
        missing or unexpected keys are an error too; otherwise they are returned.
        """
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(
                f"load_state_dict: missing keys {missing}, unexpected keys {unexpected} "
                "(pass strict=False to load the rest)"
            )
        for name, p in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            if hasattr(value, "detach") and not isinstance(value, Tensor):  # a torch tensor
                value = value.detach().cpu().numpy()
            xp = _array.namespace(p.data)
            new = xp.asarray(_as_array(value, None, copy=True), dtype=p.data.dtype)
            if tuple(new.shape) != tuple(p.shape):
                raise ValueError(
                    f"load_state_dict: {name} has shape {tuple(new.shape)}, "
                    f"the parameter has shape {tuple(p.shape)}"
                )
            p.data = new
        return IncompatibleKeys(missing, unexpected)

    def to(self, dtype: Any) -> "Module":
        """Cast every floating-point parameter to ``dtype`` (e.g. ``np.float64`` or "float64")."""
        for p in self.parameters():
            xp = _array.namespace(p.data)
            p.data = xp.astype(p.data, _resolve_dtype(xp, dtype))
            p.grad = None
        return self

    def double(self) -> "Module":
        return self.to("float64")

    def float(self) -> "Module":
        return self.to("float32")

    # --- display -----------------------------------------------------------------------------

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = [f"  ({n}): " + repr(m).replace("\n", "\n  ") for n, m in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ("\n" + "\n".join(children) + "\n)" if children else ")")


class Linear(Module):
    """``y = x W^T + b``, initialised as torch does: W, b ~ U(-1/sqrt(in), 1/sqrt(in)).

    (torch's kaiming_uniform_ with a = sqrt(5) gives exactly that bound for W.) The draws come
    from :func:`losskit.manual_seed`'s generator, not torch's; copy torch's weights with
    ``load_state_dict`` to start from the same point.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.in_features = _checks.integer(in_features, "in_features")
        self.out_features = _checks.integer(out_features, "out_features")
        if self.in_features < 0 or self.out_features < 0:
            raise ValueError(
                f"in_features and out_features must be >= 0, got {in_features} and {out_features}"
            )
        if device not in (None, "cpu"):
            raise ValueError(f"device must be None or 'cpu' for NumPy parameters, got {device!r}")
        dt = _resolve_dtype(np, dtype) if dtype is not None else np.float32
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        rng = generator()
        self.weight = Parameter(rng.uniform(-bound, bound, (self.out_features, self.in_features)).astype(dt))
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, (self.out_features,)).astype(dt))
        else:
            self.register_parameter("bias", None)

    def forward(self, input: Any) -> Tensor:
        shape = tuple(_checks.array(input, "input").shape)
        if not shape or shape[-1] != self.in_features:
            last = f"last dimension {shape[-1]}" if shape else "shape ()"
            raise ValueError(
                f"input's {last} must equal in_features {self.in_features} (input shape {shape})"
            )
        out = matmul(input, self.weight.T)
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Sequential(Module):
    """Modules applied in order: ``Sequential(a, b)(x) == b(a(x))``; also takes an OrderedDict."""

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self

    def forward(self, input: Any) -> Any:
        for m in self:
            input = m(input)
        return input


class Identity(Module):
    def forward(self, input: Any) -> Any:
        return input


class ReLU(Module):
    """``max(x, 0)``; gradient 0 at 0, as torch (clamp's gradient would pass 1 there)."""

    def forward(self, input: Any) -> Tensor:
        x = input if isinstance(input, Tensor) else Tensor(input)
        return where(x > 0.0, x, 0.0)


class Sigmoid(Module):
    def forward(self, input: Any) -> Any:
        return F.sigmoid(input)


class Softmax(Module):
    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = _checks.optional_dim(dim)

    def forward(self, input: Any) -> Any:
        return F.softmax(input, self.dim, _stacklevel=4)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, input: Any) -> Any:
        return F.log_softmax(input, self.dim, _stacklevel=4)

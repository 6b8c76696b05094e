"""Modules with torch.nn's names: Module, Parameter, layers, containers and loss classes."""

from . import functional
from .losses import *  # noqa: F401,F403
from .losses import __all__ as _losses
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules

__all__ = ["functional", *_modules, *_losses]

"""Modules with torch.nn's names: Module, Parameter, layers, containers and loss classes."""

from . import _ctc, _embedding, _focal, _linear_cross_entropy, _margin, _probabilistic, functional
from ._ctc import *  # noqa: F401,F403
from ._embedding import *  # noqa: F401,F403
from ._focal import *  # noqa: F401,F403
from ._linear_cross_entropy import *  # noqa: F401,F403
from ._margin import *  # noqa: F401,F403
from ._probabilistic import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .losses import __all__ as _losses
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules

__all__ = ["functional", *_modules, *_losses]
for _family in (_ctc, _embedding, _focal, _linear_cross_entropy, _margin, _probabilistic):
    __all__ += _family.__all__
del _family

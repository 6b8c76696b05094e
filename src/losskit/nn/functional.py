"""``losskit.nn.functional`` is :mod:`losskit.functional` under torch's path, so that
``import losskit.nn.functional as F`` reads as it does with torch."""

from ..functional import *  # noqa: F401,F403
from ..functional import __all__  # noqa: F401

"""losskit's global random state: the source of parameter initialisation, seeded like torch.

One NumPy ``Generator`` (PCG64) per process. ``losskit.manual_seed(s)`` resets it, so that the
same seed gives the same initial weights on every run; the stream is losskit's own and does not
reproduce torch's numbers (copy torch's weights with ``load_state_dict`` for that).
"""

from __future__ import annotations

import numpy as np

from . import _checks

_SEED_MODULUS = 2**64

_generator = np.random.Generator(np.random.PCG64())


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed losskit's global generator and return it (``torch.manual_seed``'s role).

    Any int is accepted, negative ones included; it is reduced modulo 2**64 as torch does.
    """
    global _generator
    seed = _checks.integer(seed, "seed") % _SEED_MODULUS
    _generator = np.random.Generator(np.random.PCG64(seed))
    return _generator


def generator() -> np.random.Generator:
    """The global generator that initialisers draw from."""
    return _generator

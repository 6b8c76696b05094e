"""The seed documents' worked examples: losskit gives the numbers torch printed there.

The tour (``losskit tour``) runs exactly these examples; here each is checked two ways: against
the 4-decimal value printed in the seed document (where it printed one), and against torch run
now on the same float32 inputs (value and gradient).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import losskit
from losskit.cli import tour

IDS = [ex.name for ex in tour.EXAMPLES]
PRINTED = [ex for ex in tour.EXAMPLES if "torch printed" in ex.source]


def _run(ex):
    return ex.run()


@pytest.mark.parametrize("ex", PRINTED, ids=[ex.name for ex in PRINTED])
def test_value_printed_in_the_seed(ex):
    printed = re.search(r"torch printed (-?\d+\.\d+)", ex.source)
    _, _, loss = _run(ex)
    # The seed printed its inputs to 4 decimals, so the value from those inputs may differ from
    # the one it printed by a unit or two in the 4th decimal.
    assert abs(loss.item() - float(printed.group(1))) <= 2e-4


IN_TORCH = [ex for ex in tour.EXAMPLES if ex.fn.__name__ != "focal_loss"]


@pytest.mark.parametrize("ex", IN_TORCH, ids=[ex.name for ex in IN_TORCH])
def test_value_and_gradient_equal_torch(ex, assert_close):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF

    x, target, loss = _run(ex)
    _, others, _ = ex.arrays()
    tx = torch.tensor(np.asarray(ex.input, dtype=np.float32), requires_grad=True)
    others = [torch.from_numpy(o) for o in others]
    tloss = getattr(TF, ex.fn.__name__)(tx, *others, torch.from_numpy(target), **ex.options)
    tloss.backward()
    assert_close(loss.data, tloss.detach().numpy())
    assert_close(x.grad.data, tx.grad.numpy())


def test_seed_003_log_loss_by_hand():
    # seed 003 computes sklearn's log_loss of y=[0,1,1,0], p=[.1,.9,.8,.3] as
    # -(log .9 + log .9 + log .8 + log .7) / 4 = 0.19763488...
    expected = -(np.log(0.9) * 2 + np.log(0.8) + np.log(0.7)) / 4
    value = losskit.functional.binary_cross_entropy(np.array([0.1, 0.9, 0.8, 0.3]), np.array([0.0, 1.0, 1.0, 0.0]))
    assert value == pytest.approx(expected, rel=1e-15)


def test_focal_example_equals_the_seeds_formula_in_torch(assert_close):
    # The seeds' FocalLoss: ce = F.cross_entropy(x, t, reduction='none'), p = exp(-ce),
    # loss = ((1 - p) ** gamma * ce).mean(), gamma = 2.
    torch = pytest.importorskip("torch")
    (ex,) = [ex for ex in tour.EXAMPLES if ex.name == "FocalLoss"]
    x, target, loss = ex.run()
    tx = torch.tensor(np.asarray(ex.input, dtype=np.float32), requires_grad=True)
    ce = torch.nn.functional.cross_entropy(tx, torch.from_numpy(target), reduction="none")
    tloss = ((1 - torch.exp(-ce)) ** 2 * ce).mean()
    tloss.backward()
    assert_close(loss.data, tloss.detach().numpy())
    assert_close(x.grad.data, tx.grad.numpy())

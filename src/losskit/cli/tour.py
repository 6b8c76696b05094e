"""``losskit tour``: every implemented loss on the worked examples of the seed documents.

For each loss: its formula in one line, the inputs, the value, and the gradient with respect to
the input, computed by losskit's own engine on NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .. import functional as F
from ..autograd import tensor


@dataclass(frozen=True)
class Example:
    """One worked example: ``fn(input, *others, target, **options)``, differentiated in ``input``."""

    name: str
    formula: str
    source: str
    fn: Callable[..., Any]
    input: list
    target: list
    options: dict = field(default_factory=dict)
    target_dtype: Any = np.float32
    others: tuple = ()  # further float32 inputs between input and target (e.g. input2)

    def arrays(self) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        return (
            np.asarray(self.input, dtype=np.float32),
            [np.asarray(o, dtype=np.float32) for o in self.others],
            np.asarray(self.target, dtype=self.target_dtype),
        )

    def run(self) -> tuple[Any, Any, Any]:
        """(input Tensor with its gradient, target, loss): one forward and backward."""
        x, others, target = self.arrays()
        x = tensor(x, requires_grad=True)
        loss = self.fn(x, *others, target, **self.options)
        loss.backward()
        return x, target, loss


def _seed004_l1():
    return (
        [[-1.7635, 0.1556, -0.6223, -0.7268, -1.2946],
         [-1.7378, 0.1661, -1.0814, -1.1439, 0.5920],
         [0.1332, -1.1221, 0.3395, -0.3578, -0.0967]],
        [[1.8535, -1.1770, -0.1588, -1.2424, 0.9354],
         [-0.0087, -1.8183, 2.1992, -0.3471, -0.7438],
         [-0.1790, -0.8815, -0.2270, -0.3427, -0.4090]],
    )


def _seed004_mse():
    return (
        [[-0.5070, 0.4369, -0.1781, 0.0681, -0.4557],
         [-1.2526, 0.3511, -0.5278, -0.0536, 1.5063],
         [-0.5172, 0.6655, -0.0341, 0.3643, 0.5832]],
        [[1.0522, 2.3562, 0.0837, 2.3595, 0.2934],
         [0.2369, -2.0097, -1.2394, -0.2212, 0.4254],
         [1.8768, 0.0744, -1.2391, -0.0936, -1.4914]],
    )


_SMOOTH_IN = [[0.6051, 1.8739, 0.8015], [0.6713, -0.2191, -1.6360]]
_SMOOTH_TGT = [[0.5638, -0.0400, 1.0652], [-0.7935, 1.6107, -0.3567]]
_CE_LOGITS = [[0.121, 0.434, 0.2, 0.3343], [0.3, 0.342, 0.6, 0.123], [5.0, 2.0, -1.0, 3.0]]

EXAMPLES = (
    Example("L1Loss", "l = |x - y|", "seed 004 (torch printed 1.2488)", F.l1_loss, *_seed004_l1()),
    Example("MSELoss", "l = (x - y)^2", "seed 004 (torch printed 2.2358)", F.mse_loss, *_seed004_mse()),
    Example(
        "SmoothL1Loss",
        "l = (x - y)^2 / (2 beta) if |x - y| < beta else |x - y| - beta / 2",
        "seed 000, beta=0.5 (torch printed 0.9265)",
        F.smooth_l1_loss, _SMOOTH_IN, _SMOOTH_TGT, {"beta": 0.5},
    ),
    Example(
        "HuberLoss",
        "l = (x - y)^2 / 2 if |x - y| < delta else delta (|x - y| - delta / 2)",
        "seed 000's SmoothL1 inputs, delta=1.0",
        F.huber_loss, _SMOOTH_IN, _SMOOTH_TGT, {"delta": 1.0},
    ),
    Example(
        "BCELoss",
        "l = -[y log x + (1 - y) log(1 - x)], each log clamped at -100",
        "seed 003 (sklearn log_loss example)",
        F.binary_cross_entropy, [0.1, 0.9, 0.8, 0.3], [0.0, 1.0, 1.0, 0.0],
    ),
    Example(
        "BCEWithLogitsLoss",
        "l = y softplus(-x) + (1 - y) softplus(x)",
        "seed 000 (torch printed 0.6440)",
        F.binary_cross_entropy_with_logits, [-0.7844, -1.8377, 0.1435], [1.0, 0.0, 1.0],
    ),
    Example(
        "CrossEntropyLoss",
        "l_n = logsumexp(x_n) - x_n[t_n]",
        "seed 003, class indices [1, 0, 3]",
        F.cross_entropy, _CE_LOGITS, [1, 0, 3], target_dtype=np.int64,
    ),
    Example(
        "CrossEntropyLoss (probabilities)",
        "l_n = -sum_c y_nc log softmax(x_n)_c",
        "seed 003, the one-hot y_true1",
        F.cross_entropy, _CE_LOGITS, [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]],
    ),
    Example(
        "NLLLoss",
        "l_n = -x_n[t_n]  (x: log-probabilities)",
        "seed 003's logits through log_softmax, class indices [1, 0, 3]",
        F.nll_loss,
        np.log(np.exp(_CE_LOGITS) / np.exp(_CE_LOGITS).sum(1, keepdims=True)).tolist(),
        [1, 0, 3], target_dtype=np.int64,
    ),
    Example(
        "KLDivLoss",
        "l = y (log y - x)  (x: log-probabilities; the seed passes probabilities, hence < 0)",
        "seed 001 (torch printed -0.3335)",
        F.kl_div, [[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]], [[0.9, 0.05, 0.05], [0.1, 0.7, 0.2]],
    ),
    Example(
        "MultiLabelMarginLoss",
        "l = sum_{j target, i not target} max(0, 1 - (x[y_j] - x[i])) / C, targets end at -1",
        "seed 001 (torch printed 0.4500)",
        F.multilabel_margin_loss, [[0.9, 0.2, 0.4, 0.8]], [[3, 0, -1, 1]], target_dtype=np.int64,
    ),
    Example(
        "SoftMarginLoss",
        "l = log(1 + exp(-y x)) = softplus(-y x)",
        "seed 001 (torch printed 0.6764)",
        F.soft_margin_loss, [[0.3, 0.7], [0.5, 0.5]], [[-1.0, 1.0], [1.0, -1.0]],
    ),
    Example(
        "MultiMarginLoss",
        "l = sum_{i != y} max(0, margin - x[y] + x[i])^p / C",
        "seed 001 (torch printed 0.6000)",
        F.multi_margin_loss, [[0.3, 0.7], [0.5, 0.5]], [0, 1], target_dtype=np.int64,
    ),
    Example(
        "HingeEmbeddingLoss",
        "l = x if y = 1, max(0, margin - x) if y = -1",
        "seed 001 (torch printed 0.7667)",
        F.hinge_embedding_loss, [[1.0, 0.8, 0.5]], [[1.0, 1.0, -1.0]],
    ),
    Example(
        "CosineEmbeddingLoss",
        "l = 1 - cos(x1, x2) if y = 1, max(0, cos(x1, x2) - margin) if y = -1",
        "seed 001 (torch printed 0.5000)",
        F.cosine_embedding_loss, [[0.3, 0.5, 0.7], [0.3, 0.5, 0.7]], [1.0, -1.0],
        others=([[0.1, 0.3, 0.5], [0.1, 0.3, 0.5]],),
    ),
    # The seeds show these with random inputs only; fixed small inputs stand in for them.
    Example(
        "PoissonNLLLoss",
        "l = exp(x) - y x  (log_input=True)",
        "seed 001's call, fixed inputs",
        F.poisson_nll_loss, [[0.5, -1.0], [1.2, 0.0]], [[2.0, 0.0], [3.0, 1.0]],
    ),
    Example(
        "MarginRankingLoss",
        "l = max(0, -y (x1 - x2) + margin)",
        "seed 001's call, fixed inputs",
        F.margin_ranking_loss, [0.8, -0.3, 0.1], [1.0, -1.0, 1.0], others=([0.2, 0.4, 0.5],),
    ),
    Example(
        "TripletMarginLoss",
        "l = max(d(a, p) - d(a, n) + margin, 0), d(u, v) = ||u - v + eps||_2",
        "seed 001's call (margin=1, p=2), fixed inputs",
        F.triplet_margin_loss, [[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [2.0, 2.0]],
        others=([[0.0, 0.5], [1.0, 0.0]],),
    ),
    Example(
        "MultiLabelSoftMarginLoss",
        "l = -mean_c [y log sigmoid(x) + (1 - y) log sigmoid(-x)]",
        "losskit example",
        F.multilabel_soft_margin_loss, [[0.9, -0.2, 0.4, 0.8]], [[1.0, 0.0, 0.0, 1.0]],
    ),
    Example(
        "FocalLoss",
        "l = (1 - p)^gamma ce, ce = cross entropy, p = exp(-ce)",
        "seed 001's user-written FocalLoss on seed 003's logits",
        F.focal_loss, _CE_LOGITS, [1, 0, 3], target_dtype=np.int64,
    ),
)


def _fmt(a: Any) -> str:
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = a + 0.0  # shows the -0.0 of zero gradient entries as 0.0
    text = np.array2string(a, precision=4, separator=", ", suppress_small=True)
    return text.replace("\n", "\n" + " " * 12)


def run(out: Callable[[str], None] = print) -> None:
    out("losskit tour: each loss on the seed documents' worked examples (float32, reduction='mean')")
    for ex in EXAMPLES:
        x, target, loss = ex.run()
        out("")
        out(f"{ex.name}    [{ex.source}]")
        out(f"  formula:  {ex.formula}")
        out(f"  input:    {_fmt(x.data)}")
        for i, other in enumerate(ex.arrays()[1], start=2):
            out(f"  input{i}:   {_fmt(other)}")
        out(f"  target:   {_fmt(target)}")
        opts = ", ".join(f"{k}={v}" for k, v in ex.options.items())
        if opts:
            out(f"  options:  {opts}")
        out(f"  value:    {loss.item():.4f}   (grad_fn={loss.grad_fn.name()})")
        out(f"  d/dinput: {_fmt(x.grad.data)}")


def main(args: Any = None) -> int:
    run()
    return 0

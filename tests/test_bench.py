"""The benchmark suite (``losskit bench``): it runs end to end and reports what it measured.

No test times anything: the quick run checks the report's shape, the figures' arithmetic is
checked on hand-made timings, optax's losses against torch's values.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from losskit import bench, catalog


def test_quick_run_writes_every_section(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "results" / "RESULTS.md"
    argv = ["--quick", "--losses", "cross_entropy", "mse_loss", "--quiet",
            "--frameworks", "losskit-tensor,losskit-plain,torch", "--output", str(out)]
    assert bench.main(argv) == 0
    text = out.read_text()
    for section in ("# losskit benchmarks", "## Machine", "## Summary (the issue's goals)", "## Full table"):
        assert f"\n{section}\n" in f"\n{text}", section
    assert f"numpy {np.__version__}" in text and "torch threads: 2" in text
    assert "losskit bench --quick --losses cross_entropy mse_loss" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "quick (16, 8)" in line]
    assert [r.split(" | ")[0][2:] + " " + r.split(" | ")[3] for r in rows] == [
        "cross_entropy fwd+bwd", "cross_entropy fwd", "mse_loss fwd+bwd", "mse_loss fwd",
    ]
    for r in rows:
        losskit_ms, torch_ms, jax_ms = r.split(" | ")[4:7]
        assert float(losskit_ms) > 0 and float(torch_ms) > 0 and jax_ms == "–"  # jax not asked for
    printed = capsys.readouterr().out
    assert "geometric mean of the ratio to torch over 2 losses" in printed
    assert re.search(r"peak memory, forward\+backward .* on \d of 2 losses", text)


def _case(loss, size="realistic"):
    return bench.Case(loss, size, 8, 4)


def test_ratio_is_the_median_of_per_round_ratios():
    # per-round ratios 2/1, 6/2, 10/10 = 2, 3, 1: median 2 (the ratio of the medians would be 3)
    torch, mine = bench.Cell(seconds=[1.0, 2.0, 10.0]), bench.Cell(seconds=[2.0, 6.0, 10.0])
    assert bench.ratio_to_torch(mine, torch) == 2.0
    # a framework that failed after the first round: only that round counts
    assert bench.ratio_to_torch(bench.Cell(seconds=[3.0]), torch) == 3.0
    assert bench.ratio_to_torch(None, torch) is None


def test_best_ratio_is_the_ratio_of_the_fastest_rounds():
    # fastest rounds 1.5 and 1: 1.5 (the per-round ratios 0.5, 6, 2 have the median 2)
    torch, mine = bench.Cell(seconds=[3.0, 1.0, 2.0]), bench.Cell(seconds=[1.5, 6.0, 4.0])
    assert bench.best_ratio_to_torch(mine, torch) == 1.5
    assert bench.ratio_to_torch(mine, torch) == 2.0
    assert bench.best_ratio_to_torch(bench.Cell(), torch) is None


def test_summary_figures_from_hand_made_timings():
    a, b, tiny = _case("mse_loss"), _case("l1_loss"), _case("cross_entropy", "tiny")
    table = {(c, m): {} for c in (a, b, tiny) for m in bench.MODES}
    table[(a, bench.FWD_BWD)] = {"losskit-tensor": bench.Cell([1.0], peak=3 * 2**20), "torch": bench.Cell([2.0], peak=2**20)}
    table[(b, bench.FWD_BWD)] = {"losskit-tensor": bench.Cell([8.0], peak=2**20), "torch": bench.Cell([4.0], peak=2**20),
                                 "jax": bench.Cell([1.0])}
    table[(tiny, bench.FWD_BWD)] = {"losskit-tensor": bench.Cell([60e-6]), "torch": bench.Cell([40e-6])}
    summary = bench.summarise({"cases": [a, b, tiny], "table": table})
    assert summary["numpy_fwd_bwd"] == {"mse_loss": 0.5, "l1_loss": 2.0}
    assert summary["jax_fwd_bwd"] == {"l1_loss": 0.25}
    assert summary["memory"][bench.FWD_BWD] == {"mse_loss": (3 * 2**20, 2**20), "l1_loss": (2**20, 2**20)}
    assert summary["tiny"] == pytest.approx((60e-6, 40e-6, 1.5))
    text = "\n".join(bench.summary_lines(summary))
    assert "over 2 losses: **1.00** (goal <= 1.0: met)" in text  # sqrt(0.5 * 2)
    assert "worst loss: **l1_loss 2.00** (goal <= 2.0: met)" in text
    assert "ratio > 1 (1): l1_loss 2.00" in text
    assert "losskit <= torch on 1 of 2 losses (goal: all, not met); above torch: mse_loss 3.0 vs 1.0 MiB" in text
    assert "losskit 60 us, torch 40 us per call, ratio **1.50** (goal <= 2.0: met)" in text


def test_every_loss_has_a_realistic_size_and_the_main_ones_three():
    for e in catalog.ENTRIES:
        assert "realistic" in bench.SIZES[e.name], e.name
    for name in ("cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "smooth_l1_loss"):
        assert {"small", "realistic", "large"} <= set(bench.SIZES[name]), name


def test_optax_table_names_every_adapter():
    pytest.importorskip("optax")
    assert set(bench._optax_losses()) == set(bench.OPTAX_LOSSES)


@pytest.mark.parametrize("name", bench.OPTAX_LOSSES)
def test_optax_losses_equal_torch(name, assert_close):
    # The suite times optax only where its value equals torch's; this checks the adapters once.
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    pytest.importorskip("optax")
    entry = catalog.entry(name)
    rng = np.random.default_rng([3, sum(map(ord, name))])
    ex = entry.examples(rng, np.dtype(np.float64), 6, 5)[0]
    as_torch = lambda v: torch.from_numpy(v) if isinstance(v, np.ndarray) else v  # noqa: E731
    expected = entry.torch_function()(*map(as_torch, ex.args), **{k: as_torch(v) for k, v in ex.kwargs.items()})
    as_jax = lambda v: jnp.asarray(v) if isinstance(v, np.ndarray) else v  # noqa: E731
    ex32 = [v.astype(np.float32) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v for v in ex.args]
    value = bench._optax_losses()[name](*map(as_jax, ex32), **{k: as_jax(v) for k, v in ex.kwargs.items()})
    assert_close(np.asarray(value), expected.numpy().astype(np.float32), np.float32, rtol=1e-4)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--losses", "nope_loss"], "--losses: unknown name 'nope_loss'"),
        (["--sizes", "huge"], "--sizes: unknown size 'huge'"),
        (["--frameworks", "torch,mxnet"], "--frameworks: unknown framework 'mxnet'"),
        (["--rounds", "0"], "--rounds must be >= 1, got 0"),
        (["--losses", "kl_div", "--sizes", "small"], "nothing to run: none of kl_div has a size among small"),
    ],
)
def test_bad_arguments_name_the_option(argv, message, capsys):
    with pytest.raises(SystemExit) as err:
        bench.main(argv)
    assert err.value.code == 2
    assert message in capsys.readouterr().err


def test_help_describes_every_option(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--help"])
    text = capsys.readouterr().out
    for option in ("--losses", "--sizes", "--rounds", "--frameworks", "--quick", "--output", "--no-write",
                   "--no-memory", "--min-time", "--torch-threads", "median over rounds of the per-round ratio"):
        assert option in text, option

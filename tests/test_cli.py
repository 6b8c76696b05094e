"""The ``losskit`` command: every subcommand, through ``main`` and through its real entry points.

The entry points (``python -m losskit`` and the ``losskit`` console script) run in subprocesses;
the rest calls ``losskit.cli.main`` in-process, which parses the same arguments. Expected values
come from torch (the oracle), from hand derivations written next to them, or from finite
differences, never from losskit's own output.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from losskit import catalog
from losskit.cli import main, tour

ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def _run(*args: str, code: str | None = None, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "losskit", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=ENV, cwd=cwd)


def _exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


def _png_size(path: pathlib.Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


# --- tour ---------------------------------------------------------------------------------------


def test_tour_prints_every_example(capsys):
    assert main(["tour"]) == 0
    out = capsys.readouterr().out
    for ex in tour.EXAMPLES:
        assert f"\n{ex.name}    [" in out
    assert out.count("  value:    ") == len(tour.EXAMPLES)
    assert out.count("  d/dinput: ") == len(tour.EXAMPLES)


def test_tour_needs_numpy_only():
    # An import hook makes torch unimportable: the tour must neither need nor load it.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'jax', 'matplotlib'): raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from losskit.cli import main\n"
        "main(['tour'])\n"
        "main(['list'])\n"
        "assert 'torch' not in sys.modules and 'matplotlib' not in sys.modules\n"
    )
    result = _run(code=code)
    assert result.returncode == 0, result.stderr
    assert "CrossEntropyLoss" in result.stdout


# --- the entry points and --help ----------------------------------------------------------------


def test_python_dash_m_help_lists_every_subcommand():
    result = _run("--help")
    assert result.returncode == 0, result.stderr
    for command in ("tour", "list", "explain", "plot", "check", "bench"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["tour", "list", "explain", "plot", "check"])
def test_each_subcommand_has_help(command, capsys):
    assert _exit_code([command, "--help"]) == 0
    assert f"usage: losskit {command}" in capsys.readouterr().out


def test_console_script_lists_the_catalog():
    script = shutil.which("losskit", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("losskit")
    if script is None:
        pytest.skip("the losskit console script is not installed (pip install -e .)")
    result = subprocess.run([script, "list"], capture_output=True, text=True, timeout=120, env=ENV)
    assert result.returncode == 0, result.stderr
    assert "smooth_l1_loss" in result.stdout


def test_unknown_subcommand_and_stray_arguments_exit_2(capsys):
    assert _exit_code(["frobnicate"]) == 2
    assert _exit_code(["list", "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


# --- list ---------------------------------------------------------------------------------------


def test_list_shows_every_catalog_entry(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for e in catalog.ENTRIES:
        row = next((line for line in lines if line.split()[:1] == [e.name]), None)
        assert row is not None, f"{e.name} missing from losskit list"
        assert (e.module or "-") in row.split() and e.formula in row


def test_every_entry_says_how_it_stays_exact():
    # `losskit explain` prints it; a new catalog entry needs one
    assert all(len(e.numerics) > 20 for e in catalog.ENTRIES)


def test_list_family_filter_and_a_bad_family(capsys):
    assert main(["list", "--family", "regression"]) == 0
    out = capsys.readouterr().out
    assert "huber_loss" in out and "cross_entropy" not in out
    assert _exit_code(["list", "--family", "astrology"]) == 2
    assert "regression" in capsys.readouterr().err  # the message lists the families


# --- explain ------------------------------------------------------------------------------------


def test_explain_shows_formula_numerics_value_and_gradient(capsys):
    torch = pytest.importorskip("torch")
    assert main(["explain", "SmoothL1Loss"]) == 0  # an nn class name works too
    out = capsys.readouterr().out
    entry = catalog.entry("smooth_l1_loss")
    for text in (entry.formula, "Signature", "Numerics", "d value / d input", "d value / d target"):
        assert text in out
    # the worked example is the catalog's default call on rng 0, (2, 3), float64: torch's value
    ex = entry.examples(np.random.default_rng(0), np.dtype(np.float64), 2, 3)[0]
    expected = entry.torch_function()(*[torch.from_numpy(a) for a in ex.args], **ex.kwargs).item()
    printed = float(out.split("  value")[1].split("=")[1].split()[0])
    assert printed == pytest.approx(expected, rel=1e-5)


def test_explain_runs_on_arrays_from_files(tmp_path, capsys):
    # l1_loss of x = [1, -2] against 0: |1| and |-2| average to 1.5; d/dx = sign(x) / 2.
    np.savez(tmp_path / "batch.npz", input=np.array([1.0, -2.0]), target=np.zeros(2))
    assert main(["explain", "l1_loss", "--inputs", str(tmp_path / "batch.npz")]) == 0
    out = capsys.readouterr().out
    assert "value    = 1.5" in out
    assert "d value / d input = [ 0.5, -0.5]" in out


def test_explain_param_reads_an_npy_array(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    np.save(tmp_path / "w.npy", np.array([0.5, 2.0, 1.0]))
    assert main(["explain", "cross_entropy", "--param", f"weight=@{tmp_path / 'w.npy'}"]) == 0
    out = capsys.readouterr().out
    ex = catalog.entry("cross_entropy").examples(np.random.default_rng(0), np.dtype(np.float64), 2, 3)[0]
    x, t = (torch.from_numpy(a) for a in ex.args)
    expected = torch.nn.functional.cross_entropy(x, t, weight=torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64))
    printed = float(out.split("  value")[1].split("=")[1].split()[0])
    assert printed == pytest.approx(expected.item(), rel=1e-5)


def test_explain_refuses_pickles(tmp_path, capsys):
    np.save(tmp_path / "evil.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert _exit_code(["explain", "cross_entropy", "--param", f"weight=@{tmp_path / 'evil.npy'}"]) == 2
    assert "without unpickling" in capsys.readouterr().err


def test_explain_bad_name_exits_2_with_a_clear_message():
    result = _run("explain", "smooth_l2_loss")
    assert result.returncode == 2
    assert "no loss or function named 'smooth_l2_loss'" in result.stderr and "losskit list" in result.stderr


def test_explain_bad_option_value_names_it(capsys):
    assert _exit_code(["explain", "smooth_l1_loss", "--param", "beta=-1.0"]) == 2
    assert "beta" in capsys.readouterr().err


# --- plot ---------------------------------------------------------------------------------------


def test_plot_writes_a_png_of_the_requested_size(tmp_path):
    out = tmp_path / "sl1.png"
    result = _run("plot", "smooth_l1_loss", "l1_loss", "--param", "beta=0.5", "--param", "beta=2",
                  "--size", "640", "300", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert _png_size(out) == (640, 300)
    # A look at the picture: mostly white, with the first curve's colour (C0, #1f77b4) drawn in
    # both panels, the loss on the left and its gradient on the right.
    from matplotlib.image import imread

    rgb = imread(out)[..., :3]
    assert rgb.shape == (300, 640, 3)
    ink = np.any(rgb < 0.9, axis=-1).mean()
    assert 0.02 < ink < 0.4, f"{ink:.1%} of the pixels are drawn"
    c0 = np.all(np.abs(rgb - np.array([31, 119, 180]) / 255) < 0.08, axis=-1)
    assert c0[:, :320].sum() > 100 and c0[:, 320:].sum() > 100


def test_plot_size_follows_dpi(tmp_path):
    out = tmp_path / "ce.png"
    assert main(["plot", "cross_entropy", "--size", "500", "250", "--dpi", "50", "-o", str(out)]) == 0
    assert _png_size(out) == (500, 250)


def test_plot_writes_svg(tmp_path):
    out = tmp_path / "focal.svg"
    assert main(["plot", "focal_loss", "--param", "gamma=0.5", "--size", "640", "300", "-o", str(out)]) == 0
    root = ET.parse(out).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    # matplotlib writes the size in points: 640 px at 100 dpi is 6.4 in, 460.8 pt
    assert float(root.get("width").removesuffix("pt")) == pytest.approx(460.8)
    assert float(root.get("height").removesuffix("pt")) == pytest.approx(216.0)


def test_plot_param_is_a_literal_never_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    out = tmp_path / "x.png"
    result = _run("plot", "smooth_l1_loss", "--param", f"beta=__import__('os').system('touch {marker}')",
                  "-o", str(out))
    assert result.returncode == 2
    assert "never evaluated" in result.stderr
    assert not marker.exists() and not out.exists()


def test_plot_rejects_a_bad_key_a_bad_value_and_a_bad_suffix(tmp_path, capsys):
    assert _exit_code(["plot", "mse_loss", "--param", "beta=1.0", "-o", str(tmp_path / "a.png")]) == 2
    assert "not a parameter of mse_loss" in capsys.readouterr().err
    assert _exit_code(["plot", "huber_loss", "--param", "delta=0", "-o", str(tmp_path / "b.png")]) == 2
    assert "delta" in capsys.readouterr().err
    assert _exit_code(["plot", "huber_loss", "-o", str(tmp_path / "c.jpeg")]) == 2
    assert ".png" in capsys.readouterr().err
    assert _exit_code(["plot", "huber_loss", "--size", "0", "10", "-o", str(tmp_path / "d.png")]) == 2
    assert _exit_code(["plot", "huber_loss", "--range", "3", "-3", "-o", str(tmp_path / "e.png")]) == 2
    assert "LO must be below HI" in capsys.readouterr().err


def test_plot_has_a_curve_for_every_catalog_entry():
    from losskit.cli import plot

    assert set(plot.CURVES) == {e.name for e in catalog.ENTRIES}


@pytest.mark.parametrize("name", [e.name for e in catalog.ENTRIES])
def test_plotted_gradient_is_the_derivative_of_the_plotted_loss(name):
    # Central differences of the plotted curve itself; points near a kink are skipped.
    from losskit.cli import plot

    curve = plot.CURVES[name]
    lo, hi = curve.lo + 0.01, min(curve.hi, 0.99) if name == "binary_cross_entropy" else curve.hi
    h = 1e-6
    s = plot.series(name, x_range=(lo, hi), points=97)
    up = plot.series(name, x_range=(lo + h, hi + h), points=97).value
    down = plot.series(name, x_range=(lo - h, hi - h), points=97).value
    numeric = (up - down) / (2 * h)
    smooth = np.abs(numeric - s.grad) < 1e-5 * np.maximum(1.0, np.abs(numeric))
    assert smooth.mean() > 0.95, f"{name}: gradient differs from finite differences at {s.x[~smooth]}"
    assert np.all(np.isfinite(s.value)) and np.all(np.isfinite(s.grad))


def test_plotted_values_by_hand():
    from losskit.cli import plot

    # smooth L1 at beta = 2 against target 0: x^2/4 inside |x| < 2, |x| - 1 outside
    s = plot.series("smooth_l1_loss", {"beta": 2.0}, (-3.0, 3.0), points=7)
    np.testing.assert_allclose(s.value, [2.0, 1.0, 0.25, 0.0, 0.25, 1.0, 2.0])
    np.testing.assert_allclose(s.grad, [-1.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0])
    # cross entropy of logits [x, 0, 0], class 0: log(e^x + 2) - x; gradient e^x / (e^x + 2) - 1
    s = plot.series("cross_entropy", x_range=(-1.0, 1.0), points=3)
    e = np.exp([-1.0, 0.0, 1.0])
    np.testing.assert_allclose(s.value, np.log(e + 2) - [-1.0, 0.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(s.grad, e / (e + 2) - 1, rtol=1e-12)


def test_plot_draws_one_curve_per_name_and_value():
    from losskit.cli import plot

    curves = plot.compute(["smooth_l1_loss", "l1_loss", "huber_loss"], {"beta": [0.5, 1.0, 2.0], "delta": [0.5, 3.0]})
    assert [(s.name, s.options) for s in curves] == [
        ("smooth_l1_loss", {"beta": 0.5}), ("smooth_l1_loss", {"beta": 1.0}), ("smooth_l1_loss", {"beta": 2.0}),
        ("l1_loss", {}), ("huber_loss", {"delta": 0.5}), ("huber_loss", {"delta": 3.0}),
    ]


# --- check --------------------------------------------------------------------------------------


def test_check_prints_a_table_of_errors_against_torch():
    pytest.importorskip("torch")
    result = _run("check", "l1_loss", "cross_entropy", "ctc_loss")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for name in ("l1_loss", "cross_entropy", "ctc_loss"):
        row = next(line for line in lines if line.startswith(name + " "))
        cells = row.split()
        assert cells[-1] == "ok"
        errors = [float(c) for c in cells[2:6]]  # float32 value, grad; float64 value, grad
        assert max(errors[:2]) < 1e-5 and max(errors[2:]) < 1e-12
    assert "all 3 entries agree with torch" in result.stdout


def test_check_progress_bar(capsys):
    pytest.importorskip("torch")
    import io

    from losskit.cli import check

    bar = io.StringIO()
    assert check.run(["mse_loss", "softmax"], ("float64",), progress=bar)
    assert "[##############################]   2/2 done" in bar.getvalue()


def test_check_says_how_to_get_torch_when_it_is_absent():
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # makes `import torch` fail\n"
        "from losskit.cli import main\n"
        "sys.exit(main(['check']))\n"
    )
    result = _run(code=code)
    assert result.returncode == 1
    assert "not installed" in result.stderr and "pip install torch==2.13.0" in result.stderr
    assert "Traceback" not in result.stderr


# --- bench --------------------------------------------------------------------------------------


def test_bench_help_is_the_suites_own(capsys):
    import importlib.util

    try:
        code = main(["bench", "--help"])
    except SystemExit as exc:  # the suite's argparse exits after printing its help
        code = exc.code
    assert code in (0, None)
    out = capsys.readouterr().out
    assert "usage: losskit bench" in out
    if importlib.util.find_spec("losskit.bench") is None:
        assert "no losskit.bench module" in out
    else:
        assert "no losskit.bench module" not in out and "--help" in out

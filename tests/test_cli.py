"""The ``losskit`` command: the tour runs on NumPy alone and shows every loss it knows."""

from __future__ import annotations

import subprocess
import sys

from losskit.cli import main, tour


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
        "        if name.split('.')[0] in ('torch', 'jax'): raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from losskit.cli import main\n"
        "main(['tour'])\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "CrossEntropyLoss" in result.stdout


def test_python_dash_m_and_help():
    result = subprocess.run([sys.executable, "-m", "losskit", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "tour" in result.stdout

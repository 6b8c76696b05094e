"""The benchmark suite (same as ``losskit bench``), writing benchmarks/RESULTS.md by default.

    python benchmarks/run.py                                  # the full run, 20-30 minutes
    python benchmarks/run.py --losses cross_entropy mse_loss --sizes realistic --rounds 3
    python benchmarks/run.py --help                           # the method and every option
"""

from __future__ import annotations

import os
import sys

from losskit.bench import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if not any(a == "--output" or a.startswith("--output=") for a in argv):
        argv += ["--output", os.path.relpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md"))]
    sys.exit(main(argv))

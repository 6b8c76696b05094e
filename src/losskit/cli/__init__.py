"""The ``losskit`` command (also ``python -m losskit``)."""

from __future__ import annotations

import argparse
from typing import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="losskit",
        description="Loss functions with PyTorch's semantics, exact numerics and hand-derived gradients.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser(
        "tour",
        help="run every loss on the seed documents' worked examples",
        description="Run every implemented loss on the seed documents' worked examples and print "
        "its formula, inputs, value and gradient. Needs NumPy only.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "tour":
        from . import tour

        tour.run()
        return 0
    parser.print_help()
    return 0

"""The ``losskit`` command (also ``python -m losskit``): tour, list, explain, plot, check, bench.

Each subcommand lives in its own module, imported only when it runs, so that ``losskit list``
never pays for matplotlib or torch. Bad arguments (an unknown loss, a ``--param`` value that is
not a Python literal, an option the loss rejects) exit with status 2 and a one-line message, as
argparse does for its own errors.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from typing import Sequence

from ._args import UsageError

# subcommand -> (module of this package, its function of the parsed arguments)
COMMANDS = {"tour": ("tour", "main"), "list": ("explain", "list_main"), "explain": ("explain", "main"), "plot": ("plot", "main"),
            "check": ("check", "main")}

BENCH_MISSING = (
    "usage: losskit bench [ARGS ...]\n\n"
    "Runs losskit's benchmark suite (the module losskit.bench), passing ARGS through to it.\n"
    "This installation of losskit has no losskit.bench module."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="losskit",
        description="Loss functions with PyTorch's semantics, exact numerics and hand-derived gradients.",
        epilog="`losskit COMMAND --help` describes each command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser(
        "tour",
        help="run every loss on the seed documents' worked examples",
        description="Run every implemented loss on the seed documents' worked examples and print "
        "its formula, inputs, value and gradient. Needs NumPy only.",
    )

    p = sub.add_parser(
        "list",
        help="the catalog: every loss and function, its nn class and formula",
        description="List every loss and function of losskit.functional: name, losskit.nn class, "
        "family and a one-line formula.",
    )
    p.add_argument("--family", help="only this family (regression, binary, classification, ...)")

    p = sub.add_parser(
        "explain",
        help="one loss in full: formula, parameters, numerics, a worked example",
        description="Explain one loss or function: its formula, signature and docstring, how it is "
        "computed stably, and a worked example with its value and gradient (losskit's own backward).",
    )
    p.add_argument("name", metavar="NAME", help="a functional name (smooth_l1_loss) or an nn class (SmoothL1Loss)")
    _param_option(p, "an option of the worked example's call")
    p.add_argument("--inputs", nargs="+", metavar="FILE", default=[],
                   help="run the example on your arrays: each .npy file is the next positional argument; "
                   "a .npz file's arrays are positional in order (arr_0, arr_1, ...) or keyword arguments "
                   "where the key is a parameter name (read with allow_pickle=False)")

    p = sub.add_parser(
        "plot",
        help="draw losses and their gradients against the input (PNG, SVG or PDF)",
        description="Draw the unreduced loss (left) and its gradient (right, losskit's own backward) "
        "against the swept input, the other arguments held fixed (the line under the figure says to "
        "what). Several names, or several values of a --param, give several curves.",
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="functional names or nn classes")
    _param_option(p, "an option of the loss; repeat a KEY for one curve per value (--param beta=0.5 "
                  "--param beta=1); applied to the names that accept it")
    p.add_argument("--range", nargs=2, type=float, metavar=("LO", "HI"), help="the swept input's range (default: the first name's)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="FILE.png, FILE.svg or FILE.pdf")
    p.add_argument("--size", nargs=2, type=_positive_int, default=[960, 400], metavar=("WIDTH", "HEIGHT"),
                   help="in pixels (default 960 400)")
    p.add_argument("--dpi", type=_positive_int, default=100, help="dots per inch (default 100)")
    p.add_argument("--title", help="the figure's title (default: the names)")

    p = sub.add_parser(
        "check",
        help="compare every loss with the installed torch and print the largest errors",
        description="Run the differential suite: every catalog entry, each of its example calls, "
        "in float32 and float64, against torch's function (values and gradients, same inputs, same "
        "random cotangent). Prints a table of the largest normwise relative errors. Needs torch.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="only these entries (default: all)")
    p.add_argument("--dtype", nargs="+", choices=["float32", "float64"], default=["float32", "float64"])
    p.add_argument("--size", nargs=2, type=_positive_int, default=[6, 5], metavar=("N", "C"),
                   help="samples and classes (or features) of the example inputs (default 6 5)")

    sub.add_parser(
        "bench",
        add_help=False,  # --help is the suite's own
        help="run the benchmark suite against torch (arguments pass through; bench --help for its own)",
    )
    return parser


def _param_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help=f"{what}; VALUE is a Python literal (never evaluated) or @FILE.npy / @FILE.npz:KEY")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _bench(argv: list[str]) -> int:
    if importlib.util.find_spec("losskit.bench") is None:
        if any(a in ("-h", "--help") for a in argv):
            print(BENCH_MISSING)
            return 0
        print(BENCH_MISSING.splitlines()[-1], file=sys.stderr)
        return 1
    bench = importlib.import_module("losskit.bench")
    return int(bench.main(argv) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `losskit tour | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        return _bench(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command is None:
        parser.print_help()
        return 0
    module, function = COMMANDS[args.command]
    try:
        return getattr(importlib.import_module(f".{module}", __name__), function)(args)
    except UsageError as exc:
        parser.exit(2, f"losskit {args.command}: error: {exc}\n")

"""Run every accuracy case through losskit and through torch; print the counts of both.

    python tests/accuracy/report.py

Each ``test_*.py`` module of this folder exposes ``cases()``, the list of its Case objects.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
import warnings

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import Counts, run  # noqa: E402


def all_cases() -> list:
    cases = []
    for path in sorted(HERE.glob("test_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases += module.cases()
    return cases


def main() -> None:
    warnings.simplefilter("ignore")  # torch's and losskit's kl_div 'mean' notice, once per case
    totals = {"losskit": {}, "torch": {}}
    for case in all_cases():
        for framework in totals:
            if framework == "torch" and case.torch_skip:
                continue
            per_loss = totals[framework].setdefault(case.loss, Counts())
            try:
                per_loss += run(framework, case)
            except Exception as exc:  # torch raising is a failure of that case, counted as blow-ups
                per_loss += Counts(1, 1, 1, [(f"{type(exc).__name__}", (), 0, 0, 0)])
    print(f"{'loss':34} {'elements':>9} | {'losskit blow-ups':>16} {'inaccurate':>10} | {'torch blow-ups':>14} {'inaccurate':>10}")
    grand = {f: Counts() for f in totals}
    for loss in sorted(totals["losskit"]):
        lk, th = totals["losskit"][loss], totals["torch"].get(loss, Counts())
        grand["losskit"] += lk
        grand["torch"] += th
        print(f"{loss:34} {lk.elements:9d} | {lk.blowups:16d} {lk.inaccurate:10d} | {th.blowups:14d} {th.inaccurate:10d}")
    lk, th = grand["losskit"], grand["torch"]
    print(f"{'all':34} {lk.elements:9d} | {lk.blowups:16d} {lk.inaccurate:10d} | {th.blowups:14d} {th.inaccurate:10d}")


if __name__ == "__main__":
    main()

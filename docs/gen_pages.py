"""Generate the documentation's pages from the code, at build time (the mkdocs-gen-files script).

For every entry of :mod:`losskit.catalog`, one page ``losses/<name>.md``: the hand-written math of
``docs/math/<name>.md`` (definition, reductions, gradient, algorithm, parameters, example), whose
parameter table is completed with the defaults of the function's signature and checked against
it; a figure drawn by :mod:`losskit.cli.plot` (the code behind ``losskit plot``); the rows of
``docs/deviations.md`` that mention the loss; the API rendered by mkdocstrings; and the docstring of
the family's module in ``losskit/losses/``. Also the loss index and navigation, the gallery, and
the accuracy and performance reports included into their guides when they exist.

A page whose math file is missing, or whose parameter table disagrees with the signature, stops
the build (``mkdocs build --strict`` in CI), so the docs cannot drift from the code.
"""

from __future__ import annotations

import importlib
import inspect
import pathlib
import re
from typing import Callable

import mkdocs_gen_files

from losskit import catalog
from losskit import functional as F
from losskit.cli import plot

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
MATH = DOCS / "math"

FAMILIES = {
    "regression": "Regression",
    "binary": "Binary classification",
    "classification": "Classification",
    "probabilistic": "Probabilistic",
    "margin": "Margin",
    "embedding": "Embeddings",
    "ctc": "Sequences (CTC)",
    "focal": "Focal",
    "linear_cross_entropy": "Linear + cross entropy",
    "activations": "Activations",
}

# Parameters that many losses share, described once; a math file may describe them itself.
COMMON_PARAMETERS = {
    "size_average": ("bool or None", "torch's deprecated form of `reduction` (with `reduce`); leave None"),
    "reduce": ("bool or None", "torch's deprecated form of `reduction` (with `size_average`); leave None"),
    "reduction": ("`'none'`, `'mean'`, `'sum'`", "how the unreduced loss is reduced (see *Reductions*)"),
}
# The nn class: its constructor's signature and forward; its docstring is the functional's, above.
NN_OPTIONS = """    options:
      merge_init_into_class: true
      inherited_members: true
      show_docstring_description: false
      show_bases: false
      members: [forward]
"""
HIDDEN_PARAMETERS = {"_stacklevel"}  # torch's private warning-stacklevel argument

GALLERY = [
    ("SmoothL1 against L1, the seed documents' plot",
     ["smooth_l1_loss", "l1_loss"], {"beta": [0.5, 1.0, 2.0]}, None,
     "`beta` is the width of the quadratic zone; the gradient is L1's sign function with the jump "
     "replaced by a ramp of slope `1 / beta`. `beta = 0` is exactly L1."),
    ("L1, SmoothL1, Huber and MSE",
     ["l1_loss", "smooth_l1_loss", "huber_loss", "mse_loss"], {"beta": [2.0], "delta": [2.0]}, None,
     "Huber with `delta` is `delta` times SmoothL1 with `beta = delta`: same kink, the linear part's "
     "slope `delta` instead of 1. MSE's gradient grows without bound, so one outlier dominates it."),
    ("Binary cross entropy against the sigmoid focal loss",
     ["binary_cross_entropy_with_logits", "sigmoid_focal_loss"], {"gamma": [0.5, 2.0, 5.0], "alpha": [-1.0]}, None,
     "`alpha = -1` turns off the class weighting so that the curves compare the focusing term "
     "`(1 - p_t)^gamma` alone: well-classified examples (large logit) contribute almost nothing."),
    ("Cross entropy against the multi-class focal loss",
     ["cross_entropy", "focal_loss"], {"gamma": [0.5, 2.0, 5.0]}, None,
     "The seeds' `FocalLoss`: `(1 - exp(-c))^gamma c` of the cross entropy `c`."),
    ("The margin losses of a score with a positive target",
     ["margin_ranking_loss", "soft_margin_loss", "multi_margin_loss"], {"margin": [1.0], "p": [1, 2]}, (-1.5, 2.5),
     "The hinge `max(0, 1 - x)` (margin ranking with `margin = 1`), its smooth version "
     "`log(1 + exp(-x))` (soft margin; multilabel soft margin with one class is the same curve), and "
     "the multi-class hinge with `p = 1, 2` (two other classes scored 0, the sum divided by the 3 "
     "classes; multilabel margin with one target gives the `p = 1` curve)."),
    ("The hinge embedding loss at several margins",
     ["hinge_embedding_loss"], {"margin": [0.5, 1.0, 2.0]}, None,
     "For a dissimilar pair (`y = -1`) the distance `x` is pushed beyond the margin."),
]


# --- pieces of a loss page ---------------------------------------------------------------------


def _math(entry: catalog.Entry) -> str:
    path = MATH / f"{entry.name}.md"
    if not path.exists():
        raise FileNotFoundError(f"{path.relative_to(ROOT)}: every catalog entry needs its math page")
    return path.read_text(encoding="utf-8")


def _parameters(entry: catalog.Entry, text: str) -> str:
    """The math file's ``## Parameters`` table, with each default from the signature, checked."""
    match = re.search(r"^## Parameters\n\n((?:\|.*\n)+)", text, re.M)
    if not match:
        raise ValueError(f"docs/math/{entry.name}.md: no '## Parameters' table")
    rows = {}
    for line in match.group(1).splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3:
            raise ValueError(f"docs/math/{entry.name}.md: a parameter row needs 3 cells: {line!r}")
        rows[cells[0].strip("`")] = cells[1:]
    signature = inspect.signature(getattr(F, entry.name)).parameters
    names = [p for p in signature if p not in HIDDEN_PARAMETERS]
    unknown = set(rows) - set(names)
    if unknown:
        raise ValueError(f"docs/math/{entry.name}.md describes {sorted(unknown)}, not parameters of {entry.name}")
    table = ["| parameter | shape or type | default | meaning |", "| --- | --- | --- | --- |"]
    for name in names:
        if name not in rows and name not in COMMON_PARAMETERS:
            raise ValueError(f"docs/math/{entry.name}.md: parameter {name!r} of {entry.name} is not described")
        kind, meaning = rows.get(name) or COMMON_PARAMETERS[name]
        default = signature[name].default
        shown = "required" if default is inspect.Parameter.empty else f"`{default!r}`"
        keyword = " (keyword only)" if signature[name].kind is inspect.Parameter.KEYWORD_ONLY else ""
        table.append(f"| `{name}`{keyword} | {kind} | {shown} | {meaning} |")
    return text[: match.start(1)] + "\n".join(table) + "\n" + text[match.end(1):]


def _aliases(entry: catalog.Entry) -> list[str]:
    """The words that name ``entry`` in docs/deviations.md: its name, its class, its short name."""
    names = [entry.name] + ([entry.module] if entry.module else [])
    stem = entry.name.removesuffix("_loss")
    if stem != entry.name and stem != "focal":  # "focal loss" in prose also names the sigmoid one
        names.append(stem)
    return names


def _names(entry: catalog.Entry) -> Callable[[str], bool]:
    """Whether a piece of deviations.md is about ``entry``.

    It is when an alias is a word of its prose ("(l1, mse, huber)"), or a code span that is the
    alias or a call of it with options (`softplus(beta=0)`); not when the alias only appears in a
    formula (`softplus(-x) - softplus(x)` in a row about another loss).
    """
    alias = "|".join(map(re.escape, _aliases(entry)))
    word = re.compile(rf"(?<![\w.])({alias})(?![\w(])")
    span = re.compile(rf"^({alias})(\([\w.]+=.*|\([\d.]+[,)].*)?$", re.S)

    def about(text: str) -> bool:
        prose = re.sub(r"`[^`]*`", " ", text)
        return bool(word.search(prose)) or any(span.match(code) for code in re.findall(r"`([^`]*)`", text))

    return about


def _deviation_rows(entry: catalog.Entry) -> str:
    """The table rows and list items of docs/deviations.md about ``entry``, under their headings.

    A table row is about the entry when its first cell is; a list item when its text is.
    """
    about = _names(entry)
    lines = (DOCS / "deviations.md").read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    heading, header, shown = "", [], None
    for i, line in enumerate(lines):
        if line.startswith("#"):
            heading, header = line.lstrip("#").strip(), []
            continue
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if line.startswith("|") and re.match(r"\|\s*-", following):
            header = [line, following]  # a table starts (a row without one continues the last)
        elif line.startswith("|") and not re.match(r"\|\s*-", line):
            if about(line.split("|")[1]):
                if shown != (heading, tuple(header)):
                    out += ["", f"**{heading}**", ""] + header
                    shown = (heading, tuple(header))
                out.append(line)
        elif line.startswith("- "):
            item = [line] + _continuation(lines, i + 1)
            if about(" ".join(item)):
                if shown is None or shown[0] != heading or shown[1]:
                    out += ["", f"**{heading}**", ""]
                    shown = (heading, ())
                out += item
    return "\n".join(out).strip()


def _continuation(lines: list[str], start: int) -> list[str]:
    out = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        out.append(line)
    return out


def _module_notes(entry: catalog.Entry) -> str:
    module = importlib.import_module(f"losskit.losses.{entry.family}")
    doc = inspect.getdoc(module) or ""
    body = "\n".join("    " + line if line else "" for line in doc.splitlines())
    return (f'??? note "Implementation notes: the docstring of `losskit/losses/{entry.family}.py`"\n\n'
            f"    ```text\n{body}\n    ```\n")


def _figure(entry: catalog.Entry) -> str:
    curve = plot.CURVES[entry.name]
    path = f"losses/figures/{entry.name}.svg"
    with mkdocs_gen_files.open(path, "wb") as f:
        plot.save(plot.figure([entry.name], size=(960, 380)), f, "svg")
    return (f"![{entry.name} and its gradient](figures/{entry.name}.svg)\n\n"
            f"*The unreduced value and its gradient (losskit's own backward) against the swept input "
            f"over [{curve.lo:g}, {curve.hi:g}], float64; held fixed: {curve.fixed}. "
            f"`losskit plot {entry.name} -o {entry.name}.png` draws it; add `--param KEY=VALUE` (repeat "
            f"a key for several curves) and `--range LO HI`.*\n")


def loss_page(entry: catalog.Entry) -> str:
    torch_name = (
        "the seeds' definition (no torch function)" if entry.name == "focal_loss"
        else "`torchvision.ops.sigmoid_focal_loss`" if entry.name == "sigmoid_focal_loss"
        else f"`torch.{entry.torch_name}`" if entry.torch_name
        else f"`torch.nn.functional.{entry.name}`"
    )
    nn = f" · `losskit.nn.{entry.module}`" if entry.module else ""
    rows = _deviation_rows(entry)
    deviations = (
        f"From [the deviations page](../deviations.md), the rows that name this {entry.kind}:\n\n{rows}"
        if rows else
        "None known: values, gradients, shapes, dtypes and errors follow torch 2.13 "
        "(checked by `losskit check` and the test suite)."
    )
    api = f"::: losskit.functional.{entry.name}\n" + (f"\n::: losskit.nn.{entry.module}\n{NN_OPTIONS}" if entry.module else "")
    return "\n".join([
        f"# {entry.name}",
        "",
        f"`losskit.functional.{entry.name}`{nn} · {FAMILIES[entry.family].lower()} {entry.kind} · "
        f"torch oracle: {torch_name}",
        "",
        f"**In one line:** `{entry.formula}`. {entry.numerics}",
        "",
        _parameters(entry, _math(entry)).strip(),
        "",
        "## Figure",
        "",
        _figure(entry),
        "## Differences from torch",
        "",
        deviations,
        "",
        "## API",
        "",
        api,
        _module_notes(entry),
    ])


# --- the whole site ----------------------------------------------------------------------------


def loss_index() -> str:
    rows = ["| name | nn class | family | in one line |", "| --- | --- | --- | --- |"]
    for e in catalog.ENTRIES:
        rows.append(f"| [`{e.name}`]({e.name}.md) | {f'`{e.module}`' if e.module else ''} | "
                    f"{FAMILIES[e.family]} | `{e.formula.replace('|', '&#124;')}` |")
    return "\n".join([
        "# Losses and functions",
        "",
        "Every public function of `losskit.functional`, from `losskit.catalog` (the same table as "
        "`losskit list`). Each page gives the definition, the reductions, the gradient, the "
        "algorithm and why it is stable, every parameter, an example that runs as a test, a figure "
        "drawn at build time, and the differences from torch.",
        "",
        *rows,
        "",
    ])


def summary() -> str:
    lines = ["* [Overview](index.md)"]
    for family, title in FAMILIES.items():
        entries = [e for e in catalog.ENTRIES if e.family == family]
        if entries:
            lines.append(f"* {title}")
            lines += [f"    * [{e.name}]({e.name}.md)" for e in entries]
    return "\n".join(lines) + "\n"


def gallery() -> str:
    parts = [
        "# Gallery",
        "",
        "Loss curves drawn at build time by `losskit.cli.plot`, the code behind `losskit plot`: the "
        "unreduced loss on the left, its gradient (losskit's own backward) on the right. The line "
        "under each figure redraws it.",
        "",
    ]
    for k, (title, names, params, x_range, caption) in enumerate(GALLERY):
        path = f"gallery/figure{k}.svg"
        with mkdocs_gen_files.open(path, "wb") as f:
            plot.save(plot.figure(names, params, x_range, size=(960, 420), title=title), f, "svg")
        options = " ".join(f"--param {key}={v!r}" for key, values in params.items() for v in values)
        span = f" --range {x_range[0]:g} {x_range[1]:g}" if x_range else ""
        command = f"losskit plot {' '.join(names)} {options}{span}".strip() + " -o figure.png"
        parts += [f"## {title}", "", f"![{title}]({path})", "", caption, "", f"`{command}`", ""]
    return "\n".join(parts)


def _demote_headings(markdown: str) -> str:
    """A report's headings one level down, so that they sit below the guide's (code left alone)."""
    out, fence = [], False
    for line in markdown.splitlines():
        fence ^= line.startswith("```")
        out.append("#" + line if not fence and re.match(r"#{1,5} ", line) else line)
    return "\n".join(out)


def include(page: str, marker: str, path: pathlib.Path, missing: str, fenced: bool) -> None:
    """Replace ``marker`` in ``page`` by the file at ``path`` (or by ``missing`` when it is absent)."""
    text = (DOCS / page).read_text(encoding="utf-8")
    if marker not in text:
        raise ValueError(f"docs/{page}: the marker {marker!r} is missing")
    if path.exists():
        body = path.read_text(encoding="utf-8").strip()
        body = f"```text\n{body}\n```" if fenced else _demote_headings(body)
        body = f"*From `{path.relative_to(ROOT)}`:*\n\n{body}"
    else:
        body = f'!!! warning "Not generated yet"\n\n    {missing}'
    with mkdocs_gen_files.open(page, "w") as f:
        f.write(text.replace(marker, body))


def main() -> None:
    for entry in catalog.ENTRIES:
        with mkdocs_gen_files.open(f"losses/{entry.name}.md", "w") as f:
            f.write(loss_page(entry))
        mkdocs_gen_files.set_edit_path(f"losses/{entry.name}.md", f"math/{entry.name}.md")
    with mkdocs_gen_files.open("losses/index.md", "w") as f:
        f.write(loss_index())
    with mkdocs_gen_files.open("losses/SUMMARY.md", "w") as f:
        f.write(summary())
    with mkdocs_gen_files.open("gallery.md", "w") as f:
        f.write(gallery())
    include("guides/accuracy.md", "<!-- accuracy report -->", ROOT / "tests/accuracy/REPORT.txt",
            "Run `python tests/accuracy/report.py > tests/accuracy/REPORT.txt` (torch and mpmath "
            "installed) and rebuild the docs.", fenced=True)
    include("guides/performance.md", "<!-- benchmark results -->", ROOT / "benchmarks/RESULTS.md",
            "Run `python benchmarks/run.py` (about half an hour; it writes `benchmarks/RESULTS.md`) "
            "and rebuild the docs.", fenced=False)


if __name__ == "<run_path>":  # mkdocs-gen-files runs this file with runpy.run_path; tests import it
    main()

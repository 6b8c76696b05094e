"""The documentation: its examples run, every loss has its math page, and the site builds.

The examples of docs/ (``pycon`` blocks as doctests, ``python`` blocks executed, in page order
with one namespace per page) run wherever the libraries they import are installed. The site is
built with ``mkdocs build --strict`` (skipped where mkdocs or its plugins are absent), and the
built pages are checked: one per catalog entry, each with its figure, its math, its example and
the rows of the deviations page that name it.
"""

from __future__ import annotations

import doctest
import importlib.util
import os
import pathlib
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from losskit import catalog

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BLOCK = re.compile(r"^```(pycon|python)\n(.*?)^```$", re.M | re.S)
PAGES = sorted(p for p in DOCS.rglob("*.md") if BLOCK.search(p.read_text(encoding="utf-8")))
OPTIONAL = ("torch", "jax", "dask")


def test_every_catalog_entry_has_a_math_page_and_nothing_else_does():
    assert {p.stem for p in (DOCS / "math").glob("*.md")} == {e.name for e in catalog.ENTRIES}


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_examples_run(page):
    blocks = BLOCK.findall(page.read_text(encoding="utf-8"))
    namespace: dict = {}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for k, (kind, code) in enumerate(blocks):
        for lib in OPTIONAL:
            if re.search(rf"^\s*(>>> )?(import|from) {lib}\b", code, re.M):
                pytest.importorskip(lib)
        name = f"{page.relative_to(ROOT)}[{k}]"
        if kind == "python":
            exec(compile(code, name, "exec"), namespace)  # noqa: S102
            continue
        test = doctest.DocTestParser().get_doctest(code, namespace, name, str(page), 0)
        runner.run(test, clear_globs=False)
        namespace.update(test.globs)  # a DocTest runs in a copy of the namespace
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, f"{failed} of {attempted} examples of {page.relative_to(ROOT)} failed (output above)"


# --- the generator's checks ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def gen_pages():
    pytest.importorskip("mkdocs_gen_files")
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("gen_pages", DOCS / "gen_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines the functions; main() runs only under mkdocs
    return module


def test_a_parameter_table_that_disagrees_with_the_signature_stops_the_build(gen_pages):
    entry = catalog.entry("huber_loss")
    text = (DOCS / "math" / "huber_loss.md").read_text(encoding="utf-8")
    assert "| `delta` |" in gen_pages._parameters(entry, text)  # as written, it passes
    missing = re.sub(r"^\| `delta` .*\n", "", text, flags=re.M)
    with pytest.raises(ValueError, match="'delta' of huber_loss is not described"):
        gen_pages._parameters(entry, missing)
    extra = text.replace("| `weight` |", "| `gamma` | float | made up |\n| `weight` |")
    with pytest.raises(ValueError, match="gamma"):
        gen_pages._parameters(entry, extra)


def test_deviation_rows_are_those_that_name_the_loss(gen_pages):
    rows = gen_pages._deviation_rows(catalog.entry("binary_cross_entropy_with_logits"))
    assert "4.2483541e-18" in rows  # its own row
    assert "`binary_cross_entropy`, gradient" not in rows  # not the probability version's
    focal = gen_pages._deviation_rows(catalog.entry("focal_loss"))
    assert "`focal_loss`" in focal and "torchvision's focal loss does not check" not in focal


# --- the site -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    for plugin in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "mkdocs_gen_files",
                   "mkdocs_literate_nav", "pymdownx", "matplotlib"):
        pytest.importorskip(plugin)
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return out


@pytest.mark.parametrize("entry", catalog.ENTRIES, ids=[e.name for e in catalog.ENTRIES])
def test_site_has_a_page_per_loss_with_its_figure(site, entry):
    page = site / "losses" / entry.name / "index.html"
    assert page.exists(), f"no page for {entry.name}"
    html = page.read_text(encoding="utf-8")
    figure = site / "losses" / "figures" / f"{entry.name}.svg"
    assert f'src="../figures/{entry.name}.svg"' in html
    assert ET.parse(figure).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    for section in ("Definition", "Gradient", "Algorithm and stability", "Parameters", "Example", "Differences from torch"):
        assert f">{section}<" in html, f"{entry.name}: no {section} section"
    assert 'class="arithmatex"' in html  # the math is rendered by MathJax
    assert f'id="losskit.functional.{entry.name}"' in html  # the API, from mkdocstrings


def test_site_has_the_guides_gallery_and_deviations(site):
    for page in ("guides/getting-started", "guides/autograd", "guides/backends", "guides/command",
                 "guides/accuracy", "guides/performance", "deviations", "reference"):
        assert (site / page / "index.html").exists(), page
    gallery = (site / "gallery" / "index.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<img alt="[^"]+" src="figure\d+\.svg"', gallery)) >= 5
    index = (site / "losses" / "index.html").read_text(encoding="utf-8")
    assert all(f"{e.name}/" in index for e in catalog.ENTRIES)


def test_site_figures_are_drawn_by_the_plot_command(site, tmp_path):
    # The docs' figure of a loss is what `losskit plot NAME --size 960 380 -o FILE.svg` writes.
    from losskit.cli import main

    out = tmp_path / "huber_loss.svg"
    assert main(["plot", "huber_loss", "--size", "960", "380", "-o", str(out)]) == 0
    built = (site / "losses" / "figures" / "huber_loss.svg").read_bytes()
    assert out.read_bytes() == built


def test_example_outputs_agree_with_torch():
    # Two of the pages' printed values, recomputed by the oracle.
    torch = pytest.importorskip("torch")
    x = torch.tensor([0.5, 3.0, -1.5], requires_grad=True)
    loss = torch.nn.functional.huber_loss(x, torch.zeros(3))
    loss.backward()
    page = (DOCS / "math" / "huber_loss.md").read_text(encoding="utf-8")
    value = re.search(r">>> loss\ntensor\(([-\d.e]+),", page).group(1)
    grad = re.search(r">>> x.grad\ntensor\(\[([^\]]+)\]\)", page).group(1)
    assert float(value) == pytest.approx(loss.item(), abs=1e-4)
    np.testing.assert_allclose([float(g) for g in grad.split(",")], x.grad.numpy(), atol=1e-4)
    z = torch.tensor(np.log(np.full((3, 1, 3), 1 / 3)))
    ctc = torch.nn.functional.ctc_loss(z, torch.tensor([[1]]), [3], [1])
    assert f"array({ctc.item():.7f})" in (DOCS / "math" / "ctc_loss.md").read_text(encoding="utf-8")

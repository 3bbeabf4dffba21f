"""The book's configuration and the hygiene of every chapter notebook."""
import ast
import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
PARTS = ["Foundations", "Architectures", "Representation learning", "Generative and adversarial models",
         "Understanding networks"]


def toc_files() -> list[str]:
    return [ch["file"] for part in TOC["parts"] for ch in part["chapters"]]


NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
CHAPTERS = [p for p in NOTEBOOKS if re.match(r"\d\d_", p.name)]


def test_config_basics():
    assert CONFIG["title"] == "Deep Learning Extensions"
    assert CONFIG["only_build_toc_files"] is True
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPO_URL)
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["html"]["use_repository_button"] and CONFIG["html"]["use_issues_button"]
    assert CONFIG["execute"]["execute_notebooks"] == "force" and CONFIG["execute"]["timeout"] > 0
    assert CONFIG["sphinx"]["config"]["nb_execution_raise_on_error"] is True


def test_toc_parts_are_the_course_parts_in_order():
    captions = [p["caption"] for p in TOC["parts"]]
    assert [c for c in captions if c in PARTS] == [p for p in PARTS if p in captions]
    assert TOC["root"] == "book/intro"


def test_toc_and_book_folder_agree():
    listed = set(toc_files())
    for nb in NOTEBOOKS:
        assert f"book/{nb.stem}" in listed, f"{nb.name} is not in _toc.yml, so the book would not show it"
    for f in listed:
        assert any((ROOT / f).with_suffix(s).exists() for s in (".ipynb", ".md")), f"_toc.yml lists missing {f}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} has stored outputs"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_the_colab_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = code[0]
    assert {"remove-cell", "colab-setup"} <= set(first.metadata.get("tags", [])), \
        f"{path.name}: the first code cell must be the Colab setup cell, tagged remove-cell and colab-setup"
    assert 'if "google.colab" in sys.modules:' in first.source  # a no-op outside Colab
    urls = re.findall(r"git\+(https://[^@\"]+)@main", first.source)
    assert urls == [REPO_URL], f"{path.name} installs dlext from {urls}, but _config.yml names {REPO_URL}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_setup_seeds_and_picks_the_device_once(path):
    nb = nbformat.read(path, as_version=4)
    setup = [c for c in nb.cells if "setup" in c.metadata.get("tags", [])]
    assert len(setup) == 1, f"{path.name} needs exactly one cell tagged 'setup'"
    assert "dlext.seed(" in setup[0].source and "dlext.device()" in setup[0].source
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    assert sum(s.count("dlext.device()") for s in sources) == 1, f"{path.name} picks the device more than once"
    for s in sources:
        assert "import *" not in s and "MPLBACKEND" not in s


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_code_parses_and_asserts_its_claims(path):
    nb = nbformat.read(path, as_version=4)
    n_asserts = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            tree = ast.parse(cell.source)  # also catches a cell that is not valid Python
            n_asserts += sum(isinstance(n, ast.Assert) for n in ast.walk(tree))
            n_asserts += cell.source.count("assert_close(")
    assert n_asserts >= 3, f"{path.name} asserts only {n_asserts} claims"
    assert any("metrics.record(" in c.source for c in nb.cells), f"{path.name} records no metric"

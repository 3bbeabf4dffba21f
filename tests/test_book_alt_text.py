"""Every figure a chapter draws has alt text in its cell's metadata that says what the figure shows.

myst-nb gives an image output the alt text of its cell's `"mystnb": {"image": {"alt": ...}}` metadata; without
it, the built page's <img> has its file path (`../_images/<hash>.png`) as alt text, which a screen reader
reads out. This check runs on the notebooks, before any build; tests/test_book_a11y.py checks the alt text of
every image of the built pages (and of the demos' frames, which dlext.interactive.explore describes itself).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))

IMAGE_PATH = re.compile(r"(^|[/\\])[\w.-]+\.(png|jpe?g|svg|gif|webp)\b|_images/|^data:", re.I)
HASH = re.compile(r"\b[0-9a-f]{16,}\b", re.I)
GENERIC = re.compile(r"^\s*(image|figure|plot|picture|graph|output|png|interactive figure.*move the sliders?)\W*$",
                     re.I)
MIN_WORDS = 4


def alt_problem(alt: str | None) -> str | None:
    """Why an alt text does not say what an image shows (None when it is fine)."""
    if alt is None or not str(alt).strip():
        return "no alt text"
    if IMAGE_PATH.search(alt):
        return f"a file path, not a description: {alt!r}"
    if HASH.search(alt):
        return f"a hash, not a description: {alt!r}"
    if GENERIC.match(alt) or len(alt.split()) < MIN_WORDS:
        return f"too generic to say what the image shows: {alt!r}"
    return None


def test_the_alt_text_check_refuses_paths_hashes_and_nothing():
    for bad in (None, "", "  ", "../_images/3f5a2c9be1d04e7aa0f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3.png",
                "3f5a2c9be1d04e7aa0f1c2d3e4f5a6b7", "_images/figure.png", "interactive figure: move the sliders",
                "Figure", "A plot"):
        assert alt_problem(bad), bad
    assert alt_problem("Training loss against epoch for SGD and Adam.") is None


# A figure drawn at the top level of a cell (plotting inside a `def` only draws when the function is called,
# e.g. by interactive.explore, whose frames carry their own alt text).
DRAWS = re.compile(r"^(plt\.(subplots?|figure|show|imshow|plot)|.*\bplt\.subplots?\()")


def draws_a_figure(source: str) -> bool:
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return True
    top = [node for node in tree.body if not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
    return any(isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "plt"
               and n.attr in ("subplots", "subplot", "figure", "show", "imshow", "plot")
               for stmt in top for n in ast.walk(stmt))


def test_the_figure_detector_sees_top_level_plots_only():
    assert draws_a_figure("fig, ax = plt.subplots()\nax.plot(x)\nplt.show()")
    assert draws_a_figure("for k in range(3):\n    fig, ax = plt.subplots()")
    assert not draws_a_figure("def draw(a):\n    fig, ax = plt.subplots()\n    return fig\n\nexplore(draw, a=[1])")


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_drawn_figure_has_alt_text_in_its_cell_metadata(path):
    nb = nbformat.read(path, as_version=4)
    problems = []
    for cell in nb.cells:
        if cell.cell_type != "code" or {"remove-cell", "remove-output"} & set(cell.metadata.get("tags", [])):
            continue
        alt = (cell.metadata.get("mystnb") or {}).get("image", {}).get("alt")
        if draws_a_figure(cell.source) or alt is not None:
            why = alt_problem(alt)
            if why:
                problems.append(f"cell {cell.get('id')}: {why}; add {{\"mystnb\": {{\"image\": {{\"alt\": "
                                f"\"what the figure shows\"}}}}}} to its metadata")
    assert not problems, f"{path.name}:\n- " + "\n- ".join(problems)

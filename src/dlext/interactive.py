"""Demos and quizzes that work in a kernel (Jupyter, Colab) and in the built book, where there is none.

``explore(draw, lr=[...], steps=[...])`` shows live ipywidgets sliders in a kernel. When the book is built
(the build sets ``DLEXT_STATIC_DEMOS=1``), it instead draws every combination of the grid once and
writes a kernel-free demo: the frames as compressed PNG images, switched by HTML range inputs with a few
lines of JavaScript, so the online page still responds. ``quiz(name)`` shows a chapter's multiple-choice
and numeric questions (kept as JSON in ``dlext/quizzes/``) with jupyterquiz, which works in both places.
"""
from __future__ import annotations

import base64
import html
import io
import itertools
import json
import os
import zlib
from importlib import resources
from typing import Any, Callable, Sequence

__all__ = ["explore", "static_demos", "quiz", "load_quiz", "MAX_DEMO_BYTES", "MAX_FRAMES"]

STATIC_ENV = "DLEXT_STATIC_DEMOS"  # "1" while the book is built: demos are written out as frames
MAX_FRAMES = 64  # combinations one static demo may precompute
MAX_DEMO_BYTES = 1_000_000  # the frames of one demo; a page stays under 2 MB with two demos
_counter = itertools.count()


def static_demos() -> bool:
    """True when demos should be written out as frames (the book build) instead of live widgets."""
    return os.environ.get(STATIC_ENV, "") == "1"


def _check_grids(grids: dict[str, Sequence]) -> dict[str, list]:
    if not grids:
        raise ValueError("explore needs at least one parameter grid, e.g. explore(draw, lr=[0.01, 0.1, 1.0])")
    checked = {}
    for name, values in grids.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"the grid for {name!r} must be a list of values, got {type(values).__name__}")
        values = list(values)
        if not values:
            raise ValueError(f"the grid for {name!r} is empty")
        if len({repr(v) for v in values}) != len(values):
            raise ValueError(f"the grid for {name!r} repeats a value: {values}")
        checked[name] = values
    n = 1
    for values in checked.values():
        n *= len(values)
    if n > MAX_FRAMES:
        raise ValueError(f"the grids give {n} combinations; a demo precomputes at most {MAX_FRAMES} for the "
                         f"online book: use fewer values")
    return checked


def _png(fig, dpi: int) -> bytes:
    """The figure as an 8-bit palette PNG (about 3x smaller than matplotlib's RGBA for line plots)."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB").quantize(colors=128)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _figure_of(draw: Callable[..., Any], params: dict):
    import matplotlib.figure

    fig = draw(**params)
    if not isinstance(fig, matplotlib.figure.Figure):
        raise TypeError(f"draw(**{params}) must return the matplotlib Figure it drew, got {type(fig).__name__}")
    return fig


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _static_html(draw: Callable[..., Any], grids: dict[str, list], initial: dict, dpi: int,
                 max_bytes: int) -> str:
    import matplotlib.pyplot as plt

    names = list(grids)
    frames, total = [], 0
    for combo in itertools.product(*grids.values()):
        fig = _figure_of(draw, dict(zip(names, combo)))
        data = _png(fig, dpi)
        plt.close(fig)
        frames.append("data:image/png;base64," + base64.b64encode(data).decode())
        total += len(frames[-1])  # the page holds base64 data URLs, 4/3 of the PNG bytes
        if total > max_bytes:
            raise ValueError(f"the demo's frames exceed {max_bytes:,} bytes of page (as base64) after {len(frames)} "
                             f"of {len(list(itertools.product(*grids.values())))}: use a smaller grid, a smaller "
                             f"figure or a lower dpi (now {dpi})")
    uid = f"dlext-demo-{next(_counter)}-{zlib.crc32('|'.join(names).encode()):08x}"
    start = [grids[n].index(initial[n]) for n in names]
    strides = [1] * len(names)  # itertools.product varies the last parameter fastest
    for k in range(len(names) - 2, -1, -1):
        strides[k] = strides[k + 1] * len(grids[names[k + 1]])
    first = sum(i * s for i, s in zip(start, strides))
    controls = "".join(
        f'<label style="display:block;font-family:sans-serif;font-size:0.9em">{html.escape(n)} '
        f'<input type="range" min="0" max="{len(grids[n]) - 1}" step="1" value="{start[k]}" data-param="{k}" '
        f'aria-label="{html.escape(n)}" style="vertical-align:middle;width:14em"> '
        f'<output>{html.escape(_label(grids[n][start[k]]))}</output></label>'
        for k, n in enumerate(names))
    labels = [[_label(v) for v in grids[n]] for n in names]
    script = (
        "(function () {\n"
        f"  var root = document.getElementById({json.dumps(uid)});\n"
        f"  var frames = {json.dumps(frames)};\n"
        f"  var strides = {json.dumps(strides)}, labels = {json.dumps(labels)};\n"
        "  var inputs = root.querySelectorAll('input[type=range]'), img = root.querySelector('img');\n"
        "  function update() {\n"
        "    var index = 0;\n"
        "    inputs.forEach(function (input, k) {\n"
        "      index += Number(input.value) * strides[k];\n"
        "      input.nextElementSibling.textContent = labels[k][Number(input.value)];\n"
        "    });\n"
        "    img.src = frames[index];\n"
        "  }\n"
        "  inputs.forEach(function (input) { input.addEventListener('input', update); });\n"
        "})();\n")
    page = (f'<div class="dlext-demo" id="{uid}" data-frames="{len(frames)}">{controls}'
            f'<img src="{frames[first]}" alt="interactive figure: move the sliders" style="max-width:100%"/>'
            f"<script>{script}</script></div>")
    size = len(page.encode())  # what goes in the page: every frame in the script, the first one again in <img>
    if size > max_bytes:
        raise ValueError(f"the demo puts {size:,} bytes in the page (its frames as base64, the first one twice), "
                         f"over max_bytes {max_bytes:,}: use a smaller grid, a smaller figure or a lower dpi (now {dpi})")
    return page


def explore(draw: Callable[..., Any], *, initial: dict | None = None, static: bool | None = None,
            dpi: int = 72, max_bytes: int = MAX_DEMO_BYTES, **grids: Sequence) -> Any:
    """Show ``draw(**params)`` (which returns a matplotlib Figure) with a slider per parameter grid.

    In a kernel: live ipywidgets (ipywidgets 7.7 and 8). In the book build (``static_demos()``, or
    ``static=True``): every combination drawn once, switched by HTML sliders without a kernel. Returns
    the ipywidgets ``interactive`` (live) or the demo's HTML string (static).
    """
    if not callable(draw):
        raise TypeError(f"draw must be a function returning a matplotlib Figure, got {type(draw).__name__}")
    for name, value in (("dpi", dpi), ("max_bytes", max_bytes)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be a positive int, got {type(value).__name__} {value!r}")
        if value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if static is not None and not isinstance(static, bool):
        raise TypeError(f"static must be True, False or None (decide from the environment), got "
                        f"{type(static).__name__} {static!r}")
    if initial is not None and not isinstance(initial, dict):
        raise TypeError(f"initial must be a dict of parameter -> value or None, got {type(initial).__name__}")
    grids = _check_grids(grids)
    initial = dict(initial or {})
    for name, value in initial.items():
        if name not in grids:
            raise ValueError(f"initial names {name!r}, which is not one of the grids {list(grids)}")
        if value not in grids[name]:
            raise ValueError(f"initial value {value!r} for {name!r} is not in its grid {grids[name]}")
    initial = {n: initial.get(n, values[0]) for n, values in grids.items()}
    from IPython.display import HTML, display

    if static if static is not None else static_demos():
        page = _static_html(draw, grids, initial, dpi, max_bytes)
        display(HTML(page))
        return page
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(**params):
        fig = _figure_of(draw, params)
        display(fig)
        plt.close(fig)

    controls = {}
    for name, values in grids.items():
        if all(isinstance(v, str) for v in values):
            controls[name] = widgets.Dropdown(options=values, value=initial[name], description=name)
        else:
            controls[name] = widgets.SelectionSlider(options=[(_label(v), v) for v in values], value=initial[name],
                                                     description=name, continuous_update=False)
    demo = widgets.interactive(show, **controls)
    display(demo)
    return demo


def load_quiz(name: str) -> list[dict]:
    """A chapter's questions from ``dlext/quizzes/<name>.json``, checked: every wrong answer explains itself."""
    if not isinstance(name, str):
        raise TypeError(f"quiz name must be a str, a chapter topic such as 'kl_divergence', got {type(name).__name__} {name!r}")
    if not name.replace("_", "").isalnum():
        raise ValueError(f"quiz name must be a chapter topic such as 'kl_divergence', got {name!r}")
    path = resources.files("dlext") / "quizzes" / f"{name}.json"
    if not path.is_file():
        available = sorted(p.name[:-5] for p in (resources.files("dlext") / "quizzes").iterdir()
                           if p.name.endswith(".json"))
        raise ValueError(f"no quiz named {name!r}; there are: {available}")
    questions = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(questions, list) or not questions:
        raise ValueError(f"quiz {name!r} must be a non-empty list of questions")
    for i, q in enumerate(questions, 1):
        where = f"quiz {name!r}, question {i}"
        if q.get("type") not in ("multiple_choice", "numeric") or not q.get("question"):
            raise ValueError(f"{where}: needs a 'question' and a type 'multiple_choice' or 'numeric'")
        answers = q.get("answers") or []
        if q["type"] == "multiple_choice":
            if sum(bool(a.get("correct")) for a in answers) != 1 or len(answers) < 3:
                raise ValueError(f"{where}: needs at least 3 answers, exactly one correct")
            missing = [a.get("answer") for a in answers if not a.get("feedback")]
        else:
            if not any(a.get("correct") for a in answers):
                raise ValueError(f"{where}: no correct value or range")
            missing = [] if any(a.get("type") == "default" and a.get("feedback") for a in answers) else ["default"]
            missing += [a.get("value", a.get("range")) for a in answers if not a.get("feedback")]
        if missing:
            raise ValueError(f"{where}: every answer needs a 'feedback' explanation; missing for {missing}")
    return questions


def quiz(name: str) -> None:
    """Show a chapter's end-of-chapter quiz (jupyterquiz: works in Jupyter, Colab and the static book)."""
    questions = load_quiz(name)  # checks the name before the import
    from jupyterquiz import display_quiz

    display_quiz(questions, shuffle_answers=False)

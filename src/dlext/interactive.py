"""Demos and quizzes that work in a kernel (Jupyter, Colab) and in the built book, where there is none.

``explore(draw, lr=[...], steps=[...])`` shows live ipywidgets sliders in a kernel. When the book is built
(the build sets ``DLEXT_STATIC_DEMOS=1``), it instead draws every combination of the grid once and
writes a kernel-free demo: the frames as compressed PNG images, switched by HTML range inputs with a few
lines of JavaScript, so the online page still responds. ``quiz(name)`` shows a chapter's multiple-choice
and numeric questions (kept as JSON in ``dlext/quizzes/``) with jupyterquiz, which works in both places.
"""
from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
import re
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


def _describe(fig) -> str:
    """What a figure shows, from its own words: the title, and each panel's title and axis labels."""
    parts = []
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text().strip():
        parts.append(suptitle.get_text().strip())
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison and not ax.get_title() and not ax.images:
            continue
        title = " ".join(ax.get_title(loc).strip() for loc in ("left", "center", "right") if ax.get_title(loc).strip())
        x, y = ax.get_xlabel().strip(), ax.get_ylabel().strip()
        what = f"{y} against {x}" if x and y else (f"an image" if ax.images else "")
        parts.append(": ".join(p for p in (title, what) if p))
    return "; ".join(p for p in parts if p)


def _alt_text(draw: Callable[..., Any], fig, params: dict) -> str:
    """A frame's alt text: what the figure shows (its titles and axis labels, or draw's docstring) and which
    slider values it is drawn for, so a screen reader says what moving a slider changed."""
    described = _describe(fig)
    doc = (getattr(draw, "__doc__", None) or "").strip().splitlines()
    what = (described or (doc[0].strip() if doc else "")).rstrip(".")
    setting = ", ".join(f"{n} = {_label(v)}" for n, v in params.items())
    names = " and ".join(params) if len(params) <= 2 else ", ".join(params)
    sliders = f"the slider{'s' if len(params) > 1 else ''} for {names} redraw{'' if len(params) > 1 else 's'} it"
    return f"{what}. Drawn for {setting}; {sliders}." if what else f"Figure drawn for {setting}; {sliders}."


def _static_html(draw: Callable[..., Any], grids: dict[str, list], initial: dict, dpi: int,
                 max_bytes: int) -> str:
    import matplotlib.pyplot as plt

    names = list(grids)
    frames, alts, total = [], [], 0
    for combo in itertools.product(*grids.values()):
        params = dict(zip(names, combo))
        fig = _figure_of(draw, params)
        alts.append(_alt_text(draw, fig, params))
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
    alts_js = json.dumps(alts).replace("</", "<\\/")  # a title holding "</script>" cannot end the script
    script = (
        "(function () {\n"
        f"  var root = document.getElementById({json.dumps(uid)});\n"
        f"  var frames = {json.dumps(frames)};\n"
        f"  var alts = {alts_js};\n"
        f"  var strides = {json.dumps(strides)}, labels = {json.dumps(labels)};\n"
        "  var inputs = root.querySelectorAll('input[type=range]'), img = root.querySelector('img');\n"
        "  function update() {\n"
        "    var index = 0;\n"
        "    inputs.forEach(function (input, k) {\n"
        "      index += Number(input.value) * strides[k];\n"
        "      input.nextElementSibling.textContent = labels[k][Number(input.value)];\n"
        "    });\n"
        "    img.src = frames[index];\n"
        "    img.alt = alts[index];\n"
        "  }\n"
        "  inputs.forEach(function (input) { input.addEventListener('input', update); });\n"
        "})();\n")
    page = (f'<div class="dlext-demo" id="{uid}" data-frames="{len(frames)}">{controls}'
            f'<img src="{frames[first]}" alt="{html.escape(alts[first])}" style="max-width:100%"/>'
            f"<script>{script}</script></div>")
    size = len(page.encode())  # what goes in the page: every frame in the script, the first one again in <img>
    if size > max_bytes:
        raise ValueError(f"the demo puts {size:,} bytes in the page (its frames as base64, the first one twice), "
                         f"over max_bytes {max_bytes:,}: use a smaller grid, a smaller figure or a lower dpi (now {dpi})")
    return page


class StaticDemo:
    """A kernel-free demo: its HTML (``.html``); Jupyter displays it as the demo itself, never as text."""

    def __init__(self, page: str):
        self.html = page

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:  # what a plain Python console prints; no half-megabyte of base64
        found = re.search(r'data-frames="(\d+)"', self.html)  # the first frame is in the page twice: count it once
        frames = found.group(1) if found else "no"
        return f"<StaticDemo: {frames} frames, {len(self.html):,} characters of HTML>"


def explore(draw: Callable[..., Any], *, initial: dict | None = None, static: bool | None = None,
            dpi: int = 72, max_bytes: int = MAX_DEMO_BYTES, show: bool = True, **grids: Sequence) -> Any:
    """Show ``draw(**params)`` (which returns a matplotlib Figure) with a slider per parameter grid.

    In a kernel: live ipywidgets (ipywidgets 7.7 and 8). In the book build (``static_demos()``, or
    ``static=True``): every combination drawn once, switched by HTML sliders without a kernel; each frame's
    alt text says what it shows (the figure's titles and axis labels) and for which slider values.
    Displays the demo and returns None, so a cell that ends with ``explore(...)`` shows the demo once and
    prints nothing. With ``show=False`` it displays nothing and returns the demo: the ipywidgets
    ``interactive`` (live) or a ``StaticDemo`` (static), each of which Jupyter displays as the demo.
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
    if not isinstance(show, bool):
        raise TypeError(f"show must be True or False, got {type(show).__name__}")
    grids = _check_grids(grids)
    initial = dict(initial or {})
    for name, value in initial.items():
        if name not in grids:
            raise ValueError(f"initial names {name!r}, which is not one of the grids {list(grids)}")
        if value not in grids[name]:
            raise ValueError(f"initial value {value!r} for {name!r} is not in its grid {grids[name]}")
    initial = {n: initial.get(n, values[0]) for n, values in grids.items()}
    from IPython.display import display

    if static if static is not None else static_demos():
        demo: Any = StaticDemo(_static_html(draw, grids, initial, dpi, max_bytes))
    else:
        import ipywidgets as widgets
        import matplotlib.pyplot as plt

        def draw_and_show(**params):
            fig = _figure_of(draw, params)
            display(fig)
            plt.close(fig)

        controls = {}
        for name, values in grids.items():
            if all(isinstance(v, str) for v in values):
                controls[name] = widgets.Dropdown(options=values, value=initial[name], description=name)
            else:
                controls[name] = widgets.SelectionSlider(options=[(_label(v), v) for v in values],
                                                         value=initial[name], description=name,
                                                         continuous_update=False)
        demo = widgets.interactive(draw_and_show, **controls)
    if not show:
        return demo
    display(demo)
    return None


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*(?::([^{}|]*))?(?:\|\s*(floor|ceil)\s*)?\}\}")


def _fill(text: str, values: dict, where: str) -> str:
    """``text`` with every ``{{name:fmt}}`` replaced by ``format(values[name], fmt)``.

    A bound is rounded towards itself, as ``book.glue(..., bound=)`` does in the prose: ``{{name:.3f|floor}}``
    after "at least", ``{{name:.3f|ceil}}`` after "at most" (0.99996 shows as 0.999, never as 1.000).
    """
    def one(match):
        key, fmt, rounding = match.group(1), match.group(2) or "", match.group(3)
        if key not in values:
            raise ValueError(f"{where} quotes {{{{{key}}}}}, but the chapter passed no value for it "
                             f"(values has {sorted(values)})")
        value = values[key]
        if rounding:
            from dlext.book import _round_towards
            digits = re.fullmatch(r"\.(\d+)([f%])", fmt)
            if not digits:
                raise ValueError(f"{where}: {{{{{key}:{fmt}|{rounding}}}}} needs a fixed-point format such as .3f or .1%")
            shift = 2 if digits.group(2) == "%" else 0
            value = _round_towards(key, float(value), "lower" if rounding == "floor" else "upper",
                                   int(digits.group(1)) + shift)
        try:
            return format(value, fmt)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: cannot format {key}={values[key]!r} with {fmt!r}: {err}") from None
    return _PLACEHOLDER.sub(one, text)


def _fill_question(q: dict, values: dict, where: str) -> dict:
    """A copy of question ``q`` with its measured numbers filled in from ``values``."""
    def walk(obj, path):
        if isinstance(obj, str):
            whole = _PLACEHOLDER.fullmatch(obj.strip())
            if path.endswith(("value", "range")) and whole:  # a numeric answer's key: the number itself
                key = whole.group(1)
                if key not in values:
                    raise ValueError(f"{where} answer quotes {{{{{key}}}}}, but the chapter passed no value for it")
                return float(values[key])
            return _fill(obj, values, where)
        if isinstance(obj, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, dict):
            return {k: walk(v, f"{path}.{k}") for k, v in obj.items()}
        return obj
    return walk(q, "")


def placeholders(name: str) -> set[str]:
    """The names a chapter's quiz quotes as ``{{name:fmt}}``: the values its ``quiz`` call must pass."""
    path = _quiz_path(name)
    return set(m.group(1) for m in _PLACEHOLDER.finditer(path.read_text(encoding="utf-8")))


def _quiz_path(name: str):
    if not isinstance(name, str):
        raise TypeError(f"quiz name must be a str, a chapter topic such as 'kl_divergence', got {type(name).__name__}")
    if not name.replace("_", "").isalnum():
        raise ValueError(f"quiz name must be a chapter topic such as 'kl_divergence', got {name!r}")
    path = resources.files("dlext") / "quizzes" / f"{name}.json"
    if not path.is_file():
        available = sorted(p.name[:-5] for p in (resources.files("dlext") / "quizzes").iterdir()
                           if p.name.endswith(".json"))
        raise ValueError(f"no quiz named {name!r}; there are: {available}")
    return path


def load_quiz(name: str, values: dict | None = None) -> list[dict]:
    """A chapter's questions from ``dlext/quizzes/<name>.json``, checked: every wrong answer explains itself.

    A number that the chapter measures is never typed in a quiz: the JSON quotes it as
    ``{{name:fmt}}`` (e.g. ``{{vae_kl:.0f}}``), and ``values`` (name -> the chapter's computed value)
    fills it in. A numeric answer may be the bare placeholder ``"{{name}}"``.
    """
    path = _quiz_path(name)
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise TypeError(f"quiz values must be a dict of name -> computed value, got {type(values).__name__}")
    questions = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(questions, list) or not questions:
        raise ValueError(f"quiz {name!r} must be a non-empty list of questions")
    questions = [_fill_question(q, values, f"quiz {name!r}, question {i}") for i, q in enumerate(questions, 1)]
    for i, q in enumerate(questions, 1):
        where = f"quiz {name!r}, question {i}"
        if q.get("type") not in ("multiple_choice", "numeric") or not q.get("question"):
            raise ValueError(f"{where}: needs a 'question' and a type 'multiple_choice' or 'numeric'")
        answers = q.get("answers") or []
        if q["type"] == "numeric" and "precision" in q and not (
                isinstance(q["precision"], int) and not isinstance(q["precision"], bool) and q["precision"] >= 1):
            raise ValueError(f"{where}: 'precision' is the number of significant digits the browser rounds an answer to, "
                             f"a whole number of at least 1 (jupyterquiz passes it to toPrecision, which throws on 0), "
                             f"got {q['precision']!r}; leave it out to compare exact values")
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
        if q["type"] == "multiple_choice":
            # The JSON files list the right answer first. Show the answers in an order fixed by their text instead
            # (the same on every build, in every kernel), so that "always pick the first" is no strategy.
            q["answers"] = sorted(answers, key=lambda a: hashlib.sha256(
                (q["question"] + "\0" + str(a.get("answer"))).encode("utf-8")).hexdigest())
    return questions


def quiz(name: str, values: dict | None = None) -> None:
    """Show a chapter's end-of-chapter quiz (jupyterquiz: works in Jupyter, Colab and the static book).

    ``values`` fills the quiz's ``{{name:fmt}}`` placeholders with the numbers this run measured.
    """
    questions = load_quiz(name, values)  # checks the name and values before the import
    from IPython.display import display
    from IPython.utils.capture import capture_output
    from jupyterquiz import display_quiz

    with capture_output(stdout=False, stderr=False, display=True) as shown:
        display_quiz(questions, shuffle_answers=False)
    for output in shown.outputs:  # shown again, the quiz's script made safe for a page where MathJax is still loading
        data = dict(output.data)
        if "application/javascript" in data:
            data["application/javascript"] = _guard_mathjax_version(data["application/javascript"])
        display(data, raw=True, metadata=output.metadata)


def _guard_mathjax_version(script: str) -> str:
    """jupyterquiz's script with ``MathJax.version`` read as ``''`` while it is undefined.

    The script typesets the quiz 500 ms after it runs and reads ``MathJax.version[0]`` then. In the built book
    MathJax is a deferred script: until it has run, ``window.MathJax`` is the configuration object, which has no
    version, and on a slow machine the script threw a TypeError ("Cannot read properties of undefined (reading
    '0')") into the console. With ``''`` it skips its own typesetting; MathJax typesets the whole page, quiz
    included, when it starts. A script without the pattern (another jupyterquiz version) is returned unchanged.
    """
    return script.replace("var version = MathJax.version;", "var version = MathJax.version || '';")

"""dlext.interactive: live and kernel-free demos, and the chapters' quizzes."""
import base64
import json
import re
from importlib import resources

import ipywidgets
import matplotlib
import matplotlib.pyplot as plt
import pytest

from dlext import interactive

matplotlib.use("Agg")


def _draw(a, b="x"):
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [0, a])
    ax.set_title(f"{a} {b}")
    return fig


def test_static_demo_holds_one_distinct_frame_per_combination_in_product_order():
    page = interactive.explore(_draw, static=True, a=[0.5, 1.0, 2.0], b=["x", "y"], initial={"a": 1.0, "b": "y"})
    frames = json.loads(re.search(r"var frames = (\[.*?\]);", page).group(1))
    assert len(frames) == 6 and len(set(frames)) == 6  # every combination drawn, each different
    strides = json.loads(re.search(r"var strides = (\[.*?\])", page).group(1))
    assert strides == [2, 1]  # the last parameter varies fastest, as in itertools.product
    # the image shown first is the initial combination: a = 1.0 (index 1), b = "y" (index 1) -> frame 3
    assert re.search(r'<img src="([^"]+)"', page).group(1) == frames[3]
    assert page.count('type="range"') == 2 and 'value="1"' in page
    assert all(base64.b64decode(f.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n" for f in frames)


def test_static_demo_respects_its_byte_budget_and_frame_limit():
    with pytest.raises(ValueError, match="exceed 2,000 bytes"):
        interactive.explore(_draw, static=True, max_bytes=2000, a=[1.0, 2.0])
    with pytest.raises(ValueError, match="at most 64"):
        interactive.explore(_draw, static=True, a=list(range(9)), b=[str(i) for i in range(8)])


def test_the_book_build_switches_demos_to_static(monkeypatch):
    monkeypatch.setenv("DLEXT_STATIC_DEMOS", "1")
    assert isinstance(interactive.explore(_draw, a=[1.0, 2.0]), str)
    monkeypatch.delenv("DLEXT_STATIC_DEMOS")
    demo = interactive.explore(_draw, a=[1.0, 2.0], b=["x", "y"])
    assert isinstance(demo, ipywidgets.interactive)
    sliders = {w.description: w for w in demo.children if hasattr(w, "description")}
    assert isinstance(sliders["a"], ipywidgets.SelectionSlider) and isinstance(sliders["b"], ipywidgets.Dropdown)
    assert sliders["a"].value == 1.0 and sliders["a"].continuous_update is False


@pytest.mark.parametrize("kwargs, error, match", [
    ({}, ValueError, "at least one parameter grid"),
    ({"a": []}, ValueError, "empty"),
    ({"a": 3}, TypeError, "list of values"),
    ({"a": "abc"}, TypeError, "list of values"),
    ({"a": [1, 1]}, ValueError, "repeats"),
    ({"a": [1, 2], "initial": {"a": 3}}, ValueError, "not in its grid"),
    ({"a": [1, 2], "initial": {"c": 1}}, ValueError, "not one of the grids"),
    ({"a": [1, 2], "dpi": 0}, ValueError, "dpi"),
    ({"a": [1, 2], "dpi": True}, ValueError, "dpi"),
])
def test_bad_demo_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        interactive.explore(_draw, static=True, **kwargs)


def test_draw_must_return_a_figure():
    with pytest.raises(TypeError, match="must be a function"):
        interactive.explore("plot", static=True, a=[1])
    with pytest.raises(TypeError, match="must return the matplotlib Figure"):
        interactive.explore(lambda a: None, static=True, a=[1])


def test_every_shipped_quiz_loads_and_explains_every_answer():
    names = [p.name[:-5] for p in (resources.files("dlext") / "quizzes").iterdir() if p.name.endswith(".json")]
    assert names, "no quiz is shipped with the package"
    for name in names:
        # a quiz that quotes the chapter's measurements gets stand-in values here; the chapter passes the real ones
        questions = interactive.load_quiz(name, {key: 1.0 for key in interactive.placeholders(name)})
        assert 4 <= len(questions) <= 6, f"{name}: a chapter quiz has 4-6 questions"


def test_quiz_validation_catches_missing_explanations(monkeypatch, tmp_path):
    bad = [{"question": "q?", "type": "multiple_choice",
            "answers": [{"answer": "a", "correct": True, "feedback": "yes"}, {"answer": "b", "correct": False},
                        {"answer": "c", "correct": False, "feedback": "no"}]}]
    (tmp_path / "quizzes").mkdir()
    (tmp_path / "quizzes" / "bad.json").write_text(json.dumps(bad))
    monkeypatch.setattr(interactive.resources, "files", lambda package: tmp_path)
    with pytest.raises(ValueError, match=r"missing for \['b'\]"):
        interactive.load_quiz("bad")
    with pytest.raises(ValueError, match="no quiz named"):
        interactive.load_quiz("nothing")
    with pytest.raises(ValueError, match="quiz name"):
        interactive.load_quiz("../etc")


def test_a_quiz_quotes_measured_numbers_from_the_run_not_typed(tmp_path, monkeypatch):
    """Issue 28: '{{name:fmt}}' in a quiz is filled from the chapter's values; a missing value is refused."""
    quiz = [{"question": "The KL term was {{kl:.1f}} nats of {{total:.0f}}. Which share?", "type": "numeric",
             "answers": [{"type": "value", "value": "{{share}}", "correct": True, "feedback": "Right: {{share:.2f}}."},
                         {"type": "default", "feedback": "Divide {{kl:.1f}} by {{total:.0f}}."}]}]
    folder = tmp_path / "dlext" / "quizzes"
    folder.mkdir(parents=True)
    (folder / "toy.json").write_text(json.dumps(quiz))
    monkeypatch.setattr(interactive.resources, "files", lambda package: tmp_path / "dlext")
    filled = interactive.load_quiz("toy", {"kl": 75.84, "total": 102.6, "share": 0.7392})
    assert filled[0]["question"] == "The KL term was 75.8 nats of 103. Which share?"
    assert filled[0]["answers"][0]["value"] == 0.7392 and filled[0]["answers"][0]["feedback"] == "Right: 0.74."
    assert interactive.placeholders("toy") == {"kl", "total", "share"}
    with pytest.raises(ValueError, match=r"\{\{total\}\}"):
        interactive.load_quiz("toy", {"kl": 75.84, "share": 0.7})
    with pytest.raises(ValueError, match="cannot format"):
        interactive.load_quiz("toy", {"kl": "x", "total": 1, "share": 0.7})

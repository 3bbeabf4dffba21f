"""Numbers for the prose: ``glue`` a computed value so the chapter's text quotes it, never types it."""
from typing import Any

__all__ = ["glue"]


def glue(name: str, value: Any, display: bool = False) -> Any:
    """Make ``value`` quotable in the chapter's markdown as ``{glue:text}`name:.3f```; returns ``value``.

    When the book is built, myst-nb stores the value in the cell's output and substitutes it into the
    text. Where myst-nb is not installed (Colab, a plain Jupyter) there is no such text to fill, so
    nothing is stored, and the value is still returned for the cell's own asserts.
    """
    if not isinstance(name, str):
        raise TypeError(f"glue name must be a str such as 'test_acc', got {type(name).__name__} {name!r}")
    # markdown quotes it as {glue:text}`name:format`: no spaces, colons or backticks in the name
    if not name or any(ch.isspace() or ch in ":`" for ch in name):
        raise ValueError(f"glue name must be non-empty, without spaces, ':' or '`' (e.g. 'fgsm_0.05'), got {name!r}")
    # A NumPy or one-element torch number becomes a Python one: myst-nb formats the value's repr, and
    # NumPy 2 writes np.float64(0.93), which a format such as :.3f cannot read.
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0 or getattr(value, "shape", None) == (1,):
        value = value.item()
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return value
    myst_glue(name, value, display=display)
    return value

"""Numbers for the prose: ``glue`` a computed value so the chapter's text quotes it, never types it."""
from typing import Any

__all__ = ["glue"]


def glue(name: str, value: Any, display: bool = False) -> Any:
    """Make ``value`` quotable in the chapter's markdown as ``{glue:text}`name:.3f```; returns ``value``.

    When the book is built, myst-nb stores the value in the cell's output and substitutes it into the
    text. Where myst-nb is not installed (Colab, a plain Jupyter) there is no such text to fill, so
    nothing is stored, and the value is still returned for the cell's own asserts.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"glue name must be a Python identifier such as 'test_acc', got {name!r}")
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return value
    myst_glue(name, value, display=display)
    return value

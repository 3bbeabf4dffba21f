"""Numbers for the prose: ``glue`` a computed value so the chapter's text quotes it, never types it."""
import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

__all__ = ["glue", "evidence"]


def glue(name: str, value: Any, display: bool = False, *, bound: str | None = None,
         digits: int | None = None) -> Any:
    """Make ``value`` quotable in the chapter's markdown as ``{glue:text}`name:.3f```; returns ``value``.

    When the book is built, myst-nb stores the value in the cell's output and substitutes it into the
    text. Where myst-nb is not installed (Colab, a plain Jupyter) there is no such text to fill, so
    nothing is stored, and the value is still returned for the cell's own asserts.

    A number the prose states as a bound is rounded towards it, never across it: with
    ``bound="lower"`` ("at least {glue:text}`x:.1f`") the stored value is floored to ``digits``
    decimals, with ``bound="upper"`` ("at most ...") ceiled, so 13.88 shows as 13.8, not 14. The raw
    ``value`` is still what is returned.
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
    # NaN or infinity in the prose is a failed computation, never a number to print
    if isinstance(value, (float, complex)) and not math.isfinite(abs(value)):
        raise ValueError(f"glue {name!r}: value must be a finite number, got {value!r}")
    stored = value
    if bound is not None or digits is not None:
        stored = _round_towards(name, value, bound, digits)
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return value
    myst_glue(name, stored, display=display)
    return value


def _round_towards(name: str, value: Any, bound: Any, digits: Any) -> float | int:
    """``value`` floored (bound="lower") or ceiled (bound="upper") to ``digits`` decimals."""
    if bound not in ("lower", "upper"):
        raise ValueError(f"glue {name!r}: bound must be 'lower' (prose says 'at least') or 'upper' "
                         f"('at most'), got {bound!r}")
    if isinstance(digits, bool) or not isinstance(digits, int):
        raise TypeError(f"glue {name!r}: digits must be an int (the decimals the markdown shows, "
                        f"e.g. 3 for :.3f), got {type(digits).__name__} {digits!r}")
    if not 0 <= digits <= 12:
        raise ValueError(f"glue {name!r}: digits must be between 0 and 12, got {digits}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"glue {name!r}: a bound needs a real number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"glue {name!r}: a bound needs a finite number, got {value!r}")
    # Decimal avoids binary surprises: 0.29 * 100 is 28.999999999999996, whose floor would be 0.28.
    step = Decimal(1).scaleb(-digits)
    rounding = ROUND_FLOOR if bound == "lower" else ROUND_CEILING
    rounded = Decimal(repr(float(value))).quantize(step, rounding=rounding)
    return int(rounded) if digits == 0 else float(rounded)  # a whole count reads '1,479', not '1,479.0'


def evidence(name: str) -> dict:
    """Measurements made outside a chapter's run (e.g. more seeds than it can afford), as data.

    A chapter that sets a tolerance from seed runs it cannot repeat loads them here instead of typing
    them into a comment: ``dlext/evidence/<name>.json`` holds ``{"command": how they were produced,
    "machine": where, "values": {...}}``, and the notebook asserts against ``values`` and says that
    the numbers come from there.
    """
    import json
    from importlib import resources

    if not isinstance(name, str):
        raise TypeError(f"evidence name must be a str such as 'gans', got {type(name).__name__}")
    if not name.replace("_", "").isalnum():
        raise ValueError(f"evidence name must be a chapter topic such as 'gans', got {name!r}")
    folder = resources.files("dlext") / "evidence"
    path = folder / f"{name}.json"
    if not path.is_file():
        have = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json")) if folder.is_dir() else []
        raise ValueError(f"no evidence named {name!r}; there is: {have}")
    record = json.loads(path.read_text(encoding="utf-8"))
    for key in ("command", "machine", "values"):
        if key not in record:
            raise ValueError(f"evidence {name!r} lacks {key!r}: every record says how and where it was measured")
    if not isinstance(record["values"], dict):
        raise ValueError(f"evidence {name!r}: 'values' must be a dict of name -> measurements")
    return record

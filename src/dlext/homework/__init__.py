"""Self-checks for the course's exercises, and (``python -m dlext.homework``) release and grading.

An exercise in a chapter notebook is three cells: a markdown prompt, a solution cell whose
solution lines sit between ``# BEGIN SOLUTION`` / ``# END SOLUTION`` (or end in ``# SOLUTION``),
and a check cell ``check("cnn.q1", answer)``. The question id names the topic module in
``dlext.exercises`` that defines the check and its points, so a notebook that lost its cell
metadata is still graded correctly from the check call alone.

Checks never raise: they print one plain-words line and return a :class:`Result`, so a student
notebook runs top to bottom even with unanswered questions. When grading, checks run in the grader
and receive the student's functions as stand-ins that run in the submission's process
(``_proxy.py``); CONTRIBUTING.md says how to write checks that work both ways.
"""
import importlib
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["CheckFailure", "Question", "Result", "check", "question", "questions",
           "expect", "expect_close", "expect_raises", "make"]

_QID = re.compile(r"^([a-z][a-z0-9_]*)\.q(\d+)$")


class CheckFailure(AssertionError):
    """Raised inside a check to report, in plain words, what is wrong with an answer."""


@dataclass(frozen=True)
class Question:
    """A registered exercise: its id, its points, and the function that checks an answer."""

    qid: str
    points: float
    check: Callable[[Any], None]  # raises CheckFailure with a message, or returns None
    title: str = ""


@dataclass(frozen=True)
class Result:
    """The outcome of checking one answer."""

    qid: str
    points: float
    max_points: float
    message: str

    @property
    def passed(self) -> bool:
        return self.points == self.max_points

    def __str__(self) -> str:
        mark = "PASSED" if self.passed else "NOT YET"
        return f"[{mark}] {self.qid} ({self.points:g}/{self.max_points:g} points): {self.message}"


_REGISTRY: dict[str, Question] = {}


def _topic(qid: str) -> str:
    if not isinstance(qid, str) or not _QID.match(qid):
        raise ValueError(f"question id must look like 'topic.qN' (e.g. 'cnn.q1'), got {qid!r}")
    return _QID.match(qid).group(1)


def question(qid: str, points: float = 1, title: str = "") -> Callable:
    """Decorator registering ``fn(answer)`` as the check for question ``qid`` worth ``points``."""
    _topic(qid)
    if not (isinstance(points, (int, float)) and points > 0):
        raise ValueError(f"points must be a positive number, got {points!r}")

    def register(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        _REGISTRY[qid] = Question(qid, float(points), fn, title or (fn.__doc__ or "").strip())
        return fn

    return register


def questions(topic: str) -> list[Question]:
    """Every registered question of one topic (``"cnn"``), in id order."""
    try:
        importlib.import_module(f"dlext.exercises.{topic}")
    except ModuleNotFoundError as err:
        raise ValueError(f"no exercises for topic {topic!r} (expected a module dlext.exercises.{topic})") from err
    found = [q for q in _REGISTRY.values() if _topic(q.qid) == topic]
    return sorted(found, key=lambda q: int(q.qid.rsplit("q", 1)[1]))


def lookup(qid: str) -> Question:
    """The registered question ``qid``; raises ValueError naming the known ids if there is none."""
    topic = _topic(qid)
    known = questions(topic)
    if qid not in _REGISTRY:
        raise ValueError(f"unknown question {qid!r}; {topic} has {', '.join(q.qid for q in known) or 'none'}")
    return _REGISTRY[qid]


MESSAGE_LIMIT = 1000  # characters of a check's message (one quoting a 20 MB answer is cut)


def evaluate(qid: str, answer: Any) -> Result:
    """Check ``answer`` against question ``qid`` without printing anything."""
    result = _evaluate(qid, answer)
    if len(result.message) > MESSAGE_LIMIT:
        return Result(qid, result.points, result.max_points, result.message[:MESSAGE_LIMIT] + " [...]")
    return result


def _evaluate(qid: str, answer: Any) -> Result:
    q = lookup(qid)
    if answer is Ellipsis:
        return Result(qid, 0.0, q.points, "not answered yet (replace the ... with your answer)")
    try:
        q.check(answer)
    except NotImplementedError:
        return Result(qid, 0.0, q.points, "not answered yet (your function still raises NotImplementedError)")
    except CheckFailure as err:
        return Result(qid, 0.0, q.points, str(err))
    except Exception as err:  # the student's code crashed inside the check
        return Result(qid, 0.0, q.points, f"your code raised {type(err).__name__}: {err}")
    return Result(qid, q.points, q.points, "all checks passed")


def check(qid: str, answer: Any) -> Result:
    """Check an answer, print one line saying whether it passed (and what failed), return the Result."""
    result = evaluate(qid, answer)
    print(result)
    return result


# Small helpers for writing checks; their messages never reveal the solution code.

def expect(condition: bool, message: str) -> None:
    """Fail the check with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailure(message)


def expect_close(actual: Any, expected: float, what: str, rtol: float = 1e-6, atol: float = 0.0,
                 reveal: bool = True) -> None:
    """Fail unless ``actual`` is a number within tolerance of ``expected``; ``reveal=False`` hides it."""
    try:
        value = float(actual)
    except (TypeError, ValueError, RuntimeError):
        raise CheckFailure(f"{what} should be a number, got {type(actual).__name__}") from None
    if not (math.isfinite(value) and math.isclose(value, expected, rel_tol=rtol, abs_tol=atol)):
        should = f"should be {expected:g}" if reveal else "is not right yet"
        raise CheckFailure(f"{what} {should}, got {value:g}")


def expect_raises(fn: Callable[[], Any], exc: type, call: str, why: str) -> BaseException:
    """Fail unless calling ``fn()`` raises ``exc``; ``call`` and ``why`` make the message. Returns the exception raised
    (a check can then look at its message)."""
    try:
        fn()
    except exc as err:
        return err
    except NotImplementedError:
        raise
    except Exception as err:
        raise CheckFailure(f"{call} should raise {exc.__name__} ({why}), but raised {type(err).__name__}: {err}") from None
    raise CheckFailure(f"{call} should raise {exc.__name__}: {why}")


def make(name: str, *args: Any, **kwargs: Any) -> Any:
    """Create ``name`` (e.g. ``"torch.nn.Linear"``) with these arguments where the student's code runs:
    here in a notebook, in the submission's process while grading (see ``_proxy.make``)."""
    if not isinstance(name, str) or "." not in name:
        raise ValueError(f"name must be a dotted name such as 'torch.nn.Linear', got {name!r}")
    from dlext.homework._proxy import make as remote_make
    return remote_make(name, *args, **kwargs)

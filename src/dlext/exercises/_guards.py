"""Guards the checks share (not a topic: no questions here).

A guard is a context manager that a check wraps around its calls of the student's function, so that an
answer leaning on what the exercise asks the student to write (``dlext.conv.output_size``, autograd,
PyTorch's own GRU step) fails with a message saying so. It acts where the student's code runs:

* in a student's notebook, here, around the call;
* while grading, in the submission's process: the student's function is a stand-in there (``_proxy``),
  so each guard active here travels with every call as a spec (``spec()``), the submission's process
  rebuilds it (``from_spec``) around the call, and what it counted comes back (``report``/``receive``).
  Acting here instead would guard nothing (an expert read scored 2/2 on rnn.q2 with ``torch.gru_cell``
  under ``python -m dlext.homework grade`` when guards were local only).

Guards catch the lazy answer, not every dishonest one: code in the submission's process can undo them.
The verdicts that matter (is the answer right?) are computed where that code cannot reach.
"""
import contextlib
import importlib
import types

import torch
from torch.overrides import TorchFunctionMode

from dlext.homework import CheckFailure


class Guard:
    """Base class: ``context()`` is the effect where the code runs; ``spec()`` rebuilds it elsewhere."""

    kind = ""

    def spec(self) -> dict:
        raise NotImplementedError

    def context(self):
        """A context manager that guards the calls made inside it, in this process."""
        raise NotImplementedError

    def report(self) -> dict:
        """What the guard observed (sent back from the submission's process)."""
        return {}

    def receive(self, report: dict) -> None:
        """Take in what the same guard observed in the submission's process."""

    def __enter__(self):
        from dlext.homework import _proxy
        self._remote = _proxy.active() is not None
        if self._remote:  # grading: the student's code runs in the child, the guard goes with each call
            _proxy.GUARDS.append(self)
        else:
            self._context = self.context()
            self._context.__enter__()
        return self

    def __exit__(self, *exc):
        if self._remote:
            from dlext.homework import _proxy
            _proxy.GUARDS.remove(self)
            return False
        return self._context.__exit__(*exc)


def _path(owner) -> str:
    """The dotted name of a module or class, checked to lead back to it (so another process can find it)."""
    if isinstance(owner, types.ModuleType):
        path = owner.__name__
    elif isinstance(owner, type):
        path = f"{owner.__module__}.{owner.__qualname__}"
    else:
        raise TypeError(f"a guarded attribute's owner must be a module or a class, got {type(owner).__name__}")
    if resolve(path) is not owner:
        raise ValueError(f"{path} does not lead back to the object it names: another process could not guard it")
    return path


def resolve(path: str):
    """The module or class a dotted name names: the longest importable prefix, then attributes."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(f"cannot import {path}")


class _Replaced:
    """While active, each ``(owner, name)`` attribute raises CheckFailure(why); restored on exit."""

    def __init__(self, targets, why: str):
        self.targets, self.why = targets, why

    def __enter__(self):
        # whether each attribute is the owner's own or inherited (torch.Tensor.numpy lives on its C base class): on exit
        # an inherited one is deleted again, not copied into the owner
        self.saved = [(owner, name, getattr(owner, name), name in vars(owner)) for owner, name in self.targets]
        self.codes = []
        for owner, name, original, _ in self.saved:
            setattr(owner, name, self._refuse(name))
            # A plain Python function also refuses under any other name it was imported as (an expert read passed
            # cnn.q4 with `from dlext.conv import receptive_field as rf`): its code is swapped for one that raises.
            function = getattr(original, "__func__", original)
            # the same function may be listed under two owners (torch.distributions.kl_divergence is
            # torch.distributions.kl.kl_divergence): swap it once, or the second save would keep the refusal
            if isinstance(function, types.FunctionType) and not function.__closure__ \
                    and all(function is not f for f, _ in self.codes):
                self.codes.append((function, function.__code__))
                function.__globals__[_REFUSAL] = CheckFailure
                function.__code__ = _refusal_code(self.why.format(name=name))
        return self

    def _refuse(self, name):
        why = self.why

        def raise_(*args, **kwargs):
            raise CheckFailure(why.format(name=name))
        return raise_

    def __exit__(self, *exc):
        for function, code in reversed(self.codes):
            function.__code__ = code  # (the module keeps its _REFUSAL name: a nested guard may still need it)
        for owner, name, original, own in self.saved:
            if own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
        return False


_REFUSAL = "_dlext_guard_refusal"  # CheckFailure, set in a refused function's module when its code is first swapped


def _refusal_code(why: str) -> types.CodeType:
    """Code that raises CheckFailure(why), to run in place of a refused function's (the message is a constant in it;
    the exception class is looked up in the refused function's own globals)."""
    namespace = {}
    exec(f"def refused(*args, **kwargs):\n    raise {_REFUSAL}({why!r})\n", namespace)
    return namespace["refused"].__code__


class off_limits(Guard):  # noqa: N801 - used like a function: with off_limits(...):
    """While the block runs, each ``(owner, name)`` attribute raises CheckFailure saying ``why`` (``{name}``
    filled in). ``owner`` is a module or a class (``(torch.Tensor, "backward")``)."""

    kind = "off_limits"

    def __init__(self, *targets: tuple[object, str], why: str):
        self.targets, self.why = list(targets), why
        self.paths = [(_path(owner), name) for owner, name in targets]
        for owner, name in targets:
            getattr(owner, name)  # a misspelt name fails here, in the notebook, not in the grader

    def spec(self) -> dict:
        return {"kind": self.kind, "targets": [list(p) for p in self.paths], "why": self.why}

    def context(self):
        return _Replaced(self.targets, self.why)


class refuse_torch_functions(Guard):  # noqa: N801
    """While active, any torch function or tensor method whose name (before a first dot) is in ``names``
    raises CheckFailure(why). A torch-function mode sees every way in (``torch.gru_cell``,
    ``torch._VF.gru_cell``, ``torch.ops.aten.gru_cell``, ``nn.GRUCell``), where replacing attributes does not."""

    kind = "torch_functions"

    def __init__(self, names, why: str):
        self.names, self.why = tuple(names), why

    def spec(self) -> dict:
        return {"kind": self.kind, "names": list(self.names), "why": self.why}

    def context(self):
        names, why = self.names, self.why

        class Refused(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                if getattr(func, "__name__", "").split(".")[0] in names:
                    raise CheckFailure(why)
                return func(*args, **(kwargs or {}))

        return Refused()


class count_torch_calls(Guard):  # noqa: N801
    """Counts the torch functions and tensor methods called inside the block (``.calls``); with ``names``, only
    those of these names (``("backward", "grad")``: the gradient computations, whichever way they are asked for)."""

    kind = "count"

    def __init__(self, names=None):
        self.calls = 0
        self.names = None if names is None else frozenset(str(n) for n in names)

    def spec(self) -> dict:
        return {"kind": self.kind, "names": None if self.names is None else sorted(self.names)}

    def context(self):
        guard = self

        class Counting(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                if guard.names is None or getattr(func, "__name__", None) in guard.names:
                    guard.calls += 1
                return func(*args, **(kwargs or {}))

        return Counting()

    def report(self) -> dict:
        return {"calls": self.calls}

    def receive(self, report: dict) -> None:
        calls = report.get("calls") if isinstance(report, dict) else None
        if type(calls) is not int or calls < 0:
            raise CheckFailure("the submission's process did not say how many tensor operations the function made")
        self.calls += calls


def _not_own_function(args, value) -> str | None:
    """Why ``value`` is not the output of the student's own autograd.Function applied to ``args[0]`` (None if it is)."""
    grad_fn = getattr(value, "grad_fn", None) if isinstance(value, torch.Tensor) else None
    cls = getattr(grad_fn, "_forward_cls", None)
    if not (isinstance(cls, type) and issubclass(cls, torch.autograd.Function)) \
            or cls.__module__.startswith(("dlext", "torch")):
        return "its output does not come from a torch.autograd.Function of your own"
    edges = [node for node, _ in grad_fn.next_functions if node is not None]
    if not args or len(edges) != 1 or getattr(edges[0], "variable", None) is not args[0]:
        return ("your Function must be applied to the input itself (its backward is then the only way back to the "
                "input), not to something computed from it")
    return None


class own_function_output(Guard):  # noqa: N801
    """The call's output must come straight from an autograd.Function defined by the student (not in dlext or torch),
    applied to the call's first argument. Checked on the output where the call ran: in a notebook by ``verify``,
    while grading in the submission's process, whose verdict comes back (the graph cannot travel)."""

    kind = "own_function"

    def __init__(self, why: str):
        self.why, self.problem = why, None

    def spec(self) -> dict:
        return {"kind": self.kind, "why": self.why}

    def context(self):
        return contextlib.nullcontext()

    def inspect(self, args, value) -> None:
        """Look at one call's arguments and output (in the submission's process while grading)."""
        self.problem = _not_own_function(args, value)

    def report(self) -> dict:
        return {"problem": self.problem}

    def receive(self, report: dict) -> None:
        problem = report.get("problem", "no verdict came back") if isinstance(report, dict) else "no verdict came back"
        if problem is not None:
            raise CheckFailure(f"{self.why}: {problem}")

    def verify(self, args, value) -> None:
        """In a notebook, check the output here; while grading, the verdict already came back with the call."""
        if not self._remote:
            self.inspect(args, value)
            self.receive(self.report())


def from_spec(spec: dict) -> Guard:
    """The guard a spec describes (in the submission's process, from the grader's request)."""
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind == "off_limits":
        return off_limits(*[(resolve(path), name) for path, name in spec["targets"]], why=str(spec["why"]))
    if kind == "torch_functions":
        return refuse_torch_functions([str(n) for n in spec["names"]], why=str(spec["why"]))
    if kind == "count":
        names = spec.get("names")
        return count_torch_calls(None if names is None else [str(n) for n in names])
    if kind == "own_function":
        return own_function_output(why=str(spec["why"]))
    raise ValueError(f"unknown guard {kind!r}")


# the ways a solution reaches autograd (an expert read passed a check with torch.autograd.backward, the third)
import torch.autograd.forward_ad  # noqa: E402  (forward-mode AD, under torch.func.jacfwd / jvp / hessian)

# reverse mode, and forward mode too: an expert read passed w2v.q3 with torch.func.jacfwd, which never calls grad
AUTOGRAD = ((torch.autograd, "grad"), (torch.Tensor, "backward"), (torch.autograd, "backward"),
            (torch.autograd.forward_ad, "make_dual"))
# the ways a tensor's numbers leave torch in bulk (where count_torch_calls no longer sees the arithmetic: an expert read
# passed w2v.q3 with finite differences in NumPy on .tolist()); one number at a time (.item(), float()) stays counted
TO_OTHER_LIBRARIES = ((torch.Tensor, "numpy"), (torch.Tensor, "tolist"), (torch.Tensor, "__array__"),
                      (torch.Tensor, "__dlpack__"), (torch.Tensor, "untyped_storage"), (torch.Tensor, "storage"),
                      (torch.Tensor, "data_ptr"))

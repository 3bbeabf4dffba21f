"""The grader's side of a submission: its process, and stand-ins for the objects that live there.

:class:`Child` starts ``_child.py`` and exchanges data frames with it. A value that is not data (the
student's function, a model it returned) arrives as a :class:`Remote`: calling it, reading an
attribute or an item, ``len`` and iteration are requests to the child and return data (or more
Remotes). A Remote compares equal only to itself and converts to nothing, so a forged ``__eq__`` or
``__float__`` has no effect here. Calls pass and return:

* plain data, NumPy arrays and torch tensors by value (tensors and arrays the child changed in place
  are copied back into the caller's, so "does it modify its input?" can be tested);
* the global torch and NumPy random states, one way: sent before each call (seeding here seeds there),
  never brought back. The judge's generators are its own: after each call they step forward by one draw
  of their own, so a submission that reseeds itself cannot make the judge's next random case repeat;
* ``torch.Generator`` arguments by state (the caller's generator advances as if used here);
* gradients: when grad mode is on and an argument requires grad, the call is one autograd node here
  whose backward asks the child for the gradients of its inputs;
* grad mode and inference mode as they are here;
* the check's guards (``dlext.exercises._guards``: attributes and torch functions off limits, a count
  of tensor operations): the ones active here go with the call as specs and wrap it there, and what
  they counted comes back.
"""
import os
import secrets
import select
import signal
import subprocess
import time
from typing import Any

from dlext.homework import _wire


class ChildStopped(BaseException):
    """The submission's process ended, broke the channel or ran past a limit: nothing more to ask it."""


class SubmissionTimeout(BaseException):
    """The submission's code ran past the per-call time limit (its process stopped it and lives on)."""


_ACTIVE: list = []  # the Child that checks and tests talk to (set by the judge)
GUARDS: list = []  # the check's guards active now (dlext.exercises._guards): they go with each call
GUARDED_OPS = ("call", "getitem", "len", "iter")  # the requests that run the student's code


def active() -> "Child | None":
    """The submission process being graded in this process, if any."""
    return _ACTIVE[-1] if _ACTIVE else None


def _exception(header: dict) -> BaseException:
    """The exception the student's code raised, rebuilt from its names (a built-in base class)."""
    import builtins
    message, name, base = str(header.get("message", ""))[:2000], str(header.get("name", "")), header.get("base")
    if header.get("refused") is True:  # a guard refused a call (forging this only fails the submission)
        from dlext.homework import CheckFailure
        return CheckFailure(message)
    cls = getattr(builtins, base, None) if isinstance(base, str) else None
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = Exception
    if name.isidentifier() and name != cls.__name__:
        try:
            cls = type(name, (cls,), {"__module__": "submission"})
        except TypeError:
            pass
    try:
        return cls(message)
    except Exception:  # noqa: BLE001 - exception classes with unusual constructors
        return Exception(f"{name}: {message}")


class Child:
    """One running submission process and the channel to it."""

    def __init__(self, argv: list[str], env: dict, cwd: str, log, timeout: float, deadline: float, config: dict):
        parent_read, child_write = os.pipe()
        child_read, parent_write = os.pipe()
        self.timeout, self.deadline = timeout, deadline
        self.proc = subprocess.Popen(argv + [str(child_read), str(child_write)], env=env, cwd=cwd,
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(child_read, child_write),
                                     start_new_session=True, close_fds=True)
        os.close(child_read)
        os.close(child_write)
        self.read_fd, self.write_fd, self.cpu = parent_read, parent_write, 0.0
        os.set_blocking(parent_write, False)  # writes wait in select, with a deadline, never in write()
        self.stopped = ""
        try:
            _wire.write_frame(self.write_fd, config, deadline=min(time.monotonic() + max(timeout, 60), deadline))
        except (OSError, TimeoutError):
            self.stop("the submission's process did not start")
            raise ChildStopped(self.stopped) from None
        hello, _ = self._receive(max(timeout, 60))
        self.problems = hello.get("problems", []) if hello.get("ready") else ["the submission process did not start"]

    # --- the channel ---------------------------------------------------------------------------

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the process tree under this child's process, read from
        /proc: bwrap's init inside the sandbox reaps without passing the time up, so it is counted here."""
        total, stack = 0, [self.proc.pid]
        while stack:
            pid = stack.pop()
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
                for task in os.listdir(f"/proc/{pid}/task"):
                    stack += [int(c) for c in open(f"/proc/{pid}/task/{task}/children").read().split()]
            except (OSError, ValueError, IndexError):
                continue
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self, why: str, grace: float = 0.0) -> None:
        """End the submission's process and remember why: closing its channel asks it to exit (within
        ``grace`` seconds, so that its CPU time is counted where it is waited for), then SIGKILL ends its
        whole session (and, in the sandbox, bwrap's PID namespace with everything in it)."""
        if not self.stopped:
            self.stopped = why
        if self.proc.poll() is None:
            self.cpu = self.cpu_seconds()
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.read_fd = self.write_fd = -1
        if grace > 0:
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()

    def _receive(self, seconds: float) -> tuple[dict, list]:
        limit = min(time.monotonic() + seconds, self.deadline)
        while True:
            left = limit - time.monotonic()
            if left <= 0:
                overall = limit >= self.deadline
                self.stop("the notebook ran past the overall time limit" if overall else
                          f"a call ignored the {self.timeout:g} s time limit, so its process was ended")
                raise ChildStopped(self.stopped)
            ready, _, _ = select.select([self.read_fd], [], [], min(left, 1.0))
            if ready:
                break
        try:
            return _wire.read_frame(self.read_fd, deadline=limit)
        except TimeoutError:
            self.stop("the submission's process stopped in the middle of a message and was ended")
            raise ChildStopped(self.stopped) from None
        except (EOFError, _wire.WireError, OSError) as err:
            code = self.proc.poll()
            why = f"the submission's process ended (exit code {code})" if isinstance(err, EOFError) else \
                f"the submission's process sent a malformed message ({err})"
            self.stop(why)
            raise ChildStopped(self.stopped) from None

    def request(self, op: str, buffers: list = (), **fields) -> tuple[dict, list]:
        """Send one request and wait (within the time limits) for the answer to it."""
        if self.stopped:
            raise ChildStopped(self.stopped)
        nonce = secrets.token_hex(16)
        try:
            _wire.write_frame(self.write_fd, {"op": op, "nonce": nonce, **fields}, list(buffers),
                              deadline=min(time.monotonic() + self.timeout + 5, self.deadline))
        except TimeoutError:
            self.stop("the submission's process stopped reading its requests and was ended")
            raise ChildStopped(self.stopped) from None
        except OSError:
            self.stop(f"the submission's process ended (exit code {self.proc.poll()})")
            raise ChildStopped(self.stopped) from None
        header, bufs = self._receive(self.timeout + 5)
        if not isinstance(header, dict) or header.get("nonce") != nonce:
            self.stop("the submission's process sent a message that answers no request")
            raise ChildStopped(self.stopped)
        if header.get("ok") is not True:
            if header.get("timeout"):
                raise SubmissionTimeout(f"stopped after the {self.timeout:g} s time limit")
            raise _exception(header)
        return header, bufs

    # --- values --------------------------------------------------------------------------------

    def decode(self, node, buffers: list, grad: bool = False) -> Any:
        """A value from the child: data, with Remotes for its handles, tensors on the device they had there
        (when this process has it, else the CPU)."""
        return _wire.Decoder(buffers, lambda key, kind: Remote(self, key, kind), device=_device, grad=grad).decode(node)

    def encode(self, value) -> tuple[Any, list]:
        def other(obj):
            if isinstance(obj, Remote) and obj._child is self:
                return {"T": "handle", "id": obj._id, "kind": obj._kind}
            raise TypeError(f"cannot send a {type(obj).__name__} to the submission: pass data (numbers, strings, "
                            "lists, tensors, arrays) or an object made there with dlext.homework.make(...)")

        enc = _wire.Encoder(other)
        return enc.encode(value), enc.buffers

    def value(self, op: str, **fields) -> Any:
        header, bufs = self.request(op, **fields)
        return self.decode(header.get("value"), bufs)

    def get(self, name: str) -> Any:
        """The value of a name in the notebook's namespace."""
        return self.value("getattr", target=0, name=name)

    def run(self, source: str, cell: int) -> None:
        self.request("run", source=source, cell=cell)

    def evaluate(self, expr: str) -> Any:
        return self.value("eval", expr=expr)

    def invoke(self, op: str, target: int, args: tuple = (), kwargs: dict | None = None, **fields) -> Any:
        """A call-like request (call, make, getitem, len, iter) with the conventions of the module docstring."""
        import torch
        kwargs = kwargs or {}
        grad_inputs = [t for t in _wire.flat_arrays((args, kwargs)) if isinstance(t, torch.Tensor) and t.requires_grad] \
            if torch.is_grad_enabled() and op == "call" else []
        if grad_inputs:
            box = {"child": self, "op": op, "target": target, "args": args, "kwargs": kwargs, "fields": fields}
            outputs = _bridge().apply(box, *grad_inputs)
            return _unflatten(box["skeleton"], list(outputs))
        return self._invoke(op, target, args, kwargs, fields, grad=False)[0]

    def _invoke(self, op, target, args, kwargs, fields, grad: bool):
        import numpy as np
        import torch
        (args_node, kwargs_node), bufs = self._encode_pair(args, kwargs)
        name, key, pos, has_gauss, cached = np.random.get_state()
        rng, rng_bufs = self.encode({"torch": torch.get_rng_state(),
                                     "numpy": [name, key, int(pos), int(has_gauss), float(cached)]})
        offset = len(bufs)
        rng = _shift(rng, offset)
        guards = list(GUARDS) if op in GUARDED_OPS else []
        header, out = self.request(op, buffers=bufs + rng_bufs, target=target, args=args_node, kwargs=kwargs_node,
                                   rng=rng, grad=grad, grad_enabled=torch.is_grad_enabled(),
                                   inference=torch.is_inference_mode_enabled(),
                                   guards=[g.spec() for g in guards], **fields)
        result = self.decode(header.get("result"), out, grad=grad)
        if not isinstance(result, dict) or set(result) != {"value", "changed"}:
            raise _wire.WireError("malformed call result")
        reports = header.get("guards", [])
        if not (isinstance(reports, list) and len(reports) == len(guards)):
            raise _wire.WireError("malformed guard reports")
        for guard, report in zip(guards, reports):
            guard.receive(report)
        torch.randint(2, (1,))  # the judge's own generators step on, whatever the submission did with its own
        np.random.randint(2)
        _write_back(_wire.flat_arrays((args, kwargs)), result["changed"])
        return result["value"], header.get("graph")

    def _encode_pair(self, args, kwargs):
        node, bufs = self.encode([list(args), dict(kwargs)])
        return (node["v"][0], node["v"][1]), bufs


def _device(name: str) -> str:
    import torch
    try:
        device = torch.device(name)
    except RuntimeError:
        return "cpu"
    return name if device.type == "cuda" and torch.cuda.is_available() else "cpu"


def _shift(node, offset: int):
    """Renumber the buffer references in an encoded value by ``offset`` (to append its buffers)."""
    if isinstance(node, dict):
        return {k: ([v[0] + offset, v[1]] if k == "buf" else _shift(v, offset)) for k, v in node.items()}
    if isinstance(node, list):
        return [_shift(v, offset) for v in node]
    return node


def _write_back(targets: list, changed) -> None:
    """Copy the values the child changed in place into the caller's tensors, arrays and generators."""
    import numpy as np
    import torch
    if not isinstance(changed, list):
        raise _wire.WireError("malformed list of changed arguments")
    for item in changed:
        if not (isinstance(item, list) and len(item) == 2 and type(item[0]) is int and 0 <= item[0] < len(targets)):
            raise _wire.WireError("malformed changed argument")
        target, new = targets[item[0]], item[1]
        if isinstance(target, torch.Generator) and isinstance(new, torch.Generator):
            target.set_state(new.get_state())
        elif isinstance(target, torch.Tensor) and isinstance(new, torch.Tensor) and not target.requires_grad:
            with torch.no_grad():
                if new.shape == target.shape:
                    target.copy_(new.to(target.dtype))
                else:
                    target.data = new.to(target.device)
        elif isinstance(target, np.ndarray) and isinstance(new, np.ndarray) and target.flags.writeable \
                and new.shape == target.shape:
            np.copyto(target, new, casting="unsafe")


def _unflatten(skeleton, tensors: list):
    if isinstance(skeleton, _Slot):
        return tensors[skeleton.index]
    if isinstance(skeleton, list):
        return [_unflatten(v, tensors) for v in skeleton]
    if isinstance(skeleton, tuple):
        return tuple(_unflatten(v, tensors) for v in skeleton)
    if isinstance(skeleton, dict):
        return {k: _unflatten(v, tensors) for k, v in skeleton.items()}
    return skeleton


class _Slot:
    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


def _skeleton(value, tensors: list):
    import torch
    if isinstance(value, torch.Tensor):
        tensors.append(value)
        return _Slot(len(tensors) - 1)
    if isinstance(value, list):
        return [_skeleton(v, tensors) for v in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(_skeleton(v, tensors) for v in value)
    if isinstance(value, dict):
        return {k: _skeleton(v, tensors) for k, v in value.items()}
    return value


_BRIDGE = []


def _bridge():
    """The autograd Function that runs a call in the child and asks it for gradients on backward."""
    if _BRIDGE:
        return _BRIDGE[0]
    import torch

    class RemoteCall(torch.autograd.Function):
        @staticmethod
        def forward(ctx, box, *inputs):
            child = box["child"]
            value, graph = child._invoke(box["op"], box["target"], box["args"], box["kwargs"], box["fields"],
                                         grad=True)
            tensors = []
            box["skeleton"] = _skeleton(value, tensors)
            box["graph"] = graph
            ctx.box, ctx.count = box, len(tensors)
            outputs = [t.detach() for t in tensors]
            for t, o in zip(tensors, outputs):
                if not (t.requires_grad and (o.is_floating_point() or o.is_complex())):
                    ctx.mark_non_differentiable(o)
            if not outputs:
                dummy = torch.zeros(())
                ctx.mark_non_differentiable(dummy)
                return dummy,
            return tuple(outputs)

        @staticmethod
        def backward(ctx, *grads):
            box, n_inputs = ctx.box, len(ctx.needs_input_grad) - 1
            child = box["child"]
            grads = [g if i < ctx.count else None for i, g in enumerate(grads)]
            node, bufs = child.encode(list(grads))
            header, out = child.request("backward", buffers=bufs, graph=box["graph"], grads=node)
            got = child.decode(header.get("value"), out)
            if not (isinstance(got, list) and len(got) == n_inputs):
                raise _wire.WireError("malformed gradients")
            return (None, *[g if isinstance(g, torch.Tensor) else None for g in got])

    _BRIDGE.append(RemoteCall)
    return RemoteCall


class Remote:
    """An object that lives in the submission's process (see the module docstring)."""

    __slots__ = ("_child", "_id", "_kind")

    def __init__(self, child: Child, key: int, kind: str):
        object.__setattr__(self, "_child", child)
        object.__setattr__(self, "_id", key)
        object.__setattr__(self, "_kind", kind)

    def __call__(self, *args, **kwargs):
        return self._child.invoke("call", self._id, args, kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._child.value("getattr", target=self._id, name=name)

    def __setattr__(self, name, value):
        raise AttributeError("the submission's objects cannot be changed from the grader")

    def __getitem__(self, key):
        return self._child.invoke("getitem", self._id, (key,))

    def __len__(self) -> int:
        n = self._child.invoke("len", self._id)
        if type(n) is not int or n < 0:
            raise TypeError("len() of the submission's object is not a non-negative int")
        return n

    def __iter__(self):
        items = self._child.invoke("iter", self._id)
        if not isinstance(items, list):
            raise TypeError("the submission's object did not iterate to a list")
        return iter(items)

    def __repr__(self) -> str:
        return f"<the submission's {self._kind}>"

    def __eq__(self, other) -> bool:
        return self is other

    def __ne__(self, other) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        return True


class Namespace:
    """The ``submission`` that instructor tests receive: ``submission.name`` is the notebook's ``name``."""

    def __init__(self, child: Child):
        object.__setattr__(self, "_child", child)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._child.get(name)
        except AttributeError as err:
            raise AttributeError(str(err)) from None

    def __setattr__(self, name, value):
        raise AttributeError("the submission's namespace cannot be changed from the tests")


def make(name: str, *args, **kwargs):
    """Create an object by its dotted name, where the student's code runs.

    In a notebook this is ``torch.nn.Linear(3, 2)`` for ``make("torch.nn.Linear", 3, 2)``; while grading,
    the object is created inside the submission's process (from a whitelist: torch.nn, torch.optim and
    torch.utils.data classes, torch.Generator, torch.nn.Module classes of dlext) and a handle comes back,
    which can be passed to the student's functions.
    """
    child = active()
    if child is not None:
        return child.invoke("make", 0, args, kwargs, name=name)
    import importlib
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)(*args, **kwargs)

"""The submission's side of grading: ``python -I .../dlext/homework/_child.py READ_FD WRITE_FD``.

Started by the grader's judge (``_judge.py``) from a temporary copy of the ``dlext`` package, in a
temporary folder, with a minimal environment. It limits itself (resource limits, no capabilities, a
seccomp filter, the file guard), then answers requests one at a time: run a cell, evaluate an
answer expression, call a function or method, read an attribute, backpropagate. Results go back as
data (``_wire``); any other object stays here and the grader gets a numbered handle to it.

Nothing here is trusted: the student's code runs in this process and can change any of it. The
grader decides every verdict from the data it receives.
"""
import os
import sys
from pathlib import Path

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the temporary copy holding dlext/


def _clean_path() -> None:
    """Import dlext only from the temporary copy: drop other entries that hold a dlext package."""
    keep = [p for p in sys.path if p and not os.path.exists(os.path.join(p, "dlext", "__init__.py"))]
    sys.path[:] = [_PACKAGE_ROOT] + keep
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__name__.lower()
                        and "editable" not in getattr(f, "__module__", "").lower()]
    for name in [m for m in sys.modules if m == "dlext" or m.startswith("dlext.")]:
        del sys.modules[name]


_clean_path()

import builtins  # noqa: E402
import contextlib  # noqa: E402
import signal  # noqa: E402
import traceback  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dlext.homework import CheckFailure, _sandbox, _wire  # noqa: E402
from dlext.homework._runner import CappedOutput, TimeLimit, install_guard, time_limit  # noqa: E402

MESSAGE_LIMIT = 1000
FACTORY_MODULES = ("torch.nn", "torch.optim", "torch.utils.data")


class Session:
    """The objects this process has handed out (by number) and the namespace the cells run in."""

    def __init__(self, timeout: float):
        self.ns = {"__name__": "__main__", "display": lambda *a, **k: print(*a)}
        self.objects = {0: self.ns}  # handle 0: the notebook's namespace
        self.graphs = {}  # graph id -> (leaf inputs, outputs) of a call made for backpropagation
        self.timeout = timeout

    def register(self, value) -> dict:
        key = len(self.objects) + len(self.graphs) + 1
        self.objects[key] = value
        return {"T": "handle", "id": key, "kind": type(value).__name__[:100]}

    def encode(self, value) -> tuple[dict, list]:
        enc = _wire.Encoder(self.register)
        return enc.encode(value), enc.buffers

    def decoder(self, buffers: list, grad: bool) -> _wire.Decoder:
        def handle(key: int, kind: str):
            if key not in self.objects:
                raise ValueError(f"unknown handle {key}")
            return self.objects[key]

        return _wire.Decoder(buffers, handle, device=lambda name: name if _device_ok(name) else "cpu", grad=grad)


def _device_ok(name: str) -> bool:
    try:
        device = torch.device(name)
    except RuntimeError:
        return False
    return device.type == "cpu" or (device.type == "cuda" and torch.cuda.is_available())


def _snapshot(value):
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    return value.get_state()


def _same(before, value) -> bool:
    if isinstance(value, torch.Tensor):
        current = value.detach()
        if before.shape != current.shape or before.dtype != current.dtype:
            return False
        if torch.equal(before, current):
            return True
        return before.is_floating_point() and torch.equal(before.isnan(), current.isnan()) and \
            torch.equal(before.nan_to_num(), current.nan_to_num())
    if isinstance(value, np.ndarray):
        return before.shape == value.shape and np.array_equal(before, value, equal_nan=value.dtype.kind in "fc")
    return torch.equal(before, value.get_state())


def _rng_set(state: dict) -> None:
    if state.get("torch") is not None:
        torch.set_rng_state(state["torch"])
    if state.get("numpy") is not None:
        key, pos, has_gauss, cached = state["numpy"][1:]
        np.random.set_state(("MT19937", key, pos, has_gauss, cached))


def _factory(name: str):
    """The class or function ``name`` may create in this process: torch.nn / torch.optim classes,
    ``torch.Generator``, and torch.nn.Module subclasses in dlext."""
    module, _, attr = name.rpartition(".")
    if name == "torch.Generator":
        return torch.Generator
    if module in FACTORY_MODULES or (module.startswith("dlext.") and module.count(".") == 1):
        import importlib
        obj = getattr(importlib.import_module(module), attr, None)
        if isinstance(obj, type) and not attr.startswith("_"):
            if module.startswith("dlext.") and not issubclass(obj, torch.nn.Module):
                obj = None
            if obj is not None:
                return obj
    raise ValueError(f"make({name!r}): not a whitelisted factory (torch.nn, torch.optim, torch.utils.data "
                     "classes, torch.Generator, torch.nn.Module classes in dlext)")


def _builtin_base(err: BaseException) -> str:
    for cls in type(err).__mro__:
        if getattr(builtins, cls.__name__, None) is cls:
            return cls.__name__
    return "Exception"


def _error(err: BaseException) -> dict:
    text = str(err) if not isinstance(err, TimeLimit) else str(err)
    if len(text) > MESSAGE_LIMIT:
        text = text[:MESSAGE_LIMIT] + "..."
    return {"ok": False, "timeout": isinstance(err, TimeLimit), "name": type(err).__name__[:100],
            "base": _builtin_base(err), "message": text, "refused": isinstance(err, CheckFailure)}


def _guards(specs) -> list:
    """The check's guards for one call, rebuilt from the grader's specs (dlext.exercises._guards)."""
    if not specs:
        return []
    from dlext.exercises._guards import from_spec
    return [from_spec(spec) for spec in specs]


def handle_request(session: Session, request: dict, buffers: list) -> tuple[dict, list]:
    """Do what one request asks; return the response header and its buffers."""
    op = request.get("op")
    grad = bool(request.get("grad"))
    dec = session.decoder(buffers, grad)
    if op == "run":
        exec(compile(request["source"], f"<cell {request.get('cell')}>", "exec"), session.ns)
        return {"ok": True}, []
    if op == "eval":
        value = eval(compile(request["expr"], "<answer>", "eval"), session.ns)
        node, bufs = session.encode(value)
        return {"ok": True, "value": node}, bufs
    if op == "backward":
        leaves, outputs = session.graphs[request["graph"]]
        grads = dec.decode(request["grads"])
        pairs = [(o, g) for o, g in zip(outputs, grads) if g is not None and o.requires_grad]
        if pairs and leaves:
            got = torch.autograd.grad([o for o, _ in pairs], leaves, [g for _, g in pairs],
                                      allow_unused=True, retain_graph=True)
        else:
            got = [None] * len(leaves)
        node, bufs = session.encode(list(got))
        return {"ok": True, "value": node}, bufs
    target = session.objects.get(request.get("target"))
    if request.get("target") not in session.objects:
        raise ValueError("unknown handle")
    if op == "getattr":
        name = request["name"]
        value = session.ns[name] if target is session.ns and name in session.ns else None
        if target is session.ns and name not in session.ns:
            raise AttributeError(f"the notebook defines no name {name!r}")
        if target is not session.ns:
            value = getattr(target, name)
        node, bufs = session.encode(value)
        return {"ok": True, "value": node}, bufs
    if op in ("call", "make", "getitem", "len", "iter"):
        args = dec.decode(request.get("args", {"T": "list", "v": []}))
        kwargs = dec.decode(request.get("kwargs", {"T": "dict", "v": []}))
        if request.get("rng"):
            _rng_set(dec.decode(request["rng"]))
        leaves = [t for t in _wire.flat_arrays((args, kwargs)) if isinstance(t, torch.Tensor) and t.requires_grad] \
            if grad else []
        mutable = _wire.flat_arrays((args, kwargs))
        before = [_snapshot(v) for v in mutable]
        guards = _guards(request.get("guards"))
        with torch.set_grad_enabled(grad or bool(request.get("grad_enabled"))), \
                torch.inference_mode(request.get("inference") is True), contextlib.ExitStack() as stack:
            for guard in guards:
                stack.enter_context(guard.context())
            if op == "call":
                value = target(*args, **kwargs)
            elif op == "make":
                value = _factory(str(request["name"]))(*args, **kwargs)
            elif op == "getitem":
                value = target[args[0]]
            elif op == "len":
                value = len(target)
            else:
                value = list(target)[:100_000]
            for guard in guards if op == "call" else ():  # a guard that judges the output sees it here, with its graph
                inspect = getattr(guard, "inspect", None)
                if inspect is not None:
                    inspect(args, value)
        changed = [[i, v] for i, (b, v) in enumerate(zip(before, mutable)) if not _same(b, v)]
        result = {"value": value, "changed": changed}  # the random state stays here: the judge keeps its own
        header = {"ok": True, "guards": [guard.report() for guard in guards]}
        if grad:
            outputs = [t for t in _wire.flat_arrays(value) if isinstance(t, torch.Tensor)]
            key = len(session.objects) + len(session.graphs) + 1
            session.graphs[key] = (leaves, outputs)
            header["graph"] = key
        node, bufs = session.encode(result)
        header["result"] = node
        return header, bufs
    raise ValueError(f"unknown request {op!r}")


def serve(read_fd: int, write_fd: int) -> None:
    """Read the set-up frame, limit this process, then answer requests until the channel closes."""
    config, _ = _wire.read_frame(read_fd)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file at its size limit: the write fails, we live
    problems = _sandbox.limit_resources(config["cpu_seconds"], config["memory_bytes"], config["file_bytes"])
    sys.dont_write_bytecode = True
    sys.stdout = sys.stderr = CappedOutput(os.fdopen(1, "w", encoding="utf-8", errors="replace", closefd=False),
                                           config["output_limit"])
    session = Session(config["timeout"])
    if os.geteuid() == 0 and not _sandbox.drop_capabilities():
        problems.append("could not drop capabilities")
    why = _sandbox.install_filter()
    if why:
        problems.append(why)
    install_guard(Path.cwd())
    _wire.write_frame(write_fd, {"ok": True, "ready": True, "problems": problems})
    while True:
        try:
            request, buffers = _wire.read_frame(read_fd)
        except EOFError:
            os._exit(0)
        nonce = request.get("nonce")
        try:
            with time_limit(session.timeout):
                header, bufs = handle_request(session, request, buffers)
        except BaseException as err:  # noqa: BLE001 - the student's code may raise anything
            header, bufs = _error(err), []
            if not isinstance(err, TimeLimit) and request.get("op") not in ("run", "eval", "call", "getattr",
                                                                              "getitem", "len", "iter", "make"):
                header["message"] += "\n" + traceback.format_exc()[-MESSAGE_LIMIT:]
        header["nonce"] = nonce
        try:
            _wire.write_frame(write_fd, header, bufs)
        except (TypeError, ValueError) as err:  # e.g. a dict key that is not data
            _wire.write_frame(write_fd, {**_error(err), "nonce": nonce})
        sys.stdout.flush()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))

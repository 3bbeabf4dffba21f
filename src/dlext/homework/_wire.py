"""The data that crosses between the grader and a submission's process: JSON plus raw array bytes.

A message is one frame: an 8-byte length, a JSON header, then the bytes of every array it holds.
Values are plain Python data (None, bool, int, float, str, bytes, list, tuple, dict), NumPy arrays
and scalars, torch tensors (CPU copies; dtype, shape and ``requires_grad`` kept), ``torch.Size``,
``torch.Generator`` (its state) and handles to objects that stay on the other side. Decoding builds
only those types from a whitelist of dtypes: nothing a submission sends can run code in the grader
(no pickle, no ``object`` arrays, no user classes).
"""
import json
import math
import os
import select
import struct
import sys
import time
from typing import Any, Callable

import numpy as np

MAX_FRAME = 1 << 29  # bytes (512 MiB): a frame announcing more is refused (a broken or hostile sender)
MAX_DEPTH = 64  # nesting of lists/dicts in one value
NUMPY_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64", "complex64", "complex128"}
_HEADER = struct.Struct("<Q")


class WireError(ValueError):
    """A frame or value that does not follow the format (a broken channel, or a forged message)."""


def _torch():
    import torch
    return torch


def _torch_dtypes() -> dict:
    torch = _torch()
    names = ["bool", "int8", "int16", "int32", "int64", "uint8", "float16", "bfloat16", "float32", "float64",
             "complex64", "complex128"]
    return {name: getattr(torch, name) for name in names}


class Handle:
    """A reference to an object that lives on the other side (by number)."""

    __slots__ = ("id", "kind")

    def __init__(self, id: int, kind: str):
        self.id, self.kind = id, kind


class Encoder:
    """Turns a value into a JSON-able header plus a list of byte buffers.

    ``other`` is called for any value that is not data and must return a JSON-able replacement
    (the child side registers the object and returns a handle; the grader side refuses).
    """

    def __init__(self, other: Callable[[Any], Any]):
        self.other, self.buffers, self.size = other, [], 0

    def _buffer(self, data: bytes) -> list:
        self.buffers.append(data)
        self.size += len(data)
        return [len(self.buffers) - 1, len(data)]

    def _array(self, array: np.ndarray) -> dict:
        dtype = array.dtype.name
        if dtype not in NUMPY_DTYPES:
            raise TypeError(f"arrays of dtype {dtype} cannot be sent")
        return {"dtype": dtype, "shape": list(array.shape),
                "buf": self._buffer(np.ascontiguousarray(array).tobytes())}

    def encode(self, value: Any, depth: int = 0) -> Any:
        """The JSON-able header node of ``value``; its arrays' bytes are appended to ``self.buffers``."""
        if depth > MAX_DEPTH:
            raise TypeError("the value is nested too deeply to send")
        kind = type(value)
        if value is None or kind is bool or kind is str:
            return value
        if kind is int:
            return value if -2**53 < value < 2**53 else {"T": "bigint", "v": str(value)}
        if kind is float:
            return value if math.isfinite(value) else {"T": "float", "v": repr(value)}
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int) and not isinstance(value, np.integer):  # IntEnum and friends: their int value
            return self.encode(int.__index__(value), depth)
        if isinstance(value, float) and not isinstance(value, np.floating):
            return self.encode(float.__float__(value), depth)
        if isinstance(value, str):
            return str.__str__(value)
        if kind is complex:
            return {"T": "complex", "v": [repr(value.real), repr(value.imag)]}
        if kind is bytes:
            return {"T": "bytes", "buf": self._buffer(value)}
        if kind in (list, tuple):
            return {"T": kind.__name__, "v": [self.encode(v, depth + 1) for v in value]}
        if kind is dict:
            return {"T": "dict", "v": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                                       for k, v in value.items()]}
        if value is Ellipsis:
            return {"T": "ellipsis"}
        if kind is np.ndarray and value.dtype.name in NUMPY_DTYPES:
            return {"T": "ndarray", **self._array(value)}
        if isinstance(value, np.generic) and value.dtype.name in NUMPY_DTYPES:
            return {"T": "npscalar", **self._array(np.asarray(value))}
        torch = sys.modules.get("torch")
        if torch is not None:
            if isinstance(value, torch.Tensor) and value.layout == torch.strided and \
                    str(value.dtype).split(".")[-1] in _torch_dtypes() and value.device.type != "meta":
                return self._tensor(value)
            if kind is torch.Size:
                return {"T": "size", "v": [int(v) for v in value]}
            if kind is torch.dtype and str(value).split(".")[-1] in _torch_dtypes():
                return {"T": "torch_dtype", "v": str(value).split(".")[-1]}
            if kind is torch.device:
                return {"T": "device", "v": str(value)}
            if kind is torch.Generator:
                return {"T": "generator", "state": self._array(value.get_state().numpy()),
                        "device": str(value.device)}
        return self.other(value)

    def _tensor(self, value) -> dict:
        torch = _torch()
        name = str(value.dtype).split(".")[-1]
        if name not in _torch_dtypes():
            raise TypeError(f"tensors of dtype {value.dtype} cannot be sent")
        data = torch.Tensor.detach(value).to("cpu").contiguous()
        data = torch.Tensor.as_subclass(data, torch.Tensor)
        if name == "bfloat16":
            data = data.view(torch.int16)
        return {"T": "tensor", "dtype": name, "requires_grad": bool(value.requires_grad),
                "device": str(value.device), **self._array(data.numpy())}


class Decoder:
    """Rebuilds values from a header and its buffers; ``handle(id, kind)`` makes the stand-in of a handle."""

    def __init__(self, buffers: list[bytes], handle: Callable[[int, str], Any], device: Callable[[str], Any] = None,
                 grad: bool = False):
        self.buffers, self.handle, self.grad = buffers, handle, grad
        self.device = device or (lambda name: "cpu")
        self.used = set()  # buffer indices already decoded: each may be named once

    def _bytes(self, ref) -> bytes:
        if not (isinstance(ref, list) and len(ref) == 2 and all(type(x) is int for x in ref)
                and 0 <= ref[0] < len(self.buffers) and len(self.buffers[ref[0]]) == ref[1]):
            raise WireError("bad buffer reference")
        if ref[0] in self.used:  # an encoder gives every array its own buffer: naming one twice is forged
            raise WireError("a buffer is named more than once")
        self.used.add(ref[0])
        return self.buffers[ref[0]]

    def _array(self, node: dict) -> np.ndarray:
        dtype, shape = node.get("dtype"), node.get("shape")
        if dtype not in NUMPY_DTYPES and dtype != "bfloat16":
            raise WireError(f"dtype {dtype!r} is not allowed")
        if not (isinstance(shape, list) and all(type(s) is int and s >= 0 for s in shape)):
            raise WireError("bad array shape")
        np_dtype = np.dtype("int16" if dtype == "bfloat16" else dtype)
        data = self._bytes(node.get("buf"))
        if len(data) != np_dtype.itemsize * math.prod(shape):
            raise WireError("array size does not match its shape")
        return np.frombuffer(data, dtype=np_dtype).reshape(shape).copy()

    def decode(self, node: Any, depth: int = 0) -> Any:
        """The value a header node describes; WireError for anything outside the format."""
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        if node is None or type(node) in (bool, str):
            return node
        if type(node) is int:
            return node
        if type(node) is float:
            return node
        if type(node) is not dict or type(node.get("T")) is not str:
            raise WireError(f"unexpected value of type {type(node).__name__}")
        tag = node["T"]
        if tag == "ellipsis":
            return Ellipsis
        if tag == "bigint":
            return int(str(node["v"]))
        if tag == "float":
            if node["v"] not in ("nan", "inf", "-inf"):
                raise WireError("bad float")
            return float(node["v"])
        if tag == "complex":
            real, imag = node["v"]
            return complex(float(str(real)), float(str(imag)))
        if tag == "bytes":
            return bytes(self._bytes(node.get("buf")))
        if tag in ("list", "tuple"):
            items = [self.decode(v, depth + 1) for v in _list(node.get("v"))]
            return items if tag == "list" else tuple(items)
        if tag == "dict":
            out = {}
            for pair in _list(node.get("v")):
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise WireError("bad dict item")
                key = self.decode(pair[0], depth + 1)
                if not isinstance(key, (type(None), bool, int, float, str, bytes, tuple)):
                    raise WireError("dict keys must be plain values")
                out[key] = self.decode(pair[1], depth + 1)
            return out
        if tag == "ndarray":
            return self._array(node)
        if tag == "npscalar":
            return self._array(node)[()]
        if tag == "tensor":
            torch = _torch()
            dtype = node.get("dtype")
            if dtype not in _torch_dtypes():
                raise WireError(f"torch dtype {dtype!r} is not allowed")
            tensor = torch.from_numpy(self._array(node))
            if dtype == "bfloat16":
                tensor = tensor.view(torch.bfloat16)
            tensor = tensor.to(self.device(str(node.get("device", "cpu"))))
            if self.grad and node.get("requires_grad") is True and (tensor.is_floating_point() or tensor.is_complex()):
                tensor.requires_grad_(True)
            return tensor
        if tag == "size":
            return _torch().Size([int(v) for v in _list(node.get("v")) if type(v) is int])
        if tag == "torch_dtype":
            if node.get("v") not in _torch_dtypes():
                raise WireError("bad torch dtype")
            return _torch_dtypes()[node["v"]]
        if tag == "device":
            return _torch().device(self.device(str(node.get("v"))))
        if tag == "generator":
            torch = _torch()
            state = torch.from_numpy(self._array(node.get("state")))
            gen = torch.Generator()  # CPU generators only: a CUDA generator's state is tied to its device
            if state.dtype != torch.uint8:
                raise WireError("bad generator state")
            gen.set_state(state)
            return gen
        if tag == "handle":
            if type(node.get("id")) is not int or type(node.get("kind")) is not str:
                raise WireError("bad handle")
            return self.handle(node["id"], node["kind"][:200])
        raise WireError(f"unknown tag {tag!r}")


def _list(value) -> list:
    if not isinstance(value, list):
        raise WireError("expected a list")
    return value


def write_frame(fd: int, header: dict, buffers: list[bytes] = (), deadline: float | None = None) -> None:
    """Send one frame: the JSON header (with the buffer sizes) and the buffers, on file descriptor ``fd``.

    With a ``deadline`` (``time.monotonic()`` seconds; ``fd`` then should be non-blocking) a reader that
    stops reading raises TimeoutError instead of blocking the writer."""
    head = json.dumps({**header, "_sizes": [len(b) for b in buffers]}, allow_nan=False).encode()
    _write_all(fd, _HEADER.pack(len(head)) + head, deadline)
    for b in buffers:
        _write_all(fd, b, deadline)


def _wait(fd: int, deadline: float | None, write: bool) -> None:
    """Wait until ``fd`` is ready, or raise TimeoutError at ``deadline`` (no deadline: return at once)."""
    if deadline is None:
        return
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the other side stopped in the middle of a message")
        ready = select.select([], [fd], [], left)[1] if write else select.select([fd], [], [], left)[0]
        if ready:
            return


def _write_all(fd: int, data: bytes, deadline: float | None = None) -> None:
    view = memoryview(data)
    while view:
        _wait(fd, deadline, write=True)
        try:
            view = view[os.write(fd, view[:1 << 20]):]
        except BlockingIOError:
            continue


def _read_exact(fd: int, n: int, deadline: float | None = None) -> bytes:
    chunks, left = [], n
    while left:
        _wait(fd, deadline, write=False)
        try:
            chunk = os.read(fd, min(left, 1 << 20))
        except BlockingIOError:
            continue
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, limit: int = MAX_FRAME, deadline: float | None = None) -> tuple[dict, list[bytes]]:
    """Receive one frame from ``fd``: ``(header, buffers)``; WireError if it is malformed or too big,
    TimeoutError if it is not complete by ``deadline`` (``time.monotonic()`` seconds)."""
    (n,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if n > 1 << 26:
        raise WireError(f"a message header of {n} bytes is too big")
    try:
        header = json.loads(_read_exact(fd, n, deadline))
    except (ValueError, UnicodeDecodeError) as err:
        raise WireError(f"a message header is not JSON ({err})") from None
    sizes = header.pop("_sizes", None) if isinstance(header, dict) else None
    if not (isinstance(sizes, list) and all(type(s) is int and s >= 0 for s in sizes) and sum(sizes) <= limit):
        raise WireError("a message announces buffers that are missing or too big")
    return header, [_read_exact(fd, s, deadline) for s in sizes]


def flat_arrays(value: Any, out: list | None = None) -> list:
    """Tensors, arrays and generators in ``value`` (through lists, tuples and dicts), in a fixed order.

    The judge and the submission's process both call this on a call's arguments, so the arrays they pair
    up (gradients, in-place changes written back) are the same ones, in the same order.
    """
    import torch  # only where there are tensors to find: the judge and the child have torch loaded

    out = [] if out is None else out
    if isinstance(value, (list, tuple)):
        for v in value:
            flat_arrays(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            flat_arrays(v, out)
    elif isinstance(value, (torch.Tensor, np.ndarray, torch.Generator)):
        out.append(value)
    return out

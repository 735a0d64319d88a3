"""Tensors on the wire: raw little-endian bytes with a dtype and a shape, and nothing else.

Decoding is where untrusted bytes become arrays, so it checks everything before numpy sees the
bytes: the dtype is one of an allow-list, every dimension is within bounds, the byte length is
exactly prod(shape) x itemsize, the shape matches what the caller expects (`shape=`, with `None`
for a dimension that may vary), and floating-point values are finite. Nothing is ever unpickled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from databright.protocol import worker_pb2 as pb
from databright.protocol.errors import ProtocolError

Array = np.ndarray[Any, Any]
DTYPES: dict[str, np.dtype[Any]] = {"float32": np.dtype("<f4"), "int64": np.dtype("<i8")}
MAX_DIMS = 8
MAX_ELEMENTS = 1 << 28


def encode(array: Array) -> pb.Tensor:
    """An array as a Tensor message (float32 and int64 only: what training sends)."""
    a = np.asarray(array)
    name = a.dtype.name
    if name not in DTYPES:
        raise ProtocolError(f"dtype {a.dtype} is not sent over the protocol (allowed: {', '.join(DTYPES)})")
    a = np.ascontiguousarray(a, dtype=DTYPES[name])
    return pb.Tensor(dtype=name, shape=list(a.shape), data=a.tobytes())


def decode(t: pb.Tensor, *, dtype: str | None = None, shape: Sequence[int | None] | None = None,
           what: str = "tensor") -> Array:
    """The array a Tensor message holds, after every check; a ProtocolError names what failed."""
    if t.dtype not in DTYPES:
        raise ProtocolError(f"{what}: dtype {t.dtype[:32]!r} is not allowed")
    if dtype is not None and t.dtype != dtype:
        raise ProtocolError(f"{what}: dtype {t.dtype}, expected {dtype}")
    dims = [int(d) for d in t.shape]
    if len(dims) > MAX_DIMS or any(d > MAX_ELEMENTS for d in dims) or math.prod(dims) > MAX_ELEMENTS:
        raise ProtocolError(f"{what}: shape {dims[:MAX_DIMS + 1]} is out of bounds")
    if shape is not None and (len(dims) != len(shape) or
                              any(e is not None and d != e for d, e in zip(dims, shape, strict=True))):
        raise ProtocolError(f"{what}: shape {tuple(dims)}, expected {tuple(shape)}")
    kind = DTYPES[t.dtype]
    if len(t.data) != math.prod(dims) * kind.itemsize:
        raise ProtocolError(f"{what}: {len(t.data)} bytes for shape {tuple(dims)} of {t.dtype}")
    a: Array = np.frombuffer(t.data, dtype=kind).reshape(dims).copy()  # writable, owning its memory (torch wants it)
    if kind.kind == "f" and not np.isfinite(a).all():
        raise ProtocolError(f"{what}: holds values that are not finite")
    return a


def encode_all(arrays: Sequence[Array]) -> list[pb.Tensor]:
    return [encode(a) for a in arrays]


def decode_all(ts: Sequence[pb.Tensor], *, dtype: str | None = None,
               shapes: Sequence[Sequence[int | None]] | None = None, what: str = "tensors") -> list[Array]:
    if shapes is not None and len(ts) != len(shapes):
        raise ProtocolError(f"{what}: {len(ts)} tensors, expected {len(shapes)}")
    return [decode(t, dtype=dtype, shape=None if shapes is None else shapes[i], what=f"{what}[{i}]")
            for i, t in enumerate(ts)]


def finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise ProtocolError(f"{what}: {value} is not finite")
    return value

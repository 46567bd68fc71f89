"""Reading the IDX format of MNIST and Fashion-MNIST (LeCun et al., 1998).

An IDX file is a 4-byte magic number — two zero bytes, a type code and the number
of dimensions — then one big-endian uint32 per dimension, then the data.
"""
from __future__ import annotations

import math
import struct

import numpy as np

TYPE_CODES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IDXFormatError(ValueError):
    """The bytes are not a well-formed IDX file."""


def parse_idx(payload: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode an IDX payload into an array of its declared shape (native byte order)."""
    if len(payload) < 4:
        raise IDXFormatError(f"{name}: {len(payload)} bytes is too short for an IDX header")
    zero, type_code, ndim = struct.unpack(">HBB", payload[:4])
    if zero != 0 or type_code not in TYPE_CODES:
        hint = " — these are gzip-compressed bytes: decompress them first" if payload[:2] == b"\x1f\x8b" else ""
        raise IDXFormatError(f"{name}: not an IDX file (magic bytes {payload[:4].hex()}){hint}")
    header_end = 4 + 4 * ndim
    if len(payload) < header_end:
        raise IDXFormatError(f"{name}: header declares {ndim} dimensions but the file ends early")
    shape = struct.unpack(f">{ndim}I", payload[4:header_end])
    dtype = TYPE_CODES[type_code]
    expected = math.prod(shape) * dtype.itemsize  # Python integers: np.prod of large sizes wraps around
    actual = len(payload) - header_end
    if actual != expected:
        raise IDXFormatError(
            f"{name}: header declares shape {shape} ({expected} bytes of data), file holds {actual} bytes"
        )
    array = np.frombuffer(payload, dtype=dtype, offset=header_end).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of ``array`` (used by tests to build small fake datasets)."""
    array = np.asarray(array)
    for code, dtype in TYPE_CODES.items():
        if dtype.kind == array.dtype.kind and dtype.itemsize == array.dtype.itemsize:
            header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
            return header + array.astype(dtype, copy=False).tobytes()
    raise ValueError(f"IDX cannot store dtype {array.dtype}")

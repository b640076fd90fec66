"""Models and updates as canonical safetensors bytes, and the ONE function that hashes them.

Audit needs "same tensors, same bytes, same sha256" on every machine and every library version, so the bytes are
written here rather than by ``safetensors.numpy.save`` (whose header layout has changed between releases):

* tensors sorted by name, laid out back to back in that order;
* one dtype, little-endian float32 (``F32``); names are non-empty ASCII;
* header = compact JSON with sorted keys and no ``__metadata__``, right-padded with spaces to a multiple of 8.

The result is a valid safetensors file that any safetensors reader loads. ``decode`` parses the header with
``json`` and the data with ``numpy.frombuffer``: nothing is ever unpickled, and it refuses any input that is not
in this exact canonical form (it re-encodes and compares), so one model has exactly one byte string and one digest.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from fedledger.exceptions import CodecError

Array = npt.NDArray[np.float32]
Tensors = dict[str, Array]

DTYPE = np.dtype("<f4")
DTYPE_NAME = "F32"
HEADER_ALIGN = 8
MAX_HEADER_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_BYTES = 512 * 1024 * 1024


def model_digest(data: bytes) -> bytes:
    """Return the sha256 of canonical model bytes: the digest registered on-chain.

    This is the only place a model is hashed. Callers hash ``encode(...)`` output or bytes that ``decode`` accepted.
    """
    return hashlib.sha256(data).digest()


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name or not name.isascii():
        raise CodecError(f"tensor name {name!r} must be a non-empty ASCII string")
    if name == "__metadata__":
        raise CodecError("'__metadata__' is reserved by safetensors and cannot name a tensor")
    return name


def encode(tensors: Mapping[str, npt.ArrayLike]) -> bytes:
    """Serialise ``tensors`` to canonical safetensors bytes.

    Parameters
    ----------
    tensors:
        Name -> array. Values are converted to little-endian float32; non-float input is refused rather than
        silently cast, except for exact float64 -> float32 conversion of model weights.

    Returns
    -------
    bytes
        The canonical byte form; ``model_digest`` of it is the model's identity.
    """
    if not tensors:
        raise CodecError("a model needs at least one tensor")
    header: dict[str, dict[str, object]] = {}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        _check_name(name)
        array = np.asarray(tensors[name])
        if array.dtype.kind != "f":
            raise CodecError(f"tensor {name!r} has dtype {array.dtype}; models are floating point")
        raw = np.ascontiguousarray(array, dtype=DTYPE).tobytes()
        header[name] = {
            "dtype": DTYPE_NAME,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("ascii")
    header_bytes += b" " * (-len(header_bytes) % HEADER_ALIGN)
    return struct.pack("<Q", len(header_bytes)) + header_bytes + b"".join(chunks)


def decode(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Tensors:
    """Parse canonical safetensors bytes into float32 arrays (read-only views are copied to owned arrays).

    Raises
    ------
    CodecError
        If the bytes are too large, truncated, not safetensors, use another dtype, or are not canonical.
    """
    if len(data) > max_bytes:
        raise CodecError(f"model is {len(data)} bytes, over the limit of {max_bytes}")
    if len(data) < 8:
        raise CodecError("not a safetensors file: shorter than its 8-byte header length")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(MAX_HEADER_BYTES, len(data) - 8):
        raise CodecError(f"safetensors header length {header_len} exceeds the file")
    try:
        header = json.loads(data[8 : 8 + header_len].decode("ascii"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CodecError(f"safetensors header is not ASCII JSON: {exc}") from None
    if not isinstance(header, dict) or not header:
        raise CodecError("safetensors header must be a non-empty JSON object")
    if "__metadata__" in header:
        raise CodecError("canonical models carry no __metadata__")
    body = memoryview(data)[8 + header_len :]
    tensors: Tensors = {}
    for name, info in header.items():
        tensors[_check_name(name)] = _read_tensor(name, info, body)
    if encode(tensors) != data:
        raise CodecError(
            "bytes are a safetensors file but not in canonical form (order, padding or layout differ)"
        )
    return tensors


def _read_tensor(name: str, info: object, body: memoryview) -> Array:
    """Read one tensor described by its header entry, checking dtype, shape and bounds."""
    if not isinstance(info, dict) or info.get("dtype") != DTYPE_NAME:
        raise CodecError(f"tensor {name!r}: dtype must be {DTYPE_NAME}, got {info!r:.80}")
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise CodecError(f"tensor {name!r}: bad shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
        raise CodecError(f"tensor {name!r}: bad data_offsets {offsets!r}")
    start, end = offsets
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if not 0 <= start <= end <= len(body) or end - start != count * DTYPE.itemsize:
        raise CodecError(
            f"tensor {name!r}: data_offsets {offsets} do not match shape {shape} within the file"
        )
    return np.frombuffer(body[start:end], dtype=DTYPE).reshape(shape).astype(np.float32, copy=True)


def digest_hex(digest: bytes) -> str:
    """Format a 32-byte digest the way the chain and the CLI show it (0x-prefixed lowercase hex)."""
    return "0x" + digest.hex()

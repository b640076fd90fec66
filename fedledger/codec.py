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
MAX_JSON_DEPTH = 4  # {name: {"shape": [..], ...}} is 3 deep
MAX_TENSORS = 100_000
MAX_RANK = 16


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
    arrays: dict[str, Array] = {}
    for name in sorted(tensors):
        _check_name(name)
        array = np.asarray(tensors[name])
        if array.dtype.kind != "f":
            raise CodecError(f"tensor {name!r} has dtype {array.dtype}; models are floating point")
        arrays[name] = np.require(array, dtype=DTYPE, requirements="C")  # no copy when already LE float32
    prefix = _header(arrays)
    # One join over buffers: the data is copied once, into the result (a model-sized file costs one model).
    return b"".join([prefix, *(a.data.cast("B") for a in arrays.values() if a.size)])


def _header(arrays: Mapping[str, Array]) -> bytes:
    """The 8-byte length and the padded JSON header of ``arrays`` laid out back to back in name order."""
    header: dict[str, dict[str, object]] = {}
    offset = 0
    for name in sorted(arrays):
        size = arrays[name].size * DTYPE.itemsize
        header[name] = {
            "dtype": DTYPE_NAME,
            "shape": list(arrays[name].shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("ascii")
    header_bytes += b" " * (-len(header_bytes) % HEADER_ALIGN)
    return struct.pack("<Q", len(header_bytes)) + header_bytes


def decode(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Tensors:
    """Parse canonical safetensors bytes into float32 arrays (read-only views are copied to owned arrays).

    The bytes are untrusted (a participant chose them), so everything is bounded before anything is allocated or
    parsed, as the reference parser does (huggingface/safetensors ``tensor.rs``): the header length, the JSON
    nesting depth (checked by a linear scan before ``json`` sees the text: a deeply nested header otherwise
    overflows the C stack once py-evm has raised the recursion limit), the number of tensors, every shape product
    (in Python integers, against the bytes actually present) and every offset.

    Raises
    ------
    CodecError
        If the bytes are too large, truncated, not safetensors, use another dtype, or are not canonical. No other
        exception leaves this function.
    """
    try:
        return _decode(data, max_bytes)
    except CodecError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError, UnicodeError) as exc:
        # Every bound below should make this unreachable; it stays as the last line of defence.
        raise CodecError(f"not a canonical model ({type(exc).__name__}: {str(exc)[:120]})") from None


def _decode(data: bytes, max_bytes: int) -> Tensors:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CodecError(f"model bytes must be bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise CodecError(f"model is {len(data)} bytes, over the limit of {max_bytes}")
    if len(data) < 8:
        raise CodecError("not a safetensors file: shorter than its 8-byte header length")
    (header_len,) = struct.unpack("<Q", bytes(data[:8]))
    if header_len > min(MAX_HEADER_BYTES, len(data) - 8):
        raise CodecError(f"safetensors header length {header_len} exceeds the file")
    if header_len % HEADER_ALIGN:
        raise CodecError(f"safetensors header length {header_len} is not a multiple of {HEADER_ALIGN}")
    raw_header = bytes(data[8 : 8 + header_len])
    header = _parse_header(raw_header)
    body = memoryview(data)[8 + header_len :]
    tensors: Tensors = {}
    for name, info in header.items():
        tensors[_check_name(name)] = _read_tensor(name, info, body)
    # Canonical iff the header is the one encode() writes for these tensors (which fixes every offset to the
    # back-to-back layout in name order) and nothing follows the data: then the bytes are encode()'s, without
    # re-encoding a model-sized copy to compare.
    expected = _header(tensors)
    data_size = sum(t.size for t in tensors.values()) * DTYPE.itemsize
    if bytes(data[: 8 + header_len]) != expected or len(data) != 8 + header_len + data_size:
        raise CodecError(
            "bytes are a safetensors file but not in canonical form (order, padding or layout differ)"
        )
    return tensors


def _parse_header(raw: bytes) -> dict[str, object]:
    """The header's JSON object, after bounding its nesting depth and entry count without recursion."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise CodecError("safetensors header is not ASCII") from None
    _check_depth(text)
    if text.count('"data_offsets"') > MAX_TENSORS:
        raise CodecError(f"safetensors header names more than {MAX_TENSORS} tensors")
    try:
        header = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise CodecError(f"safetensors header is not JSON: {exc}") from None
    if not isinstance(header, dict) or not header:
        raise CodecError("safetensors header must be a non-empty JSON object")
    if "__metadata__" in header:
        raise CodecError("canonical models carry no __metadata__")
    if len(header) > MAX_TENSORS:
        raise CodecError(f"safetensors header names more than {MAX_TENSORS} tensors")
    return header


def _refuse_constant(name: str) -> object:
    raise CodecError(f"safetensors header holds {name}, which JSON does not allow")


def _check_depth(text: str) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH, scanning once and skipping string contents."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise CodecError(f"safetensors header is nested deeper than {MAX_JSON_DEPTH} levels")
        elif char in "]}":
            depth -= 1


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_tensor(name: str, info: object, body: memoryview) -> Array:
    """Read one tensor described by its header entry, checking dtype, shape and bounds before numpy sees them."""
    if not isinstance(info, dict) or info.get("dtype") != DTYPE_NAME:
        raise CodecError(f"tensor {name!r}: dtype must be {DTYPE_NAME}, got {str(info)[:80]}")
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not (isinstance(shape, list) and len(shape) <= MAX_RANK and all(_is_int(d) and d >= 0 for d in shape)):
        raise CodecError(f"tensor {name!r}: bad shape {str(shape)[:80]}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
        raise CodecError(f"tensor {name!r}: bad data_offsets {str(offsets)[:80]}")
    start, end = offsets
    count = 0 if 0 in shape else 1
    for dim in shape if count else ():  # Python integers: no overflow; stop once the product is impossible
        count *= dim
        if count * DTYPE.itemsize > len(body):
            raise CodecError(f"tensor {name!r}: shape {shape} needs more bytes than the file holds")
    if not 0 <= start <= end <= len(body) or end - start != count * DTYPE.itemsize:
        raise CodecError(
            f"tensor {name!r}: data_offsets {offsets} do not match shape {shape} within the file"
        )
    return np.frombuffer(body[start:end], dtype=DTYPE).reshape(shape).astype(np.float32, copy=True)


def digest_hex(digest: bytes) -> str:
    """Format a 32-byte digest the way the chain and the CLI show it (0x-prefixed lowercase hex)."""
    return "0x" + digest.hex()

"""Models and updates as canonical safetensors bytes, and the ONE function that hashes them.

Audit needs "same tensors, same bytes, same sha256" on every machine and every library version, so the bytes are
written here rather than by ``safetensors.numpy.save`` (whose header layout has changed between releases):

* tensors sorted by name, laid out back to back in that order;
* one dtype, little-endian float32 (``F32``); names are non-empty ASCII;
* header = compact JSON with sorted keys and no ``__metadata__``, right-padded with spaces to a multiple of 8.

The result is a valid safetensors file that any safetensors reader loads. ``decode`` parses the header with
``json`` and the data with ``numpy.frombuffer``: nothing is ever unpickled, and it refuses any input that is not
in this exact canonical form (its header must be the one ``encode`` writes for the tensors read), so one model has
exactly one byte string and one digest.

``decode`` reads bytes a participant chose, so it parses like the safetensors reference parser
(huggingface/safetensors ``safetensors/src/tensor.rs``): the work of every step is bounded before the step runs
(header length; JSON nesting, entry count and number length by a linear scan before ``json`` sees the text; every
shape product and offset against the bytes present before numpy sees them), and each failure is one
``CodecError`` of one short line. ``encode`` refuses what ``decode`` would refuse, so every model it writes reads back.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from fedledger.exceptions import CodecError

Array = npt.NDArray[np.float32]
Tensors = dict[str, Array]

DTYPE = np.dtype("<f4")
DTYPE_NAME = "F32"
HEADER_ALIGN = 8
# Bounds on what a header may ask of the parser, all checked before json.loads runs. They are far above any real
# model (a canonical entry is ~70 bytes plus its name: 10,000 tensors with 300-character names fit) and keep a
# hostile header's cost to a fraction of a second: json.loads builds at most ~MAX_COMMAS + MAX_COLONS values.
MAX_HEADER_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
MAX_JSON_DEPTH = 4  # {name: {"shape": [..], ...}} is 3 deep
MAX_TENSORS = 10_000
MAX_RANK = 16
MAX_COLONS = 4 * MAX_TENSORS  # per tensor: its name and its three keys
# per tensor: one "," after it, two between its keys, one in its offsets and rank - 1 in its shape
MAX_COMMAS = (3 + MAX_RANK) * MAX_TENSORS
MAX_DIGITS = 20  # 2**64 has 20; a longer integer is never a valid offset and costs quadratic time to convert
ENTRY_KEYS = frozenset({"data_offsets", "dtype", "shape"})
MAX_EMPTY_EXTENT = (
    2**31 - 1
)  # bytes of an empty tensor's non-zero dimensions: within numpy's size type anywhere
MESSAGE_CHARS = 80  # of an untrusted value quoted in an error, so that the error stays one line
_LONG_INTEGER = re.compile(f"[0-9]{{{MAX_DIGITS + 1}}}")


def model_digest(data: bytes) -> bytes:
    """Return the sha256 of canonical model bytes: the digest registered on-chain.

    This is the only place a model is hashed. Callers hash ``encode(...)`` output or bytes that ``decode`` accepted.
    """
    return hashlib.sha256(data).digest()


def _short(value: object) -> str:
    """repr of an untrusted value, cut to MESSAGE_CHARS so that an error stays one readable line."""
    text = repr(value)
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name or not name.isascii():
        raise CodecError(f"tensor name {_short(name)} must be a non-empty ASCII string")
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
        The canonical byte form; ``model_digest`` of it is the model's identity. A model over ``decode``'s bounds
        (tensor count, rank, header size) is refused here, so every model written can be read back.
    """
    if not tensors:
        raise CodecError("a model needs at least one tensor")
    if len(tensors) > MAX_TENSORS:
        raise CodecError(f"a model has at most {MAX_TENSORS} tensors, got {len(tensors)}")
    arrays: dict[str, Array] = {}
    for name in sorted(tensors):
        _check_name(name)
        array = np.asarray(tensors[name])
        if array.dtype.kind != "f":
            raise CodecError(f"tensor {name!r} has dtype {array.dtype}; models are floating point")
        if array.ndim > MAX_RANK:
            raise CodecError(f"tensor {name!r} has {array.ndim} dimensions, at most {MAX_RANK} allowed")
        if array.size == 0 and _empty_extent(array.shape) > MAX_EMPTY_EXTENT:
            raise CodecError(
                f"tensor {name!r}: empty shape {array.shape} is too large to be read back everywhere"
            )
        arrays[name] = np.require(array, dtype=DTYPE, requirements="C")  # no copy when already LE float32
    prefix = _header(arrays)
    if len(prefix) - 8 > MAX_HEADER_BYTES:
        raise CodecError(f"the header is {len(prefix) - 8} bytes, over the limit of {MAX_HEADER_BYTES}")
    _check_header_text(prefix[8:].decode("ascii"))
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

    The bytes are untrusted (a participant chose them), so every step is bounded before it runs (see the module
    docstring): nothing a file says can make this raise another exception, recurse, allocate beyond the file's
    own size, or run for long. A deeply nested header in particular is refused before ``json`` would overflow the
    C stack (a library in the same process may raise the recursion limit, as py-evm did to 100,000, and
    Python's own guard then no longer fires in time).

    Raises
    ------
    CodecError
        If the bytes are too large, truncated, not safetensors, use another dtype, or are not canonical; its message
        is one line. No other exception leaves this function.
    """
    try:
        return _decode(data, max_bytes)
    except CodecError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError, UnicodeError) as exc:
        # Unreachable by the bounds below (the fuzz tests call _decode to prove it); the last line of defence.
        raise CodecError(f"not a canonical model ({type(exc).__name__}: {str(exc)[:120]})") from None


def _decode(data: bytes, max_bytes: int) -> Tensors:
    """decode without its last line of defence: every refusal here is a named check."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CodecError(f"model bytes must be bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise CodecError(f"model is {len(data)} bytes, over the limit of {max_bytes}")
    if len(data) < 8:
        raise CodecError("not a safetensors file: shorter than its 8-byte header length")
    (header_len,) = struct.unpack("<Q", bytes(data[:8]))
    if header_len > len(data) - 8:
        raise CodecError(f"safetensors header length {header_len} exceeds the file ({len(data)} bytes)")
    if header_len > MAX_HEADER_BYTES:
        raise CodecError(f"safetensors header is {header_len} bytes, over the limit of {MAX_HEADER_BYTES}")
    if header_len % HEADER_ALIGN:
        raise CodecError(f"safetensors header length {header_len} is not a multiple of {HEADER_ALIGN}")
    raw_header = bytes(data[8 : 8 + header_len])
    body = memoryview(data)[8 + header_len :]
    layout = _check_layout(_parse_header(raw_header), len(body))
    tensors: Tensors = {
        name: np.frombuffer(body[start:end], dtype=DTYPE).reshape(shape).astype(np.float32, copy=True)
        for name, (shape, start, end) in layout.items()
    }
    # The layout check fixed every offset to encode()'s back-to-back layout covering the whole body, so the bytes
    # are encode()'s iff the header is the one it writes: no model-sized copy is re-encoded to compare.
    if bytes(data[: 8 + header_len]) != _header(tensors):
        raise CodecError(
            "bytes are a safetensors file but not in canonical form (header spacing, key order or padding differ)"
        )
    return tensors


def _parse_header(raw: bytes) -> dict[str, object]:
    """The header's JSON object, parsed only once its depth, size and numbers are known to be bounded."""
    if not raw.isascii():
        raise CodecError("safetensors header is not ASCII")
    text = raw.decode("ascii")
    _check_header_text(text)
    try:
        header = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    except CodecError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise CodecError(f"safetensors header is not JSON: {_short(str(exc))}") from None
    if not isinstance(header, dict) or not header:
        raise CodecError("safetensors header must be a non-empty JSON object")
    if "__metadata__" in header:
        raise CodecError("canonical models carry no __metadata__")
    if len(header) > MAX_TENSORS:
        raise CodecError(f"safetensors header names {len(header)} tensors, at most {MAX_TENSORS} allowed")
    return header


def _check_header_text(text: str) -> None:
    """Bound the work json.loads may do on ``text``: separator counts, integer lengths, nesting depth.

    The counts are over the raw text, names included (cheap, and ``encode`` applies the same check to what it
    writes, so no model it writes is refused here). The depth is counted outside strings, as ``json`` sees them.
    """
    if text.count(":") > MAX_COLONS or text.count(",") > MAX_COMMAS:
        raise CodecError(f"safetensors header holds more entries than {MAX_TENSORS} tensors can have")
    if _LONG_INTEGER.search(text):
        raise CodecError(f"safetensors header holds a number longer than {MAX_DIGITS} digits")
    _check_depth(text)


def _check_depth(text: str) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH in one pass that skips string contents, before json recurses.

    json recurses once per bracket (a header nested 100,000 deep overflows the C stack once a library has raised
    the recursion limit to 100,000, as py-evm once did), and up to its first syntax error it sees strings where this scan
    does, so the depth found here bounds its recursion on any input, valid or not. One pass, linear in the header's
    length (the codec's throughput: BENCHMARKS.md, Codec and CID throughput).
    """
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


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """object_pairs_hook: with a repeated key, two safetensors readers could see two different models."""
    obj: dict[str, object] = {}
    for key, value in pairs:
        if key in obj:
            raise CodecError(f"safetensors header repeats the key {_short(key)}")
        obj[key] = value
    return obj


def _refuse_constant(name: str) -> object:
    raise CodecError(f"safetensors header holds {name}, which JSON does not allow")


def _check_layout(header: dict[str, object], body_len: int) -> dict[str, tuple[list[int], int, int]]:
    """Name -> (shape, start, end) in name order, the spans proven to lie back to back and fill the data exactly."""
    layout: dict[str, tuple[list[int], int, int]] = {}
    position = 0
    for name in sorted(header):
        shape, start, end = _check_entry(_check_name(name), header[name], body_len)
        if start != position:
            raise CodecError(
                f"tensor {_short(name)} starts at byte {start}, expected {position}: "
                "tensors lie back to back in name order, with no gap and no overlap"
            )
        layout[name] = (shape, start, end)
        position = end
    if position != body_len:
        raise CodecError(f"tensors cover {position} bytes of data, the file holds {body_len}")
    return layout


def _check_entry(name: str, info: object, body_len: int) -> tuple[list[int], int, int]:
    """One header entry -> (shape, start, end), its shape product checked against the data before numpy sees it."""
    if not isinstance(info, dict) or info.keys() != ENTRY_KEYS:
        raise CodecError(
            f"tensor {_short(name)}: entry must hold exactly {sorted(ENTRY_KEYS)}, got {_short(info)}"
        )
    if info["dtype"] != DTYPE_NAME:
        raise CodecError(f"tensor {_short(name)}: dtype must be {DTYPE_NAME}, got {_short(info['dtype'])}")
    shape, offsets = info["shape"], info["data_offsets"]
    if not (isinstance(shape, list) and len(shape) <= MAX_RANK and all(_is_count(d) for d in shape)):
        raise CodecError(
            f"tensor {_short(name)}: shape must be a list of at most {MAX_RANK} non-negative integers, "
            f"got {_short(shape)}"
        )
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
        raise CodecError(
            f"tensor {_short(name)}: data_offsets must be two non-negative integers, got {_short(offsets)}"
        )
    size = math.prod(shape) * DTYPE.itemsize  # Python integers: no overflow, however large the dimensions
    if size > body_len:
        raise CodecError(
            f"tensor {_short(name)}: shape {_short(shape)} needs {size} bytes, more than the {body_len} data bytes"
        )
    if size == 0 and _empty_extent(shape) > MAX_EMPTY_EXTENT:
        raise CodecError(f"tensor {_short(name)}: empty shape {_short(shape)} is too large for an array")
    start, end = offsets
    if not start <= end <= body_len or end - start != size:
        raise CodecError(
            f"tensor {_short(name)}: data_offsets {_short(offsets)} must span the {size} bytes of shape "
            f"{_short(shape)} within the {body_len} data bytes"
        )
    return shape, start, end


def _empty_extent(shape: Sequence[int]) -> int:
    """Bytes of the non-zero dimensions: numpy sizes an empty array by them too, and refuses [0, 2**62, 2**62]."""
    return math.prod(d for d in shape if d) * DTYPE.itemsize


def _is_count(value: object) -> bool:
    """A non-negative int that is not a bool (bool subclasses int, and json turns true into True)."""
    return type(value) is int and value >= 0


def digest_hex(digest: bytes) -> str:
    """Format a 32-byte digest the way the chain and the CLI show it (0x-prefixed lowercase hex)."""
    return "0x" + digest.hex()

"""Fuzzing the update decoder: 10,000 random and mutated files, and only a short CodecError ever comes out.

Volume: 2,500 random byte strings, 3,500 byte-level mutations of canonical files (bit flips, truncation,
insertion, deletion, splices of two files), 2,500 header rewrites (random JSON put in place of a shape, the
offsets or the dtype) and 1,500 hostile layouts (shapes and offsets mixing zeros with 2**31..2**64-sized numbers).
Derandomized, so every run tries the same inputs; a per-input deadline catches a hang. `make test` runs a fifth
of each volume (2,000 inputs), `make test-all` the full 10,000 too (the `_full` tests, marked slow). The property is checked on ``codec._decode``, the decoder without its last-resort translation of builtin
errors into CodecError: an input that only that translation refused would be a missing bound, and fail here.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedledger import codec
from fedledger.exceptions import CodecError

SEEDS = [
    codec.encode({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3, np.float32)}),
    codec.encode({"layers.0.weight": np.zeros((4, 4), np.float32)}),
    codec.encode({"x": np.array([], np.float32).reshape(0, 5), "y": np.float32(7.0).reshape(())}),
]


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=2000,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )


def fuzz_twice(examples: int, strategy: st.SearchStrategy[bytes]) -> tuple[Any, Any]:
    """``decodes_or_refuses`` over ``strategy``: a fifth of the examples for `make test`, and all of them in a
    second test marked ``slow`` for `make test-all`."""
    fast = fuzz(examples // 5)(given(strategy)(decodes_or_refuses))
    full = pytest.mark.slow(fuzz(examples)(given(strategy)(decodes_or_refuses)))
    return fast, full


def decodes_or_refuses(data: bytes) -> None:
    """The property: a dict of float32 arrays, or a one-line CodecError; anything else fails the test."""
    try:
        tensors = codec._decode(data, codec.DEFAULT_MAX_BYTES)
    except CodecError as exc:
        assert "\n" not in str(exc) and len(str(exc)) <= 400, str(exc)[:200]
        return
    assert tensors and all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in tensors.values())
    assert codec.encode(tensors) == data  # accepted input is canonical: one model, one byte string


test_random_bytes, test_random_bytes_full = fuzz_twice(2500, st.binary(max_size=600))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "splice"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            other = draw(st.sampled_from(SEEDS))
            data = data[:at] + other[draw(st.integers(0, len(other))) :]
    return bytes(data)


test_mutated_canonical_files, test_mutated_canonical_files_full = fuzz_twice(3500, mutated())


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)


@st.composite
def rewritten_headers(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(SEEDS))
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    name = draw(st.sampled_from(sorted(header)))
    field = draw(st.sampled_from(["shape", "data_offsets", "dtype", "entry"]))
    if field == "entry":
        header[name] = draw(json_values)
    else:
        header[name][field] = draw(json_values)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + length :]


test_rewritten_headers, test_rewritten_headers_full = fuzz_twice(2500, rewritten_headers())


# Numbers where integer widths end: a product or a single dimension past them overflowed numpy's size arithmetic.
edge_numbers = st.sampled_from(
    [0, 1, 2, 3, 4, 16, 2**31 - 1, 2**31, 2**32, 2**62, 2**63 - 1, 2**63, 2**64 - 1]
)
edge_or_any = edge_numbers | st.integers(0, 64) | st.booleans() | st.integers(-(2**64), -1)


@st.composite
def hostile_layouts(draw: st.DrawFn) -> bytes:
    names = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True))
    header = {
        name: {
            "dtype": draw(st.sampled_from(["F32", "F32", "F32", "F64"])),
            "shape": draw(st.lists(edge_or_any, max_size=4)),
            "data_offsets": draw(st.lists(edge_or_any, min_size=2, max_size=2)),
        }
        for name in names
    }
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(draw(st.sampled_from([0, 4, 8, 16, 48])))


test_hostile_layouts, test_hostile_layouts_full = fuzz_twice(1500, hostile_layouts())

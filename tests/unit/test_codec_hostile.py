"""Hostile update files: each is refused as a CodecError that names what is wrong (the aggregator's `malformed`),
never a crash, a hang, an exhausted process or a multi-megabyte error; `node submit` refuses them in one line."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fedledger import codec
from fedledger.cli.app import app
from fedledger.exceptions import CodecError, ValidationError
from fedledger.rules.validation import validate_update

BASE = {"w": np.zeros((2, 2), np.float32)}
MESSAGE_LIMIT = 400  # characters: an error quotes at most a few cut-down values


def with_header(header: object, body: bytes = b"\x00" * 16, raw: bytes | None = None) -> bytes:
    """A file with the given JSON header (padded like a canonical one) followed by ``body``."""
    text = raw if raw is not None else json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def entry(shape: object, offsets: object = (0, 16), dtype: str = "F32") -> dict[str, object]:
    return {
        "dtype": dtype,
        "shape": shape,
        "data_offsets": list(offsets) if isinstance(offsets, tuple) else offsets,
    }


def many_tensors(count: int) -> bytes:
    """A header with ``count`` well-formed empty tensors in canonical order: only their number is wrong."""
    entries = b",".join(b'"t%06d":{"data_offsets":[0,0],"dtype":"F32","shape":[0]}' % i for i in range(count))
    return with_header(None, b"", raw=b"{" + entries + b"}")


# name -> (file, what the error must say): each file is refused by the check meant for it, not by a later one.
HOSTILE: dict[str, tuple[bytes, str]] = {
    "shape 2**70": (with_header({"w": entry([2**70])}), "longer than 20 digits"),
    "shape 2**32 x 2**32 (product overflows int64)": (
        with_header({"w": entry([2**32, 2**32])}),
        "needs 73786976294838206464 bytes, more than the 16 data bytes",
    ),
    "shape 2**64 - 1": (with_header({"w": entry([2**64 - 1])}), "more than the 16 data bytes"),
    "zero-size shape with dimensions numpy refuses": (
        with_header({"w": entry([0, 2**62, 2**62], (0, 0))}, b""),
        "is too large for an array",
    ),
    "zero-size shape with a 2**64 - 1 dimension": (
        with_header({"w": entry([0, 2**64 - 1], (0, 0))}, b""),
        "is too large for an array",
    ),
    "a 5,000-digit dimension": (
        with_header(None, raw=b'{"w":{"data_offsets":[0,16],"dtype":"F32","shape":[' + b"9" * 5000 + b"]}}"),
        "longer than 20 digits",
    ),
    "shape of bools": (with_header({"w": entry([True, True])}), "non-negative integers, got [True, True]"),
    "negative dimension": (with_header({"w": entry([-4])}), "non-negative integers, got [-4]"),
    "float dimension": (with_header({"w": entry([2.0, 2])}), "non-negative integers, got [2.0, 2]"),
    "shape not a list": (with_header({"w": entry("2x2")}), "shape must be a list"),
    "rank 100": (with_header({"w": entry([1] * 100)}), "at most 16 non-negative integers"),
    "offsets past the end": (with_header({"w": entry([2, 2], (0, 4096))}), "within the 16 data bytes"),
    "negative offsets": (
        with_header({"w": entry([2, 2], (-16, 0))}),
        "two non-negative integers, got [-16, 0]",
    ),
    "boolean offsets": (with_header({"w": entry([2, 2], [False, True])}), "got [False, True]"),
    "offsets not a pair": (with_header({"w": entry([2, 2], [0, 8, 16])}), "two non-negative integers"),
    "offsets reversed": (with_header({"w": entry([0], (16, 0))}), "data_offsets [16, 0] must span"),
    "overlapping tensors": (
        with_header({"a": entry([2, 2]), "b": entry([2, 2])}, b"\x00" * 32),
        "tensor 'b' starts at byte 0, expected 16",
    ),
    "a gap between tensors": (
        with_header({"a": entry([1], (0, 4)), "b": entry([2], (8, 16))}),
        "tensor 'b' starts at byte 8, expected 4",
    ),
    "bytes after the last tensor": (with_header({"w": entry([2], (0, 8))}), "cover 8 bytes of data"),
    "float16": (with_header({"w": entry([2, 2], (0, 8), dtype="F16")}, b"\x00" * 8), "dtype must be F32"),
    "an extra key in an entry": (
        with_header({"w": {**entry([2, 2]), "offset": 0}}),
        "entry must hold exactly ['data_offsets', 'dtype', 'shape']",
    ),
    "header length past the file": (struct.pack("<Q", 2**40) + b"{}", "exceeds the file"),
    "header length 2**64 - 1": (struct.pack("<Q", 2**64 - 1) + b"\x00" * 32, "exceeds the file"),
    "header over the size limit": (
        with_header(None, b"", raw=b" " * (codec.MAX_HEADER_BYTES + 8)),
        "over the limit of 4194304",
    ),
    "header length not a multiple of 8": (struct.pack("<Q", 3) + b"{}  ", "not a multiple of 8"),
    "header not ASCII": (with_header(None, raw='{"w€":{}}'.encode()), "not ASCII"),
    "header not JSON": (with_header(None, raw=b"{not json"), "not JSON"),
    "NaN literal in the header": (
        with_header(None, raw=b'{"w":{"dtype":"F32","shape":[NaN],"data_offsets":[0,16]}}'),
        "holds NaN",
    ),
    "Infinity literal": (
        with_header(None, raw=b'{"w":{"dtype":"F32","shape":[Infinity],"data_offsets":[0,16]}}'),
        "holds Infinity",
    ),
    "a list instead of an object": (with_header([1, 2, 3]), "must be a non-empty JSON object"),
    "empty object": (with_header({}), "must be a non-empty JSON object"),
    "__metadata__": (with_header({"__metadata__": {"a": "b"}, "w": entry([2, 2])}), "no __metadata__"),
    "duplicate keys": (with_header(None, raw=b'{"w":1,"w":2}'), "repeats the key 'w'"),
    "duplicate tensor names": (
        with_header(
            None,
            raw=b'{"w":%s,"w":%s}' % (json.dumps(entry([2, 2])).encode(), json.dumps(entry([2, 2])).encode()),
        ),
        "repeats the key 'w'",
    ),
    "header nested 64 deep": (with_header(None, raw=b"[" * 64 + b"]" * 64), "nested deeper than 4 levels"),
    "nesting hidden behind brackets in a name": (
        with_header(None, raw=b'{"' + b"]" * 64 + b'":' + b"[" * 64 + b"]" * 64 + b"}"),
        "nested deeper than 4 levels",
    ),
    "one tensor over the tensor limit": (many_tensors(codec.MAX_TENSORS + 1), "than 10000 tensors can have"),
    "200,000 tiny entries": (
        with_header(None, raw=b"{" + b",".join(b'"%d":0' % i for i in range(200_000)) + b"}"),
        "than 10000 tensors can have",
    ),
    "a 1 MiB tensor name": (
        with_header({"w" * (1 << 20): entry([2, 2], dtype="F16")}),
        "dtype must be F32",
    ),
    "shorter than 8 bytes": (b"\x01\x02", "shorter than its 8-byte header length"),
    "a pickle": (b"\x80\x04\x95" + b"\x00" * 64, "exceeds the file"),
}
FILES = {name: data for name, (data, _) in HOSTILE.items()}


@pytest.mark.parametrize(("data", "reason"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_file_is_refused_for_its_own_reason_in_one_short_line(data: bytes, reason: str) -> None:
    # Execute
    with pytest.raises(CodecError) as caught:
        codec.decode(data)

    # Assert: the named check fired (not the last-resort translation of a builtin error), and the message is short
    message = str(caught.value)
    assert reason in message
    assert "\n" not in message and len(message) <= MESSAGE_LIMIT, message[:200]


@pytest.mark.parametrize("data", FILES.values(), ids=FILES.keys())
def test_hostile_file_is_excluded_as_malformed(data: bytes) -> None:
    with pytest.raises(ValidationError) as info:
        validate_update(data, base=BASE, expected_digest=codec.model_digest(data), max_bytes=1 << 30)
    assert info.value.reason == "malformed"


NESTING_AFTER_A_RAISED_LIMIT = """
import struct, sys
sys.setrecursionlimit(100000)
from fedledger import codec
from fedledger.exceptions import CodecError
assert sys.getrecursionlimit() >= 100000, sys.getrecursionlimit()
deep = b'[' * 100000 + b']' * 100000
hidden = b'{"' + b']' * 100000 + b'":' + deep + b'}'
for text in (deep, hidden):
    text += b' ' * (-len(text) % 8)
    try:
        codec.decode(struct.pack('<Q', len(text)) + text)
    except CodecError as exc:
        print('refused:', exc)
"""


def test_header_nested_100000_deep_does_not_crash_after_the_recursion_limit_was_raised() -> None:
    # Prepare: a library (py-evm did) raises the recursion limit to 100,000; json.loads of such nesting then
    # overflows the C stack (a segmentation fault) unless the decoder refuses it first. The second header hides its
    # nesting from a scan that would count the closing brackets inside its name.
    # Execute
    done = subprocess.run(
        [sys.executable, "-c", NESTING_AFTER_A_RAISED_LIMIT],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    # Assert
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-500:]}"
    assert done.stdout.count("refused: safetensors header is nested deeper than 4 levels") == 2, done.stdout


def test_long_integers_are_refused_even_when_python_no_longer_limits_their_digits() -> None:
    # Prepare: with the limit off (some hosts turn it off), int() of a huge literal runs in quadratic time
    data = with_header(
        None, raw=b'{"w":{"data_offsets":[0,16],"dtype":"F32","shape":[' + b"7" * 200_000 + b"]}}"
    )
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        # Execute / Assert
        with pytest.raises(CodecError, match="longer than 20 digits"):
            codec.decode(data)
    finally:
        sys.set_int_max_str_digits(previous)


def test_names_holding_brackets_quotes_and_colons_still_decode() -> None:
    # Prepare: the depth scan skips string contents, so JSON syntax inside names is data, not structure
    tensors = {'a[[[[["x': np.ones(2, np.float32), 'b]]]]\\"}}}}:,': np.zeros((1, 3), np.float32)}

    # Execute
    decoded = codec.decode(codec.encode(tensors))

    # Assert
    assert set(decoded) == set(tensors)
    np.testing.assert_array_equal(decoded['a[[[[["x'], tensors['a[[[[["x'])


def test_empty_tensors_with_wide_dimensions_still_decode() -> None:
    # Prepare: numpy sizes an empty array by its other dimensions, which need not fit in the (empty) data
    tensors = {"e": np.zeros((0, 1000, 3), np.float32), "w": np.ones(2, np.float32)}

    # Execute
    decoded = codec.decode(codec.encode(tensors))

    # Assert
    assert decoded["e"].shape == (0, 1000, 3)
    np.testing.assert_array_equal(decoded["w"], tensors["w"])


def test_decode_turns_an_unforeseen_builtin_error_into_a_codec_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: a bug in a check must still not kill the aggregator
    def broken(header: object, body_len: int) -> object:
        raise OverflowError("a check forgot a bound")

    monkeypatch.setattr(codec, "_check_layout", broken)

    # Execute / Assert
    with pytest.raises(CodecError, match="OverflowError: a check forgot a bound"):
        codec.decode(codec.encode(BASE))


@pytest.mark.parametrize(
    ("tensors", "reason"),
    [
        pytest.param({"w": np.zeros((1,) * 17, np.float32)}, "17 dimensions", id="rank-17"),
        pytest.param(
            {f"t{i}": np.zeros(0, np.float32) for i in range(codec.MAX_TENSORS + 1)},
            "at most 10000",
            id="tensors",
        ),
        pytest.param(
            {"w" * codec.MAX_HEADER_BYTES: np.zeros(1, np.float32)}, "over the limit", id="header-size"
        ),
        pytest.param(
            {"w" + "1" * 21: np.zeros(1, np.float32)}, "longer than 20 digits", id="digits-in-a-name"
        ),
    ],
)
def test_encode_refuses_a_model_that_decode_would_refuse(tensors: codec.Tensors, reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        codec.encode(tensors)


@pytest.mark.parametrize("name", ["shape 2**70", "header nested 64 deep", "a pickle", "a 1 MiB tensor name"])
def test_node_submit_refuses_a_hostile_file_in_one_line(tmp_path: Path, name: str) -> None:
    # Prepare
    update = tmp_path / "update.safetensors"
    update.write_bytes(FILES[name])

    # Execute
    result = CliRunner().invoke(
        app, ["node", "submit", str(update), "--task", "1", "--samples", "1", "--rpc-url", "embedded"]
    )

    # Assert: exit 2 (bad input), one error naming the file, nothing escaped
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.output.count("error:") == 1
    assert f"update file {update} is not a canonical fedledger model" in " ".join(result.output.split())
    assert len(result.output) <= MESSAGE_LIMIT + len(str(update)) + 100

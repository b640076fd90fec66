"""Hostile update files: every one is refused as a CodecError (the aggregator's `malformed`), never a crash, a hang
or an exhausted process; `node submit` refuses them in one line."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aggregator.validation import validate_update
from fedledger import codec
from fedledger.cli.app import app
from fedledger.exceptions import CodecError, ValidationError

BASE = {"w": np.zeros((2, 2), np.float32)}


def with_header(header: object, body: bytes = b"\x00" * 16, raw: bytes | None = None) -> bytes:
    """A file with the given JSON header (padded like a canonical one) followed by ``body``."""
    text = raw if raw is not None else json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def entry(shape: object, offsets: object = (0, 16), dtype: str = "F32") -> dict[str, object]:
    return {
        "dtype": dtype,
        "shape": shape,
        "data_offsets": list(offsets) if isinstance(offsets, tuple) else offsets,
    }


HOSTILE = {
    "shape 2**70": with_header({"w": entry([2**70])}),
    "shape 2**32 x 2**32 (product overflows int64)": with_header({"w": entry([2**32, 2**32])}),
    "shape of bools": with_header({"w": entry([True, True])}),
    "negative dimension": with_header({"w": entry([-4])}),
    "float dimension": with_header({"w": entry([2.0, 2])}),
    "rank 100": with_header({"w": entry([1] * 100)}),
    "offsets past the end": with_header({"w": entry([2, 2], (0, 4096))}),
    "negative offsets": with_header({"w": entry([2, 2], (-16, 0))}),
    "boolean offsets": with_header({"w": entry([2, 2], [False, True])}),
    "overlapping tensors": with_header({"a": entry([2, 2]), "b": entry([2, 2])}),
    "offsets not a pair": with_header({"w": entry([2, 2], [0, 8, 16])}),
    "float16": with_header({"w": entry([2, 2], (0, 8), dtype="F16")}, b"\x00" * 8),
    "header length past the file": struct.pack("<Q", 2**40) + b"{}",
    "header length 2**64 - 1": struct.pack("<Q", 2**64 - 1) + b"\x00" * 32,
    "header not ASCII": with_header(None, raw='{"w€":{}}'.encode()),
    "header not JSON": with_header(None, raw=b"{not json"),
    "NaN literal in the header": with_header(
        None, raw=b'{"w":{"dtype":"F32","shape":[NaN],"data_offsets":[0,16]}}'
    ),
    "Infinity literal": with_header(
        None, raw=b'{"w":{"dtype":"F32","shape":[Infinity],"data_offsets":[0,16]}}'
    ),
    "a list instead of an object": with_header([1, 2, 3]),
    "empty object": with_header({}),
    "__metadata__": with_header({"__metadata__": {"a": "b"}, "w": entry([2, 2])}),
    "duplicate keys": with_header(
        None,
        raw=b'{"w":'
        + json.dumps(entry([2, 2])).encode()
        + b',"w":'
        + json.dumps(entry([2, 2])).encode()
        + b"}",
    ),
    "header nested 64 deep": with_header(None, raw=b"[" * 64 + b"]" * 64),
    "a million tensors": with_header(
        None,
        raw=b"{"
        + b",".join(
            b'"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}' % i for i in range(1_000_000 // 10)
        )
        + b"}",
    ),
    "shorter than 8 bytes": b"\x01\x02",
    "a pickle": b"\x80\x04\x95" + b"\x00" * 64,
}


@pytest.mark.parametrize("data", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_file_is_a_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        codec.decode(data)


@pytest.mark.parametrize("data", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_file_is_excluded_as_malformed(data: bytes) -> None:
    with pytest.raises(ValidationError) as info:
        validate_update(data, base=BASE, expected_digest=codec.model_digest(data), max_bytes=1 << 30)
    assert info.value.reason == "malformed"


def test_header_nested_100000_deep_does_not_crash_after_py_evm_raised_the_recursion_limit() -> None:
    # Prepare: importing eth_tester/py-evm raises the recursion limit to 100,000; json.loads of such nesting then
    # overflows the C stack (a segmentation fault) unless the decoder refuses it first
    script = (
        "import struct, sys, eth_tester\n"
        "from fedledger import codec\n"
        "from fedledger.exceptions import CodecError\n"
        "deep = b'[' * 100000 + b']' * 100000\n"
        "try:\n"
        "    codec.decode(struct.pack('<Q', len(deep)) + deep)\n"
        "except CodecError as exc:\n"
        "    print('refused:', exc, sys.getrecursionlimit())\n"
    )
    # Execute
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    # Assert
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-500:]}"
    assert "refused: safetensors header is nested deeper than 4 levels" in done.stdout


@pytest.mark.parametrize("name", ["shape 2**70", "header nested 64 deep", "a pickle"])
def test_node_submit_refuses_a_hostile_file_in_one_line(tmp_path: Path, name: str) -> None:
    update = tmp_path / "update.safetensors"
    update.write_bytes(HOSTILE[name])
    result = CliRunner().invoke(
        app, ["node", "submit", str(update), "--task", "1", "--samples", "1", "--rpc-url", "embedded"]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"update file {update} is not a canonical fedledger model" in result.output

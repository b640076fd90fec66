"""write_atomic: the one way fedledger replaces a file; a failure mid-write leaves the old file whole."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fedledger import files
from fedledger.exceptions import ConfigurationError, StoreError


def test_failure_mid_write_leaves_the_old_file_intact_and_no_temporary_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: an existing file, and a disk that fails once the new bytes are half way out
    target = tmp_path / "state.json"
    target.write_bytes(b'{"old": true}')

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)

    # Execute
    with pytest.raises(StoreError, match=r"cannot write .*state.json: No space left on device"):
        files.write_atomic(target, b'{"new": true, "padding": "' + b"x" * 100_000 + b'"}', error=StoreError)

    # Assert
    assert target.read_bytes() == b'{"old": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_write_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    target.write_bytes(b"a much longer old content")

    files.write_atomic(target, b"new")

    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]


def test_a_folder_or_a_missing_parent_is_one_named_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is a folder"):
        files.write_atomic(tmp_path, b"x")
    with pytest.raises(ConfigurationError, match=r"cannot write .*nowhere"):
        files.write_atomic(tmp_path / "nowhere" / "file", b"x")

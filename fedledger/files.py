"""Writing files so that a crash or a full disk never leaves half of one behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fedledger.exceptions import ConfigurationError, FedLedgerError


def write_atomic(path: Path, data: bytes, error: type[FedLedgerError] = ConfigurationError) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    Readers see the old file or the new one, never a torn one. A path that cannot be written (a folder, a missing
    or read-only parent) is an ``error`` (ConfigurationError unless told) that names it, and nothing is left behind.
    """
    if path.is_dir():
        raise error(f"{path} is a folder; name a file to write")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise error(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise error(f"cannot write {path}: {exc.strerror or exc}") from None

"""Shared by every suite: no test reads or writes the user's own audit cache or its key."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_audit_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("audit-cache")
    monkeypatch.setenv("FEDLEDGER_AUDIT_CACHE", str(Path(home) / "verified-rounds.json"))
    monkeypatch.setenv("FEDLEDGER_AUDIT_CACHE_KEY", str(Path(home) / "audit-cache.key"))

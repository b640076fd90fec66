"""The audit cache trusts only entries its own user's key authenticated, and only for the same chain and rules."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fedledger.audit_cache import VerifiedRounds, cache_namespace, load_or_create_key
from fedledger.codec import model_digest
from fedledger.history import RoundHistory
from fedledger.records import ChainPosition, RoundFinalized


def _finalized(block_hash: str) -> RoundHistory:
    at = ChainPosition(7, 0, "0x" + "ab" * 32, block_hash)
    final = RoundFinalized(1, 1, b"\x01" * 32, "bafyglobal", b"\x02" * 32, 1, b"\x00", at)
    return RoundHistory(1, finalized=final)


def _cache(tmp_path: Path, key: str = "k.key", namespace: str = "31337:0xgen:0xc") -> VerifiedRounds:
    return VerifiedRounds(tmp_path / "cache.json", namespace, key_path=tmp_path / key)


def test_a_verdict_is_reused_by_the_same_user_for_the_same_round(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    key = cache.key(1, _finalized("0x01"), model_digest(b""))
    cache.put(key, "re-derived")
    cache.save()

    again = _cache(tmp_path)

    assert again.get(key) == "re-derived" and again.rejected == 0


def test_another_chain_with_the_same_numbers_has_another_key(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    digest = model_digest(b"")

    same_numbers_new_chain = cache.key(1, _finalized("0x02"), digest)

    assert cache.key(1, _finalized("0x01"), digest) != same_numbers_new_chain
    assert cache_namespace(31337, "0xAA", "0xC") != cache_namespace(31337, "0xBB", "0xC")


def test_entries_written_by_someone_else_fail_authentication(tmp_path: Path) -> None:
    # Prepare: a genuine entry, then a forger edits the file: a new entry, and the genuine entry's reason
    cache = _cache(tmp_path)
    genuine = cache.key(1, _finalized("0x01"), model_digest(b""))
    cache.put(genuine, "re-derived")
    cache.save()
    entries = json.loads((tmp_path / "cache.json").read_text())
    forged = cache.key(1, _finalized("0x03"), model_digest(b""))
    assert forged is not None
    entries[forged] = {"reason": "re-derived", "mac": "00" * 32}
    entries[genuine]["reason"] = "anything"
    (tmp_path / "cache.json").write_text(json.dumps(entries))

    # Execute
    again = _cache(tmp_path)

    # Assert: neither is trusted
    assert again.get(forged) is None and again.get(genuine) is None and again.rejected == 2


def test_another_users_key_authenticates_nothing(tmp_path: Path) -> None:
    cache = _cache(tmp_path, key="mine.key")
    key = cache.key(1, _finalized("0x01"), model_digest(b""))
    cache.put(key, "re-derived")
    cache.save()

    theirs = _cache(tmp_path, key="theirs.key")

    assert theirs.get(key) is None and theirs.rejected == 1


def test_a_key_file_others_may_write_is_refused_and_nothing_is_cached(tmp_path: Path) -> None:
    path = tmp_path / "shared.key"
    load_or_create_key(path)
    os.chmod(path, 0o666)

    with pytest.raises(PermissionError, match="not a private file"):
        load_or_create_key(path)
    cache = VerifiedRounds(tmp_path / "cache.json", "ns", key_path=path)
    cache.put("k", "r")
    assert cache.problem and cache.get("k") is None


def test_a_new_key_is_private_to_its_user(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "new.key"

    key = load_or_create_key(path)

    assert len(key) == 32 and (path.stat().st_mode & 0o777) == 0o600
    assert load_or_create_key(path) == key

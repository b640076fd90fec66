"""A local cache of rounds this machine has already verified, so that auditing round 1,000 does not redo 999.

Only ``OK`` verdicts are kept, keyed by everything the verdict depends on: the chain (its id and genesis block hash),
the contract, the version of the rules that decided the verdict, the task and round, the base digest it opened on,
the recorded outcome bytes, the committed global digest and CID, and the transaction and block that committed them.
A round on another chain (a new devnet reuses chain id, contract address, task and round numbers, even transaction
hashes, but never block hashes), another contract, a reorganised chain or under other rules has another key and
is verified again. The cache is the
auditor's own earlier work: every entry carries an HMAC-SHA256 under a per-user key kept apart from the cache
(``~/.config/fedledger/audit-cache.key``, created with mode 0600, refused when others may write it), so an entry
somebody else wrote into the cache file (a shared or misconfigured cache path) fails authentication and its round
is verified again. Delete the file (or pass ``--no-cache``) to verify everything again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path

from fedledger import __version__
from fedledger.exceptions import ConfigurationError
from fedledger.files import write_atomic
from fedledger.history import RoundHistory

ENV_CACHE = "FEDLEDGER_AUDIT_CACHE"
ENV_CACHE_KEY = "FEDLEDGER_AUDIT_CACHE_KEY"
# Bump when a rule that decides a verdict changes (judging, aggregation, the audit's checks): verdicts reached under
# other rules are not reused. The package version is part of the key as well.
RULES_VERSION = 2


def cache_namespace(chain_id: int, genesis_hash: str, contract: str) -> str:
    """The part of every key that names the chain, the contract and the rules."""
    return f"{chain_id}:{genesis_hash.lower()}:{contract.lower()}:rules{RULES_VERSION}:v{__version__}"


def default_path() -> Path:
    """``$FEDLEDGER_AUDIT_CACHE``, else ``~/.cache/fedledger/verified-rounds.json``."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "fedledger" / "verified-rounds.json")


def default_key_path() -> Path:
    """``$FEDLEDGER_AUDIT_CACHE_KEY``, else ``~/.config/fedledger/audit-cache.key`` (not beside the cache)."""
    return Path(os.environ.get(ENV_CACHE_KEY) or Path.home() / ".config" / "fedledger" / "audit-cache.key")


def load_or_create_key(path: Path) -> bytes:
    """The user's 32-byte cache key, created (mode 0600) on first use; OSError when it cannot be trusted or made."""
    try:
        info = path.stat()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key
    if (
        not stat.S_ISREG(info.st_mode)
        or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        or (info.st_uid != os.getuid())
    ):
        raise PermissionError(f"{path} is not a private file of this user (others could forge cache entries)")
    key = path.read_bytes()
    if len(key) != 32:
        raise PermissionError(f"{path} does not hold a 32-byte key")
    return key


class VerifiedRounds:
    """Round keys this auditor verified as OK, persisted as a JSON object of key -> {reason, mac}.

    ``problem`` says why the cache is not used (an unreadable key); entries that fail authentication are counted
    in ``rejected`` and their rounds verified again.
    """

    def __init__(self, path: Path, namespace: str, key_path: Path | None = None) -> None:
        self.path, self.namespace = path, namespace
        self.hits = self.rejected = 0
        self.problem: str | None = None
        self._entries: dict[str, dict[str, str]] = {}
        try:
            self._key: bytes | None = load_or_create_key(key_path or default_key_path())
        except OSError as exc:
            self._key, self.problem = None, f"the audit cache key cannot be used ({exc}); nothing is cached"
            return
        try:
            loaded = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        if isinstance(loaded, dict):
            for key, entry in loaded.items():
                if self._authentic(key, entry):
                    self._entries[key] = entry
                else:
                    self.rejected += 1

    def _mac(self, key: str, reason: str) -> str:
        assert self._key is not None
        return hmac.new(self._key, f"{key}|{reason}".encode(), hashlib.sha256).hexdigest()

    def _authentic(self, key: object, entry: object) -> bool:
        if not (isinstance(key, str) and isinstance(entry, dict)):
            return False
        reason, mac = entry.get("reason"), entry.get("mac")
        return (
            isinstance(reason, str)
            and isinstance(mac, str)
            and hmac.compare_digest(mac, self._mac(key, reason))
        )

    def key(self, task_id: int, record: RoundHistory, base_digest: bytes) -> str | None:
        """The round's key, or None for a round that is not finalized (only finalized rounds are cached)."""
        final = record.finalized
        if final is None:
            return None
        parts = [
            self.namespace,
            str(task_id),
            str(record.round),
            base_digest.hex(),
            final.reasons.hex(),
            final.global_digest.hex(),
            final.global_cid,
            final.at.tx_hash,
            final.at.block_hash,
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def get(self, key: str | None) -> str | None:
        entry = self._entries.get(key) if key else None
        self.hits += entry is not None
        return entry["reason"] if entry else None

    def put(self, key: str | None, reason: str) -> None:
        if key and self._key is not None:
            self._entries[key] = {"reason": reason, "mac": self._mac(key, reason)}

    def save(self) -> None:
        """Write the cache atomically (a crash leaves the old file or the new one); ConfigurationError if it cannot."""
        if self._key is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(f"cannot create {self.path.parent}: {exc.strerror or exc}") from None
        write_atomic(self.path, json.dumps(self._entries, sort_keys=True).encode())

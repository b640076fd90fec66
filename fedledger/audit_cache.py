"""A local cache of rounds this machine has already verified, so that auditing round 1,000 does not redo 999.

Only ``OK`` verdicts are kept, keyed by everything the verdict depends on: the chain (its id and genesis block hash),
the contract, the version of the rules that decided the verdict, the task and round, the base digest it opened on,
the recorded outcome bytes, the committed global digest and CID, and the transaction and block that committed them.
A round on another chain (a new devnet reuses chain id, contract address, task and round numbers, even transaction
hashes, but never block hashes), another contract, a reorganised chain or under other rules has another key and
is verified again. The cache is the
auditor's own earlier work, nothing anybody else can write into; delete the file (or pass ``--no-cache``) to
verify everything again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from fedledger import __version__
from fedledger.history import RoundHistory

ENV_CACHE = "FEDLEDGER_AUDIT_CACHE"
# Bump when a rule that decides a verdict changes (judging, aggregation, the audit's checks): verdicts reached under
# other rules are not reused. The package version is part of the key as well.
RULES_VERSION = 2


def cache_namespace(chain_id: int, genesis_hash: str, contract: str) -> str:
    """The part of every key that names the chain, the contract and the rules."""
    return f"{chain_id}:{genesis_hash.lower()}:{contract.lower()}:rules{RULES_VERSION}:v{__version__}"


def default_path() -> Path:
    """``$FEDLEDGER_AUDIT_CACHE``, else ``~/.cache/fedledger/verified-rounds.json``."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "fedledger" / "verified-rounds.json")


class VerifiedRounds:
    """Round keys this auditor verified as OK, persisted as a JSON object of key -> reason."""

    def __init__(self, path: Path, namespace: str) -> None:
        self.path, self.namespace = path, namespace
        try:
            loaded = json.loads(path.read_text())
            self._entries: dict[str, str] = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            self._entries = {}
        self.hits = 0

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
        reason = self._entries.get(key) if key else None
        self.hits += reason is not None
        return reason

    def put(self, key: str | None, reason: str) -> None:
        if key:
            self._entries[key] = reason

    def save(self) -> None:
        """Write the cache atomically (a crash leaves the old file or the new one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._entries, sort_keys=True))
        os.replace(tmp, self.path)

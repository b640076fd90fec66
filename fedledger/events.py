"""Read the round contract's events: one query per task for every event type, paged, cached and incremental.

Why not one ``get_logs`` per event type and per round: public RPC endpoints cap the block range of a query, and
re-reading the whole history for every round made rounds and audits slower and slower. Here each task's events are fetched once, in block windows
(``window``, halved automatically when a node refuses a range), decoded into typed records, kept, and later reads
fetch only the blocks added since. Reading a history is O(its events), each new round O(its own blocks).

Reorganisations are not handled: on chains that reorganise, audit finalized blocks (``confirmations``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3RPCError

from fedledger import records as rec
from fedledger.exceptions import ChainError, ConfigurationError

ENV_WINDOW = "FEDLEDGER_LOG_WINDOW"


def log_window() -> int:
    """``$FEDLEDGER_LOG_WINDOW`` (default 10,000 blocks per query), read when a log is opened, not at import."""
    text = os.environ.get(ENV_WINDOW, "10000")
    try:
        window = int(text)
    except ValueError:
        window = 0
    if window < 1:
        raise ConfigurationError(f"${ENV_WINDOW} must be a whole number of blocks >= 1, not {text[:40]!r}")
    return window


TASK_EVENTS = (
    "TaskCreated",
    "TaskConfigured",
    "AggregatorChanged",
    "ParticipantAdded",
    "ParticipantRemoved",
    "RoundOpened",
    "UpdateSubmitted",
    "RoundFinalized",
    "RoundFailed",
    "TaskPrivacyConfigured",
    "RoundKeysAdvertised",
    "RoundSharesPosted",
    "RoundUnmaskPosted",
    "TaskFinished",
    "RoundSeeded",
    "TaskCommitRevealConfigured",
    "UpdateCommitted",
    "UpdateRevealed",
    "CommitteeChanged",
    "RoundAttested",
)
Thunk = Callable[[Callable[[], Any]], Any]


def _event_topic(abi_entry: dict[str, Any]) -> bytes:
    types = ",".join(param["type"] for param in abi_entry["inputs"])
    return bytes(keccak(text=f"{abi_entry['name']}({types})"))


def _pos(log: Any) -> rec.ChainPosition:
    block_hash = log.get("blockHash")
    return rec.ChainPosition(
        int(log["blockNumber"]),
        int(log["logIndex"]),
        "0x" + bytes(log["transactionHash"]).hex(),
        "0x" + bytes(block_hash).hex() if block_hash is not None else "",
    )


def _record(name: str, a: Any, at: rec.ChainPosition) -> rec.TaskEvent:
    """Turn one decoded event into its record."""
    if name == "TaskCreated":
        return rec.TaskCreated(
            a["taskId"],
            a["owner"],
            a["aggregator"],
            bytes(a["initialDigest"]),
            a["initialCid"],
            a["quorum"],
            a["roundDuration"],
            a["strategy"],
            at,
        )
    if name == "TaskConfigured":
        return rec.TaskConfigured(
            a["taskId"], a["maxSamples"], a["maxUpdateBytes"], a["gracePeriod"], a["clientsPerRound"], at
        )
    if name == "AggregatorChanged":
        return rec.AggregatorChanged(a["taskId"], a["previous"], a["aggregator"], at)
    if name in ("ParticipantAdded", "ParticipantRemoved"):
        added = name == "ParticipantAdded"
        return rec.ParticipantChanged(
            a["taskId"], a["participant"], added, a["maxSamples"] if added else 0, at
        )
    if name == "RoundOpened":
        return rec.RoundOpened(
            a["taskId"], a["round"], a["deadline"], bytes(a["baseDigest"]), bytes(a["seed"]), at
        )
    if name == "UpdateSubmitted":
        return rec.UpdateSubmitted(
            a["taskId"], a["round"], a["participant"], bytes(a["digest"]), a["cid"], a["numSamples"], at
        )
    if name == "RoundFinalized":
        return rec.RoundFinalized(
            a["taskId"],
            a["round"],
            bytes(a["globalDigest"]),
            a["globalCid"],
            bytes(a["includedRoot"]),
            a["numIncluded"],
            bytes(a["reasons"]),
            at,
        )
    if name == "RoundFailed":
        return rec.RoundFailed(a["taskId"], a["round"], a["closedBy"], bytes(a["reasons"]), at)
    if name == "TaskPrivacyConfigured":
        return rec.TaskPrivacyConfigured(
            a["taskId"],
            a["threshold"],
            a["maxRounds"],
            a["keysPeriod"],
            a["sharesPeriod"],
            a["unmaskPeriod"],
            a["params"],
            at,
        )
    if name == "RoundKeysAdvertised":
        return rec.RoundKeysAdvertised(
            a["taskId"],
            a["round"],
            a["participant"],
            bytes(a["encryptionKey"]),
            bytes(a["maskKey"]),
            bytes(a["seedCommitment"]),
            at,
        )
    if name in ("RoundSharesPosted", "RoundUnmaskPosted"):
        kind = "shares" if name == "RoundSharesPosted" else "unmask"
        return rec.RoundPosting(
            kind, a["taskId"], a["round"], a["participant"], bytes(a["digest"]), a["cid"], at
        )
    if name == "TaskFinished":
        return rec.TaskFinished(a["taskId"], a["lastRound"], at)
    if name == "RoundSeeded":
        return rec.RoundSeeded(a["taskId"], a["round"], a["seedBlock"], bytes(a["seed"]), at)
    if name == "TaskCommitRevealConfigured":
        return rec.TaskCommitRevealConfigured(a["taskId"], a["revealPeriod"], at)
    if name == "UpdateCommitted":
        return rec.UpdateCommitted(a["taskId"], a["round"], a["participant"], bytes(a["commitment"]), at)
    if name == "UpdateRevealed":
        return rec.UpdateRevealed(a["taskId"], a["round"], a["participant"], bytes(a["salt"]), at)
    if name == "CommitteeChanged":
        return rec.CommitteeChanged(a["taskId"], tuple(a["members"]), a["threshold"], a["epoch"], at)
    if name == "RoundAttested":
        return rec.RoundAttested(
            a["taskId"],
            a["round"],
            a["member"],
            bytes(a["globalDigest"]),
            a["globalCid"],
            bytes(a["reasons"]),
            at,
        )
    raise ChainError(f"unexpected event {name}")


@dataclass
class _Cursor:
    """Events fetched so far for one query, and the last block they cover."""

    next_block: int
    events: list[rec.TaskEvent] = field(default_factory=list)


class EventLog:
    """The decoded events of one round contract, fetched incrementally.

    Parameters
    ----------
    w3, contract:
        The chain and the contract object (ABI from the committed artifact).
    from_block:
        The contract's deploy block (nothing before it can hold its events).
    call:
        Wraps each RPC call (the ledger's error mapping).
    window:
        Most blocks per ``eth_getLogs`` query (``FEDLEDGER_LOG_WINDOW``, default 10,000).
    """

    def __init__(self, w3: Web3, contract: Contract, from_block: int, call: Thunk, window: int | None = None):
        self.w3, self.contract, self.from_block, self._call = w3, contract, from_block, call
        self.window = max(1, window) if window is not None else log_window()
        self._by_topic: dict[bytes, str] = {}
        abi: list[dict[str, Any]] = [dict(entry) for entry in contract.abi]
        for entry in abi:
            if entry.get("type") == "event" and entry["name"] in TASK_EVENTS:
                self._by_topic[_event_topic(entry)] = entry["name"]
        self._created_topic = next(t for t, n in self._by_topic.items() if n == "TaskCreated")
        self._cursors: dict[int | None, _Cursor] = {}
        self.queries = 0  # eth_getLogs calls made (benchmarks read it)

    def task_events(self, task_id: int) -> list[rec.TaskEvent]:
        """Every event of task ``task_id`` in chain order (fetching only blocks not seen before)."""
        topic = task_id.to_bytes(32, "big")
        return self._read(task_id, [list(self._by_topic), "0x" + topic.hex()])

    def all_tasks_created(self) -> list[rec.TaskCreated]:
        """Every TaskCreated event of the contract, in chain order."""
        events = self._read(None, ["0x" + self._created_topic.hex()])
        return [e for e in events if isinstance(e, rec.TaskCreated)]

    def _read(self, key: int | None, topics: list[Any]) -> list[rec.TaskEvent]:
        cursor = self._cursors.setdefault(key, _Cursor(self.from_block))
        latest = int(self._call(lambda: self.w3.eth.block_number))
        fresh: list[rec.TaskEvent] = []
        start = cursor.next_block
        while start <= latest:
            end = min(latest, start + self.window - 1)
            logs = self._fetch(start, end, topics)
            if logs is None:  # the node refused the range: narrow it and try again
                self.window = max(1, self.window // 2)
                continue
            fresh.extend(self._decode(log) for log in logs)
            start = end + 1
        cursor.next_block = max(cursor.next_block, latest + 1)
        cursor.events.extend(sorted(fresh, key=lambda e: e.at))
        return list(cursor.events)

    def _fetch(self, start: int, end: int, topics: list[Any]) -> list[Any] | None:
        """One eth_getLogs query; None when the node refuses the block range as too large."""
        params = {"address": self.contract.address, "fromBlock": start, "toBlock": end, "topics": topics}
        self.queries += 1
        try:
            return list(self._call(lambda: self.w3.eth.get_logs(params)))  # type: ignore[arg-type]
        except Web3RPCError as exc:
            if end > start and _range_refused(exc):
                return None
            raise ChainError(f"the node refused a log query for blocks {start}..{end}: {exc}") from None

    def _decode(self, log: Any) -> rec.TaskEvent:
        name = self._by_topic[bytes(log["topics"][0])]
        event = getattr(self.contract.events, name)()
        return _record(name, event.process_log(log)["args"], _pos(log))


def _range_refused(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(hint in text for hint in ("range", "limit", "too many", "too large", "exceed"))

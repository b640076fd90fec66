"""Replay the round contract's events into task histories, and re-derive every global model to verify it.

Trust nothing but the chain and the content store: the history comes from events alone, and ``verify`` fetches
every included update by its CID, recomputes the aggregation with the task's own strategy (named in
``TaskCreated``), and compares the result byte for byte, via its digest, with what the aggregator committed.

The recomputation itself is the aggregator's ``derive_global``, handed in as ``rederive`` by the caller: the core
never imports the aggregator, and finalize and verify can never use two different implementations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from fedledger import codec
from fedledger.exceptions import AuditError, CodecError, StoreError, ValidationError
from fedledger.fetch import fetch_model
from fedledger.inclusion import decode_included
from fedledger.ledger import Ledger
from fedledger.records import (
    ParticipantChanged,
    RoundFailed,
    RoundFinalized,
    RoundOpened,
    TaskCreated,
    UpdateSubmitted,
)
from fedledger.store import ContentStore

Rederive = Callable[[str, codec.Tensors, Sequence[tuple[int, UpdateSubmitted]]], bytes]
Verdict = Literal["OK", "MISMATCH", "FAILED", "OPEN"]


@dataclass
class RoundHistory:
    """One round as the chain tells it."""

    round: int
    opened: RoundOpened | None = None
    submissions: list[UpdateSubmitted] = field(default_factory=list)
    finalized: RoundFinalized | None = None
    failed: RoundFailed | None = None

    @property
    def status(self) -> str:
        return "finalized" if self.finalized else "failed" if self.failed else "open"

    @property
    def included(self) -> list[int]:
        return decode_included(self.finalized.included_root) if self.finalized else []


@dataclass
class TaskHistory:
    """A task's creation, allowlist changes and rounds, in chain order."""

    created: TaskCreated
    participants: list[ParticipantChanged]
    rounds: list[RoundHistory]


@dataclass(frozen=True)
class RoundVerdict:
    task_id: int
    round: int
    verdict: Verdict
    reason: str
    global_digest: str = ""


def task_history(ledger: Ledger, task_id: int) -> TaskHistory:
    """Rebuild task ``task_id``'s history from its events (queried by task topic)."""
    created = ledger.tasks_created(task_id)
    if not created:
        raise AuditError(f"no TaskCreated event for task {task_id} at {ledger.address}")
    rounds: dict[int, RoundHistory] = {}

    def at(number: int) -> RoundHistory:
        return rounds.setdefault(number, RoundHistory(number))

    for opened in ledger.rounds_opened(task_id):
        at(opened.round).opened = opened
    for update in ledger.updates_submitted(task_id):
        at(update.round).submissions.append(update)
    for finalized in ledger.rounds_finalized(task_id):
        at(finalized.round).finalized = finalized
    for failed in ledger.rounds_failed(task_id):
        at(failed.round).failed = failed
    return TaskHistory(created[0], ledger.participant_changes(task_id), [rounds[k] for k in sorted(rounds)])


def verify_task(
    history: TaskHistory,
    store: ContentStore,
    rederive: Rederive,
    *,
    fetch_timeout: float | None = 30.0,
    on_round: Callable[[RoundVerdict], None] = lambda verdict: None,
) -> list[RoundVerdict]:
    """Verify every round of a task: re-derive each finalized round's global model and compare digests."""
    task = history.created
    model_digest, model_cid = task.initial_digest, task.initial_cid
    verdicts: list[RoundVerdict] = []
    for record in history.rounds:
        if record.finalized is None:
            status: Verdict = "FAILED" if record.failed else "OPEN"
            verdict = RoundVerdict(
                task.task_id, record.round, status, f"round {record.status}; nothing to verify"
            )
        else:
            verdict = _verify_round(task, record, model_digest, model_cid, store, rederive, fetch_timeout)
            model_digest, model_cid = record.finalized.global_digest, record.finalized.global_cid
        verdicts.append(verdict)
        on_round(verdict)
    return verdicts


def _verify_round(
    task: TaskCreated,
    record: RoundHistory,
    base_digest: bytes,
    base_cid: str,
    store: ContentStore,
    rederive: Rederive,
    fetch_timeout: float | None,
) -> RoundVerdict:
    """Check one finalized round; any failure becomes a MISMATCH verdict with the reason."""
    assert record.finalized is not None
    final = record.finalized
    committed = codec.digest_hex(final.global_digest)

    def mismatch(reason: str) -> RoundVerdict:
        return RoundVerdict(task.task_id, record.round, "MISMATCH", reason, committed)

    if record.opened is not None and record.opened.base_digest != base_digest:
        return mismatch("round opened on a base model other than the previous global model")
    included = record.included
    if len(included) != final.num_included or any(i >= len(record.submissions) for i in included):
        return mismatch(
            f"inclusion bitmap names {included}, but {len(record.submissions)} updates were submitted"
        )
    try:
        base = fetch_model(store, base_cid, base_digest, fetch_timeout)
    except (StoreError, CodecError) as exc:
        return mismatch(f"missing content: base model {base_cid}: {exc}")
    try:
        data = rederive(task.strategy, base, [(i, record.submissions[i]) for i in included])
    except ValidationError as exc:
        reason = "missing content" if exc.reason == "unavailable" else exc.reason.replace("_", " ")
        return mismatch(f"{reason}: {exc.detail}")
    recomputed = codec.model_digest(data)
    if recomputed != final.global_digest:
        return mismatch(f"different result: recomputed {codec.digest_hex(recomputed)}, committed {committed}")
    try:
        fetch_model(store, final.global_cid, final.global_digest, fetch_timeout)
    except (StoreError, CodecError) as exc:
        return mismatch(f"global model content {final.global_cid} does not match the committed digest: {exc}")
    return RoundVerdict(
        task.task_id,
        record.round,
        "OK",
        f"re-derived from {len(included)} of {len(record.submissions)} updates",
        committed,
    )


def audit_summary(verdicts: list[RoundVerdict]) -> dict[str, Any]:
    """The `audit` object of --json output: ok only when every finalized round verified."""
    finalized = [v for v in verdicts if v.verdict in ("OK", "MISMATCH")]
    return {
        "ok": all(v.verdict == "OK" for v in finalized),
        "verified_rounds": sum(v.verdict == "OK" for v in verdicts),
        "rounds": [asdict(v) for v in verdicts],
    }

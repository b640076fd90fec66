"""The round coordinator: read committed updates from chain events, fetch and validate them, aggregate, commit.

The math lives in ``aggregator.strategies`` and the checks in ``aggregator.validation``; this module is plumbing.
``derive_global`` is the one function that turns a round's included updates into the global model. The auditor
calls the very same function (handed to it by the CLI), so finalize and verify can never drift apart.

Order: updates are aggregated sorted by participant address, never by arrival or submission time, and summed in
float64 (``RunningSum``), so the same inputs give the same bytes on every machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from aggregator.strategies import NoUpdatesError, strategy_from_spec
from aggregator.validation import validate_update
from fedledger import codec
from fedledger.exceptions import ContentMismatchError, FedLedgerError, StoreError, ValidationError
from fedledger.fetch import fetch_model
from fedledger.inclusion import encode_included
from fedledger.ledger import Ledger, Signer
from fedledger.records import TaskState, TxResult, UpdateSubmitted
from fedledger.store import ContentStore

DEFAULT_MAX_UPDATE_BYTES = 64 * 1024 * 1024


class RoundNotReadyError(FedLedgerError):
    """The open round cannot be finalized yet (still running, or below quorum)."""


@dataclass(frozen=True)
class Exclusion:
    """An update left out of the global model, and why (a reason code plus a sentence)."""

    index: int
    participant: str
    reason: str
    detail: str


@dataclass(frozen=True)
class RoundOutcome:
    """What the coordinator did with one round."""

    task_id: int
    round: int
    included: list[UpdateSubmitted]
    excluded: list[Exclusion] = field(default_factory=list)
    global_digest: bytes = b""
    global_cid: str = ""
    tx: TxResult | None = None
    failed: bool = False


def load_update(
    store: ContentStore, update: UpdateSubmitted, base: codec.Tensors, max_bytes: int, timeout: float | None
) -> codec.Tensors:
    """Fetch one update and validate it; every failure becomes ``ValidationError`` with a reason code."""
    try:
        data = store.get(update.cid, timeout=timeout)
    except ContentMismatchError as exc:
        raise ValidationError("cid_mismatch", str(exc)) from None
    except StoreError as exc:
        raise ValidationError("unavailable", str(exc)) from None
    return validate_update(data, base=base, expected_digest=update.digest, max_bytes=max_bytes)


@dataclass(frozen=True)
class Derivation:
    """A global model derived from a round's candidate updates, and which candidates it used."""

    data: bytes
    accepted: list[int]
    excluded: list[Exclusion]


def derive_global(
    spec: str,
    base: codec.Tensors,
    candidates: Sequence[tuple[int, UpdateSubmitted]],
    load: Callable[[UpdateSubmitted], codec.Tensors],
    on_progress: Callable[[str], None] = lambda message: None,
) -> Derivation:
    """Aggregate the valid candidates with the task's strategy into canonical global model bytes.

    ``candidates`` are (submission index, update) pairs. They are visited in participant-address order; ``load``
    fetches and validates one update, raising ``ValidationError`` to exclude it. Only the strategy's running sum
    and the current update are in memory at any time.
    """
    strategy = strategy_from_spec(spec)  # an unusable spec is the task's fault, never an update's
    ordered = sorted(candidates, key=lambda pair: pair[1].participant.lower())
    accepted: list[int] = []
    excluded: list[Exclusion] = []

    def stream() -> Iterator[tuple[codec.Tensors, int]]:
        for position, (index, update) in enumerate(ordered, 1):
            on_progress(f"update {position}/{len(ordered)} from {update.participant}")
            try:
                tensors = load(update)
            except ValidationError as exc:
                excluded.append(Exclusion(index, update.participant, exc.reason, exc.detail))
                continue
            accepted.append(index)
            yield tensors, update.num_samples

    try:
        result = strategy.aggregate(base, stream())
    except NoUpdatesError:
        return Derivation(b"", [], sorted(excluded, key=lambda e: e.index))
    return Derivation(codec.encode(result), sorted(accepted), sorted(excluded, key=lambda e: e.index))


class Coordinator:
    """Finalizes rounds of one task as its aggregator."""

    def __init__(
        self,
        ledger: Ledger,
        store: ContentStore,
        signer: Signer,
        *,
        max_update_bytes: int = DEFAULT_MAX_UPDATE_BYTES,
        fetch_timeout: float | None = 30.0,
        on_progress: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.ledger, self.store, self.signer = ledger, store, signer
        self.max_update_bytes = max_update_bytes
        self.fetch_timeout = fetch_timeout
        self.on_progress = on_progress

    def readiness(self, task: TaskState) -> str | None:
        """Return why the open round cannot close now, or None when it can (finalize or fail)."""
        if not task.round_open:
            return f"task {task.task_id} has no open round"
        all_in = task.submissions >= task.participant_count
        past_deadline = self.ledger.next_block_time() >= task.deadline
        if not (all_in or past_deadline):
            return (
                f"round {task.round} of task {task.task_id} is still running: {task.submissions} of "
                f"{task.participant_count} participants submitted, deadline at {task.deadline}"
            )
        return None

    def close_round(self, task_id: int) -> RoundOutcome:
        """Finalize the open round (or close it as failed below quorum); raise RoundNotReadyError if too early."""
        task = self.ledger.get_task(task_id)
        reason = self.readiness(task)
        if reason:
            raise RoundNotReadyError(reason)
        if task.submissions < task.quorum:
            tx = self.ledger.close_failed_round(self.signer, task_id, task.round)
            return RoundOutcome(task_id, task.round, [], tx=tx, failed=True)
        return self._finalize(task)

    def _finalize(self, task: TaskState) -> RoundOutcome:
        base = fetch_model(self.store, task.model_cid, task.model_digest, self.fetch_timeout)
        submitted = self.ledger.updates_submitted(task.task_id, task.round)
        derived = derive_global(
            task.strategy, base, list(enumerate(submitted)), lambda u: self._load(u, base), self.on_progress
        )
        if len(derived.accepted) < task.quorum:
            if self.ledger.next_block_time() >= task.deadline:
                self.on_progress(f"only {len(derived.accepted)} valid updates: closing the round as failed")
                tx = self.ledger.close_failed_round(self.signer, task.task_id, task.round)
                return RoundOutcome(task.task_id, task.round, [], derived.excluded, tx=tx, failed=True)
            raise RoundNotReadyError(
                f"round {task.round} of task {task.task_id}: only {len(derived.accepted)} valid updates, quorum "
                f"is {task.quorum}; excluded: "
                + "; ".join(f"{e.participant}: {e.reason}" for e in derived.excluded)
                + f". The round is closed as failed at its deadline ({task.deadline})"
            )
        digest = codec.model_digest(derived.data)
        cid = self.store.put(derived.data)
        self.on_progress(f"committing global model {codec.digest_hex(digest)[:18]}…")
        tx = self.ledger.finalize_round(
            self.signer,
            task.task_id,
            task.round,
            global_digest=digest,
            global_cid=cid,
            included_root=encode_included(derived.accepted),
            num_included=len(derived.accepted),
        )
        included = [submitted[i] for i in derived.accepted]
        return RoundOutcome(task.task_id, task.round, included, derived.excluded, digest, cid, tx)

    def _load(self, update: UpdateSubmitted, base: codec.Tensors) -> codec.Tensors:
        return load_update(self.store, update, base, self.max_update_bytes, self.fetch_timeout)


def make_rederiver(
    store: ContentStore,
    *,
    max_update_bytes: int = DEFAULT_MAX_UPDATE_BYTES,
    fetch_timeout: float | None = 30.0,
) -> Callable[[str, codec.Tensors, Sequence[tuple[int, UpdateSubmitted]]], bytes]:
    """Return the function the auditor uses to recompute a global model from exactly the included updates.

    Any included update that is missing or invalid now raises ``ValidationError`` naming it: a global model that
    used an invalid update cannot verify.
    """

    def rederive(spec: str, base: codec.Tensors, included: Sequence[tuple[int, UpdateSubmitted]]) -> bytes:
        derived = derive_global(
            spec, base, included, lambda u: load_update(store, u, base, max_update_bytes, fetch_timeout)
        )
        if derived.excluded:
            first = derived.excluded[0]
            raise ValidationError(
                first.reason, f"included update #{first.index} from {first.participant}: {first.detail}"
            )
        return derived.data

    return rederive

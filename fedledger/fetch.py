"""Fetch a model by CID and check it against its on-chain digest before trusting a byte of it."""

from __future__ import annotations

from dataclasses import dataclass

from fedledger import codec
from fedledger.exceptions import ChainError, ContentMismatchError
from fedledger.ledger import Ledger
from fedledger.records import RoundFailed, RoundFinalized, RoundOpened
from fedledger.store import ContentStore


@dataclass(frozen=True)
class GlobalModel:
    """Where a task's global model after ``round`` lives (round 0: the initial model), as the chain says."""

    task_id: int
    round: int
    digest: bytes
    cid: str


def locate_global_model(ledger: Ledger, task_id: int, round_: int | None = None) -> GlobalModel:
    """The global model committed by ``round_`` of the task (None: the latest one; 0: the initial model).

    Raises ChainError naming what exists when the round has no global model (still open, failed, or not reached).
    """
    state = ledger.get_task(task_id)  # raises for a task that does not exist
    events = ledger.task_events(task_id)
    finalized = {e.round: e for e in events if isinstance(e, RoundFinalized)}
    if round_ is None:
        latest = max(finalized, default=0)
        return GlobalModel(task_id, latest, state.model_digest, state.model_cid)
    if round_ == 0:
        created = ledger.tasks_created(task_id)[0]
        return GlobalModel(task_id, 0, created.initial_digest, created.initial_cid)
    if round_ in finalized:
        event = finalized[round_]
        return GlobalModel(task_id, round_, event.global_digest, event.global_cid)
    failed = {e.round for e in events if isinstance(e, RoundFailed)}
    opened = {e.round for e in events if isinstance(e, RoundOpened)}
    done = ", ".join(str(r) for r in sorted(finalized)) or "none yet"
    if round_ in failed:
        why = "failed, so it committed no global model"
    elif round_ in opened:
        why = "is still open"
    else:
        why = "has not been opened"
    raise ChainError(
        f"round {round_} of task {task_id} {why}; rounds with a global model: {done} (round 0 is the initial model)"
    )


def fetch_model_bytes(
    store: ContentStore,
    cid: str,
    digest: bytes,
    timeout: float | None = None,
    *,
    max_bytes: int | None = None,
) -> bytes:
    """The bytes stored under ``cid``, checked against the on-chain ``digest`` (``fetch_model`` says what raises)."""
    data = store.get(cid, timeout=timeout, max_bytes=max_bytes)
    if codec.model_digest(data) != digest:
        raise ContentMismatchError(
            f"model {cid} hashes to {codec.digest_hex(codec.model_digest(data))}, "
            f"but the chain committed {codec.digest_hex(digest)}"
        )
    return data


def fetch_model(
    store: ContentStore,
    cid: str,
    digest: bytes,
    timeout: float | None = None,
    *,
    max_bytes: int | None = None,
) -> codec.Tensors:
    """Return the decoded model stored under ``cid``.

    Raises ``ContentNotFoundError``/``StoreUnavailableError`` from the store, ``ContentTooLargeError`` past
    ``max_bytes`` (the task's limit; the fetch stops there), ``ContentMismatchError`` when the bytes are not the
    model the chain committed to, and ``CodecError`` when they are not a canonical model.
    """
    data = fetch_model_bytes(store, cid, digest, timeout, max_bytes=max_bytes)
    return codec.decode(data, max_bytes=max_bytes) if max_bytes else codec.decode(data)

"""A round's inputs as its task's history records them: the chain side of ``fedledger.rules.outcomes``.

The rules themselves (what decides each outcome, and the ``Judgement``) are pure and live in ``fedledger.rules``;
this module only reads a ``RoundInputs`` out of a ``TaskHistory``, so the rules never depend on the chain layer.
"""

from __future__ import annotations

from fedledger.history import RoundHistory, TaskHistory
from fedledger.rules.outcomes import RoundInputs


def round_inputs(
    history: TaskHistory, record: RoundHistory, base_digest: bytes, base_cid: str
) -> RoundInputs:
    """The inputs of ``record``'s outcome, from its task's history."""
    return RoundInputs(
        task_id=history.created.task_id,
        round=record.round,
        strategy=history.created.strategy,
        quorum=history.created.quorum,
        base_digest=base_digest,
        base_cid=base_cid,
        max_update_bytes=history.limits.max_update_bytes,
        submissions=list(record.submissions),
        caps=list(record.caps),
        sampled=frozenset(record.sampled) if record.sampled is not None else None,
    )

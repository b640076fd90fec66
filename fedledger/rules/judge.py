"""Decide a round: every submission's outcome and the global model, the same way for the aggregator and the audit.

``judge_round`` is the one function that turns a round's submissions into outcomes and a global model. The
aggregator calls it to finalize; the auditor (``fedledger.audit``) calls the very same function to re-check, so
the two can never drift apart. The order of the checks is the protocol's (``fedledger.rules.outcomes``): event reasons, then content (``load`` raises ``ValidationError``), then the rule.

Determinism: candidates are loaded and aggregated in participant-address order, never by arrival or submission
time, and every rule sums in float64 in a fixed order, so the same inputs give the same bytes on every machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from fedledger import codec
from fedledger.exceptions import NonFiniteModelError, ValidationError
from fedledger.records import UpdateSubmitted
from fedledger.rules.base import NoUpdatesError
from fedledger.rules.outcomes import Judgement, RoundInputs, event_reasons
from fedledger.rules.reasons import Reason
from fedledger.rules.strategies import FedSGD, strategy_from_spec
from fedledger.rules.validation import validate_update

Fetch = Callable[[UpdateSubmitted], bytes]

_EVENT_DETAILS: dict[str, str] = {
    Reason.NOT_SAMPLED: "the round's seed did not select this participant",
    Reason.OVER_CAP: "claims more samples than its cap",
    Reason.UNCHANGED: "the update is the round's base model itself",
    Reason.DUPLICATE: "another submission of this round has the same digest",
    Reason.UNAVAILABLE: "recorded as unavailable when the round closed",
}


def judge_round(
    inputs: RoundInputs,
    base: codec.Tensors,
    fetch: Fetch,
    fixed: dict[int, str] | None = None,
    on_progress: Callable[[str], None] = lambda message: None,
) -> Judgement:
    """Decide the outcome of every submission of a round and aggregate the included ones.

    Parameters
    ----------
    inputs:
        The round as the chain describes it.
    base:
        The round's base model (already checked against its digest).
    fetch:
        Returns one update's bytes, or raises ``ValidationError`` with ``unavailable``, ``too_large`` or
        ``cid_mismatch`` (``fedledger.rules.reasons.fetch_failure``); the bytes are then validated here
        (``fedledger.rules.validation``).
    fixed:
        Outcomes decided in advance (the auditor passes the recorded ``unavailable`` ones: content that was
        missing when the round closed cannot be held against the aggregator, nor used to recompute).

    Returns
    -------
    Judgement
        ``data`` is empty when fewer than ``quorum`` updates are valid (nothing can be finalized).
    """
    strategy = strategy_from_spec(inputs.strategy)  # an unusable spec is the task's fault, never an update's
    submissions = list(inputs.submissions)
    judgement = Judgement([Reason.INCLUDED] * len(submissions))
    for index, reason in {**event_reasons(inputs), **(fixed or {})}.items():
        judgement.outcomes[index] = reason
        judgement.details[index] = _EVENT_DETAILS.get(reason, reason)
    candidates = sorted(
        (i for i, outcome in enumerate(judgement.outcomes) if outcome == Reason.INCLUDED),
        key=lambda i: (submissions[i].participant.lower(), i),
    )
    valid: list[int] = []

    def stream() -> Iterator[tuple[codec.Tensors, int]]:
        for position, index in enumerate(candidates, 1):
            update = submissions[index]
            on_progress(f"update {position}/{len(candidates)} from {update.participant}")
            try:
                tensors = validate_update(
                    fetch(update), base=base, expected_digest=update.digest, max_bytes=inputs.max_update_bytes
                )
                if isinstance(strategy, FedSGD):
                    strategy.check_step(base, tensors)  # after non_finite: its own step must be finite too
            except ValidationError as exc:
                judgement.outcomes[index], judgement.details[index] = exc.reason, exc.detail
                continue
            valid.append(index)
            yield tensors, update.num_samples

    updates = stream() if strategy.streams else iter(list(stream()))
    if not strategy.streams and len(valid) < max(strategy.min_updates(), inputs.quorum):
        return judgement  # too few valid updates: no global model, nothing rejected as an outlier
    try:
        result = strategy.aggregate(base, updates)
    except NoUpdatesError:
        return judgement
    for position, score in enumerate(result.scores):
        judgement.scores[valid[position]] = score
    for position in result.rejected:
        index = valid[position]
        judgement.outcomes[index] = Reason.OUTLIER
        ranked = f" (score {judgement.scores[index]:.6g})" if index in judgement.scores else ""
        judgement.details[index] = f"rejected by {strategy.spec}{ranked}"
    if len(valid) >= inputs.quorum:
        _refuse_non_finite(result.tensors, inputs)
        judgement.data = codec.encode(result.tensors)
    return judgement


def _refuse_non_finite(tensors: codec.Tensors, inputs: RoundInputs) -> None:
    """The last guard: a global model with a NaN or infinity is never produced, whatever the rule computed."""
    for name in sorted(tensors):
        bad = int(np.count_nonzero(~np.isfinite(tensors[name])))
        if bad:
            raise NonFiniteModelError(
                f"round {inputs.round} of task {inputs.task_id}: {inputs.strategy} gives a global model with {bad} "
                f"NaN or infinite values in {name!r}; no such model is ever committed"
            )

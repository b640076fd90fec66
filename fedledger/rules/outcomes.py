"""What a round's outcome is decided from, and what it is: shared by the aggregator (who decides) and the audit
(who re-checks), so that the two can never read the rules differently.

The outcome of each submission is decided in this order, and the first reason that holds wins:

1. from the events alone (this module): ``not_sampled`` (the task samples and the round did not ask this
   participant), ``over_cap`` (claims more samples than the cap in force when it submitted), ``unchanged`` (its
   digest is the round's base model), ``duplicate`` (another submission of the round has the same digest: every
   copy is excluded, since nobody can tell who copied whom);
2. from the content: fetching (``fedledger.rules.reasons.fetch_failure``: ``unavailable``, ``too_large``,
   ``cid_mismatch``, also a ``cid`` longer than ``fedledger.cid.MAX_CID_LENGTH``, by its length alone), then
   ``fedledger.rules.validation``: ``too_large``, ``digest_mismatch``, ``malformed``, ``names_mismatch``,
   ``shape_mismatch``, ``non_finite`` (under FedSGD also an update whose own step overflows float32,
   ``fedledger.rules.strategies.FedSGD.check_step``);
3. from the rule (``fedledger.rules.strategies``, ``fedledger.rules.robust``): ``outlier`` for updates a robust
   rule rejected.

``fedledger.rounds.round_inputs`` reads a ``RoundInputs`` from a task's history (the chain); everything here is
pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fedledger import codec
from fedledger.records import UpdateSubmitted
from fedledger.rules.reasons import Reason
from fedledger.strategy_spec import parse_canonical


@dataclass(frozen=True)
class RoundInputs:
    """Everything, besides content, that decides a round's outcome; all of it is on-chain."""

    task_id: int
    round: int
    strategy: str  # canonical spec
    quorum: int
    base_digest: bytes
    base_cid: str
    max_update_bytes: int
    submissions: Sequence[UpdateSubmitted]
    caps: Sequence[int]  # per submission, the cap in force when it was made (0: none)
    sampled: frozenset[str] | None  # who the round asked for (None: everyone)


def event_reasons(inputs: RoundInputs) -> dict[int, str]:
    """Submission index -> the reason it is excluded for, for the reasons the events alone decide."""
    copies = Counter(update.digest for update in inputs.submissions)
    reasons: dict[int, str] = {}
    for index, update in enumerate(inputs.submissions):
        cap = inputs.caps[index] if index < len(inputs.caps) else 0
        if inputs.sampled is not None and update.participant not in inputs.sampled:
            reasons[index] = Reason.NOT_SAMPLED
        elif cap and update.num_samples > cap:
            reasons[index] = Reason.OVER_CAP
        elif update.digest == inputs.base_digest:
            reasons[index] = Reason.UNCHANGED
        elif copies[update.digest] > 1:
            reasons[index] = Reason.DUPLICATE
    return reasons


def effective_weights(
    spec: str, submissions: Sequence[UpdateSubmitted], outcomes: Sequence[str]
) -> list[float]:
    """Each submission's share of the global model: 0 when excluded.

    The FedAvg family (fedavg, fedavg:clip, fedsgd) weighs by claimed samples, n_k / sum(n); the robust rules
    (median, trimmed mean, Krum, Multi-Krum) treat every included update alike, 1 / included (nominal for the
    coordinate-wise rules, whose result mixes updates per coordinate).
    """
    included = [i for i, outcome in enumerate(outcomes) if outcome == Reason.INCLUDED]
    if not included:
        return [0.0] * len(submissions)
    if parse_canonical(spec).name in ("fedavg", "fedsgd"):
        total = sum(submissions[i].num_samples for i in included)
        share = {i: submissions[i].num_samples / total for i in included}
    else:
        share = {i: 1.0 / len(included) for i in included}
    return [share.get(i, 0.0) for i in range(len(submissions))]


@dataclass
class Judgement:
    """A round's outcome: one outcome per submission (``included`` or a reason), and the global model."""

    outcomes: list[str]  # ``Reason`` members (a recorded outcome read back from the chain is one too)
    details: dict[int, str] = field(default_factory=dict)  # index -> why it was excluded, in a sentence
    data: bytes = b""  # canonical global model bytes; empty when fewer than quorum updates are valid
    scores: dict[int, float] = field(default_factory=dict)  # index -> the rule's score (Krum), if it ranks

    @property
    def included(self) -> list[int]:
        return [i for i, outcome in enumerate(self.outcomes) if outcome == Reason.INCLUDED]

    @property
    def digest(self) -> bytes:
        return codec.model_digest(self.data) if self.data else b""


# judge(inputs, base model, fetch one update's bytes, outcomes fixed in advance) -> Judgement: the signature of
# ``fedledger.rules.judge.judge_round``; the audit takes another only where a test substitutes a lying judge.
Judge = Callable[[RoundInputs, codec.Tensors, Callable[[UpdateSubmitted], bytes], dict[int, str]], Judgement]

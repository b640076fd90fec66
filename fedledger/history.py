"""Replay a task's events into its history: creation, limits, allowlist and aggregator changes, rounds.

Trust nothing but the chain: everything here comes from the contract's events, read once per task in chain order
(``Ledger.task_events``). The history is what `audit history` prints and what `audit verify` re-checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fedledger import records as rec
from fedledger.codec import digest_hex
from fedledger.exceptions import AuditError, ConfigurationError
from fedledger.inclusion import INCLUDED, decode_outcomes, included_indices
from fedledger.ledger import Ledger
from fedledger.privacy.accounting import PrivateTask, read_private_task
from fedledger.rules.outcomes import effective_weights
from fedledger.sampling import drawn_seed, sample_clients
from fedledger.strategy_spec import parse_canonical


@dataclass
class RoundHistory:
    """One round as the chain tells it."""

    round: int
    opened: rec.RoundOpened | None = None
    submissions: list[rec.UpdateSubmitted] = field(default_factory=list)
    finalized: rec.RoundFinalized | None = None
    failed: rec.RoundFailed | None = None
    members: list[str] = field(default_factory=list)  # the allowlist when the round opened, in join order
    sampled: list[str] | None = None  # who the round asked for, when the task samples
    caps: list[int] = field(
        default_factory=list
    )  # cap in force for each submission when it was made (0: none)
    aggregator: str = ""  # the task's aggregator when the round closed (or now, if it is open)
    allowlist_at_close: list[str] = field(default_factory=list)  # the allowlist when it closed (now, if open)
    closed_time: int | None = None  # block timestamp of the close; read only when ``missing`` is not empty
    # Private rounds only (README, "Private rounds"): steps 1, 2 and 4, each in chain order.
    keys: list[rec.RoundKeysAdvertised] = field(default_factory=list)
    shares: list[rec.RoundPosting] = field(default_factory=list)
    unmasks: list[rec.RoundPosting] = field(default_factory=list)
    # Issue 18: the drawn seed of a sampled round, commitments and reveals, and committee attestations.
    seeded: rec.RoundSeeded | None = None
    commits: list[rec.UpdateCommitted] = field(default_factory=list)
    reveals: list[rec.UpdateRevealed] = field(default_factory=list)
    attestations: list[rec.RoundAttested] = field(default_factory=list)
    committee: rec.CommitteeChanged | None = None  # the committee in force when the round closed (or now)

    @property
    def missing(self) -> list[str]:
        """Who the round waited for and did not get: with sampling, the sampled participants that did not submit
        (even one removed from the allowlist since); without, the allowlist at the close less the submitters."""
        submitted = {u.participant for u in self.submissions}
        expected = self.sampled if self.sampled is not None else self.allowlist_at_close
        return [p for p in expected if p not in submitted]

    @property
    def status(self) -> str:
        return "finalized" if self.finalized else "failed" if self.failed else "open"

    @property
    def ignored_reasons_by(self) -> str:
        """Who sent a ``RoundFailed``'s reasons without being the task's aggregator at the close ("" if nobody):
        only the aggregator records outcomes; anyone else's reasons (a stranger's, the owner's) are not outcomes.
        In a committee task only the committee records them: a failure closed by its threshold-th attestation."""
        failed = self.failed
        if failed is None or not failed.reasons:
            return ""
        if self.committee is not None:
            return "" if self.attested_close else failed.closed_by
        if failed.closed_by.lower() == self.aggregator.lower():
            return ""
        return failed.closed_by

    @property
    def attested_close(self) -> rec.RoundAttested | None:
        """The attestation that closed the round (its RoundFinalized or RoundFailed came in the same transaction:
        the committee's threshold-th agreeing attestation), or None."""
        closed = self.finalized or self.failed
        if closed is None:
            return None
        return next((a for a in self.attestations if a.at.tx_hash == closed.at.tx_hash), None)

    @property
    def current_attestations(self) -> list[rec.RoundAttested]:
        """The round's attestations by the committee in force (``committee``): those after its CommitteeChanged;
        an earlier committee's no longer count on-chain."""
        committee = self.committee
        if committee is None:
            return []
        since = (committee.at.block_number, committee.at.log_index)
        return [a for a in self.attestations if (a.at.block_number, a.at.log_index) > since]

    @property
    def agreeing(self) -> list[str]:
        """The members whose current attestation is the recorded outcome (digest and reasons), in chain order."""
        closing = self.attested_close
        if closing is None:
            return []
        key = (closing.global_digest, closing.reasons)
        return [a.member for a in self.current_attestations if (a.global_digest, a.reasons) == key]

    @property
    def reasons(self) -> bytes:
        """The recorded outcome bytes (empty when the round is open, failed without reasons, or failed by someone
        other than its aggregator: see ``ignored_reasons_by``)."""
        if self.finalized:
            return self.finalized.reasons
        return self.failed.reasons if self.failed and not self.ignored_reasons_by else b""

    @property
    def outcomes(self) -> list[str]:
        return decode_outcomes(self.reasons)

    @property
    def included(self) -> list[int]:
        return included_indices(self.finalized.reasons) if self.finalized else []


@dataclass
class TaskHistory:
    """A task's creation, limits, allowlist and aggregator changes and rounds, in chain order."""

    created: rec.TaskCreated
    limits: rec.TaskLimits
    participants: list[rec.ParticipantChanged]
    aggregator_changes: list[rec.AggregatorChanged]
    rounds: list[RoundHistory]
    privacy: rec.TaskPrivacyConfigured | None = None  # set: the task runs private rounds
    finished: rec.TaskFinished | None = None  # set: a private task spent its maxRounds rounds
    commit_reveal: rec.TaskCommitRevealConfigured | None = None  # set: updates are committed, then revealed
    committees: list[rec.CommitteeChanged] = field(
        default_factory=list
    )  # in chain order; empty: one aggregator


class _Replay:
    """Walks a task's events in order, tracking the allowlist, caps and aggregator as they were at each event."""

    def __init__(self, created: rec.TaskCreated, limits: rec.TaskLimits) -> None:
        self.limits = limits
        self.aggregator = created.aggregator
        self.members: dict[str, int] = {}  # address -> own cap, in join order
        self.rounds: dict[int, RoundHistory] = {}
        self.committee: rec.CommitteeChanged | None = None

    def at(self, number: int) -> RoundHistory:
        return self.rounds.setdefault(number, RoundHistory(number))

    def cap_of(self, participant: str) -> int:
        task, own = self.limits.max_samples, self.members.get(participant, 0)
        return min(c for c in (task, own) if c) if (task or own) else 0

    def apply(self, event: rec.TaskEvent) -> None:
        if isinstance(event, rec.ParticipantChanged):
            if event.added:
                self.members[event.participant] = event.max_samples
            else:
                self.members.pop(event.participant, None)
        elif isinstance(event, rec.AggregatorChanged):
            self.aggregator = event.aggregator
        elif isinstance(event, rec.RoundOpened):
            record = self.at(event.round)
            record.opened, record.members = event, list(self.members)
            k = self.limits.clients_per_round
            record.sampled = sample_clients(self.seed_of(event), record.members, k) if k else None
        elif isinstance(event, rec.UpdateSubmitted):
            record = self.at(event.round)
            record.submissions.append(event)
            record.caps.append(self.cap_of(event.participant))
        elif isinstance(event, rec.RoundSeeded):
            record = self.at(event.round)
            record.seeded = event
            k = self.limits.clients_per_round
            record.sampled = sample_clients(event.seed, record.members, k) if k else None
        elif isinstance(event, rec.UpdateCommitted):
            self.at(event.round).commits.append(event)
        elif isinstance(event, rec.UpdateRevealed):
            self.at(event.round).reveals.append(event)
        elif isinstance(event, rec.CommitteeChanged):
            self.committee = event
        elif isinstance(event, rec.RoundAttested):
            self.at(event.round).attestations.append(event)
        elif isinstance(event, rec.RoundKeysAdvertised):
            self.at(event.round).keys.append(event)
        elif isinstance(event, rec.RoundPosting):
            record = self.at(event.round)
            (record.shares if event.kind == "shares" else record.unmasks).append(event)
        elif isinstance(event, (rec.RoundFinalized, rec.RoundFailed)):
            record = self.at(event.round)
            if isinstance(event, rec.RoundFinalized):
                record.finalized = event
            else:
                record.failed = event
            record.aggregator, record.allowlist_at_close = self.aggregator, list(self.members)
            record.committee = self.committee

    @staticmethod
    def seed_of(opened: rec.RoundOpened) -> bytes:
        """The seed that selects a round's clients: RoundOpened's own (contracts before issue 18), else the one
        the contract draws from the opening block's hash (RoundSeeded, when it comes, has the same value unless
        the hash had expired; it then replaces this one)."""
        if any(opened.seed) or not opened.at.block_hash:
            return opened.seed
        return drawn_seed(
            bytes.fromhex(opened.at.block_hash.removeprefix("0x")), opened.task_id, opened.round
        )


def history_from_events(events: list[rec.TaskEvent]) -> TaskHistory:
    """Build a task's history from its events (as ``Ledger.task_events`` returns them, in chain order)."""
    created = next((e for e in events if isinstance(e, rec.TaskCreated)), None)
    if created is None:
        raise AuditError("the events hold no TaskCreated")
    configured = next((e for e in events if isinstance(e, rec.TaskConfigured)), None)
    limits = (
        rec.TaskLimits(
            configured.max_samples,
            configured.max_update_bytes,
            configured.grace_period,
            configured.clients_per_round,
        )
        if configured
        else rec.TaskLimits()
    )
    replay = _Replay(created, limits)
    for event in events:
        replay.apply(event)
    for record in replay.rounds.values():
        if record.status == "open":
            record.aggregator, record.allowlist_at_close = replay.aggregator, list(replay.members)
            record.committee = replay.committee
    return TaskHistory(
        created,
        limits,
        [e for e in events if isinstance(e, rec.ParticipantChanged)],
        [e for e in events if isinstance(e, rec.AggregatorChanged)],
        [replay.rounds[k] for k in sorted(replay.rounds)],
        next((e for e in events if isinstance(e, rec.TaskPrivacyConfigured)), None),
        next((e for e in events if isinstance(e, rec.TaskFinished)), None),
        next((e for e in events if isinstance(e, rec.TaskCommitRevealConfigured)), None),
        [e for e in events if isinstance(e, rec.CommitteeChanged)],
    )


def task_history(ledger: Ledger, task_id: int) -> TaskHistory:
    """Rebuild task ``task_id``'s history from its events (one incremental query for all of them)."""
    events = ledger.task_events(task_id)
    if not any(isinstance(e, rec.TaskCreated) for e in events):
        raise AuditError(f"no TaskCreated event for task {task_id} at {ledger.address}")
    history = history_from_events(events)
    add_close_times(ledger, history)
    return history


def add_close_times(ledger: Ledger, history: TaskHistory) -> None:
    """Set ``closed_time`` of every finalized round that some expected participant missed (the audit checks
    that it did not close before its deadline): one block read per such round, none for the others."""
    times: dict[int, int] = {}
    for record in history.rounds:
        if record.finalized is not None and record.missing:
            block = record.finalized.at.block_number
            if block not in times:
                times[block] = ledger.block_timestamp(block)
            record.closed_time = times[block]


def _round_json(
    history: TaskHistory, r: RoundHistory, private: PrivateTask | str | None = None
) -> dict[str, Any]:
    well_formed = len(r.reasons) == len(r.submissions)  # the contract refuses others; never trust it blindly
    outcomes = r.outcomes if r.reasons and well_formed else [None] * len(r.submissions)
    weights = (
        effective_weights(history.created.strategy, r.submissions, r.outcomes)
        if r.finalized and well_formed and _spec_is_usable(history.created.strategy)
        else [0.0] * len(r.submissions)
    )
    closed = r.finalized or r.failed
    return {
        "round": r.round,
        "status": r.status,
        "deadline": r.opened.deadline if r.opened else None,
        "base_digest": digest_hex(r.opened.base_digest) if r.opened else None,
        "seed": "0x" + _seed_of(r).hex() if r.opened else None,
        "opened_block": r.opened.at.block_number if r.opened else None,
        "closed_block": closed.at.block_number if closed else None,
        "sampled": r.sampled,
        "submissions": [
            {
                "index": i,
                "participant": u.participant,
                "digest": u.digest_hex,
                "cid": u.cid,
                "num_samples": u.num_samples,
                "cap": r.caps[i] if i < len(r.caps) else 0,
                "block": u.at.block_number,
                "outcome": outcomes[i],
                "reason": outcomes[i] if outcomes[i] not in (None, INCLUDED) else None,
                "weight": round(weights[i], 12),
            }
            for i, u in enumerate(r.submissions)
        ],
        "included": r.included,
        "excluded": [
            {"index": i, "participant": r.submissions[i].participant, "reason": o}
            for i, o in enumerate(outcomes)
            if o not in (None, INCLUDED)
        ],
        "num_included": r.finalized.num_included if r.finalized else 0,
        "included_root": "0x" + r.finalized.included_root.hex() if r.finalized else None,
        "global_digest": digest_hex(r.finalized.global_digest) if r.finalized else None,
        "global_cid": r.finalized.global_cid if r.finalized else None,
        "closed_by": r.failed.closed_by if r.failed else None,
        "ignored_reasons_by": r.ignored_reasons_by or None,  # reasons sent by a non-aggregator: not outcomes
        "aggregator": r.aggregator or None,
        "private": _private_round_json(private, r),
        "attestations": _attestations_json(r),
    }


def _attestations_json(r: RoundHistory) -> list[dict[str, Any]]:
    """A committee round's attestations in chain order. ``agrees``: same digest and outcomes as the recorded
    outcome (None while the round is open, or when it closed without an attestation); ``current``: made by
    the committee in force at the close (an earlier committee's no longer count)."""
    closing = r.attested_close
    current = {a.at for a in r.current_attestations}
    return [
        {
            "member": a.member,
            "global_digest": digest_hex(a.global_digest) if any(a.global_digest) else None,
            "global_cid": a.global_cid or None,
            "outcomes": decode_outcomes(a.reasons),
            "agrees": (a.global_digest, a.reasons) == (closing.global_digest, closing.reasons)
            if closing is not None
            else None,
            "current": a.at in current,
            "block": a.at.block_number,
        }
        for a in r.attestations
    ]


def _committee_json(c: rec.CommitteeChanged) -> dict[str, Any]:
    return {
        "members": list(c.members),
        "threshold": c.threshold,
        "epoch": c.epoch,
        "block": c.at.block_number,
    }


def private_task(history: TaskHistory) -> PrivateTask | str | None:
    """The task's privacy settings; why they are unusable (a string); None for a task without private rounds."""
    if history.privacy is None:
        return None
    return read_private_task(history.privacy, history.limits.max_samples)


def _private_round_json(task: PrivateTask | str | None, r: RoundHistory) -> dict[str, Any] | None:
    if task is None:
        return None
    spent = task.epsilon_after(r.round) if isinstance(task, PrivateTask) and task.spec.dp else None
    return {
        "keys": len(r.keys),
        "shares": len(r.shares),
        "uploads": len(r.submissions),
        "unmasks": len(r.unmasks),
        "epsilon_spent": spent,  # every opened round is charged, failed ones included (their sum is computable)
    }


def _privacy_json(history: TaskHistory, task: PrivateTask | str | None) -> dict[str, Any] | None:
    event = history.privacy
    if event is None:
        return None
    data: dict[str, Any] = {
        "params": event.params,
        "usable": isinstance(task, PrivateTask),
        "error": task if isinstance(task, str) else None,
        "threshold": event.threshold,
        "max_rounds": event.max_rounds,
        "keys_period": event.keys_period,
        "shares_period": event.shares_period,
        "unmask_period": event.unmask_period,
        "block": event.at.block_number,
        "clip": None,
        "scale_bits": None,
        "dp": None,
    }
    if isinstance(task, PrivateTask):
        spec = task.spec
        data["clip"], data["scale_bits"] = spec.clip, spec.scale_bits
        if spec.dp:
            data["dp"] = {
                "noise": spec.noise,
                "delta": spec.delta,
                "dim": spec.dim,
                "epsilon_budget": spec.budget or None,
                "epsilon_after_max_rounds": task.epsilon_after(task.max_rounds) if task.max_rounds else None,
                "budget_respected": task.budget_respected(),
            }
    return data


def _spec_is_usable(spec: str) -> bool:
    try:
        parse_canonical(spec)
    except ConfigurationError:
        return False
    return True


def _seed_of(r: RoundHistory) -> bytes:
    """The seed that selects the round's clients (RoundSeeded's, else what RoundOpened implies)."""
    assert r.opened is not None
    return r.seeded.seed if r.seeded else _Replay.seed_of(r.opened)


def history_json(history: TaskHistory) -> dict[str, Any]:
    """A task's history as plain JSON (digests as 0x hex): what `audit history --json` prints."""
    created, limits = history.created, history.limits
    private = private_task(history)
    return {
        "task_id": created.task_id,
        "owner": created.owner,
        "aggregator": created.aggregator,
        "initial_digest": digest_hex(created.initial_digest),
        "initial_cid": created.initial_cid,
        "quorum": created.quorum,
        "round_duration": created.round_duration,
        "strategy": created.strategy,
        "created_block": created.at.block_number,
        "limits": {
            "max_samples": limits.max_samples,
            "max_update_bytes": limits.max_update_bytes,
            "grace_period": limits.grace_period,
            "clients_per_round": limits.clients_per_round,
        },
        "aggregator_changes": [
            {"previous": c.previous, "aggregator": c.aggregator, "block": c.at.block_number}
            for c in history.aggregator_changes
        ],
        "participants": [
            {
                "participant": p.participant,
                "added": p.added,
                "max_samples": p.max_samples,
                "block": p.at.block_number,
            }
            for p in history.participants
        ],
        "rounds": [_round_json(history, r, private) for r in history.rounds],
        "privacy": _privacy_json(history, private),
        "finished": history.finished.last_round if history.finished else None,
        # aggregator committees (README, "Aggregator committees"): the one in force now, and every change
        "committee": _committee_json(history.committees[-1]) if history.committees else None,
        "committee_changes": [_committee_json(c) for c in history.committees],
    }

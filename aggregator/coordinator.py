"""The round coordinator: read the round from chain events, fetch and judge its updates, commit the outcome.

The decisions live in ``fedledger.rules`` (``judge``: outcomes and global model; ``validation``: content checks;
``strategies`` and ``robust``: the math), which the auditor applies too; this module is plumbing: it waits for the
round to be closable, fetches every update in parallel (``fedledger.fetching``), uploads and pins the global model,
pins the included updates, and sends ``finalizeRound`` with one reason byte per submission, or
``closeFailedRound`` with the reasons when fewer than quorum updates are valid. All its state is on-chain, so it can be restarted at any time.

In a committee task (README, "Aggregator committees") it runs as one member: it judges the round exactly the same
way and sends ``attestRound`` with that outcome instead; the round closes on the threshold-th agreeing attestation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from fedledger import codec
from fedledger.clock import describe
from fedledger.commit_reveal import round_windows
from fedledger.exceptions import ChainError, FedLedgerError
from fedledger.fetch import fetch_model
from fedledger.fetching import DEFAULT_PER_UPDATE, RoundFetcher
from fedledger.history import RoundHistory, TaskHistory, task_history
from fedledger.inclusion import encode_outcomes
from fedledger.ledger import Ledger, Signer
from fedledger.privacy.errors import PrivacyError
from fedledger.privacy.phases import CLOSED, PHASE_NAMES, SETTLE, phase_at, phase_end
from fedledger.private_rounds import PrivateSettings, judge_private_round, private_settings
from fedledger.records import CommitteeChanged, TaskState, TxResult, UpdateSubmitted
from fedledger.rounds import round_inputs
from fedledger.rules.judge import judge_round
from fedledger.rules.outcomes import Judgement, effective_weights
from fedledger.rules.reasons import Reason
from fedledger.rules.strategies import strategy_from_spec
from fedledger.store import ContentStore


class RoundNotReadyError(FedLedgerError):
    """The open round cannot be closed yet (still running, or too few valid updates before its deadline)."""


class RoundAlreadyClosedError(FedLedgerError):
    """Another transaction closed the round first (e.g. a second aggregator process)."""


class NotAggregatorError(FedLedgerError):
    """The signer is not the task's aggregator (any more): it must not fetch, aggregate or upload anything."""


@dataclass(frozen=True)
class Exclusion:
    """An update left out of the global model, and why (a reason code plus a sentence)."""

    index: int
    participant: str
    reason: str  # a ``fedledger.rules.reasons.Reason``
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
    weights: list[float] = field(default_factory=list)  # per submission, 0 when excluded
    attested: bool = False  # a committee member's attestRound (not finalizeRound / closeFailedRound)
    closed: bool = True  # the transaction closed the round (an attestation closes it once threshold agree)


class Coordinator:
    """Closes rounds of one task as its aggregator."""

    def __init__(
        self,
        ledger: Ledger,
        store: ContentStore,
        signer: Signer,
        *,
        fetch_timeout: float = DEFAULT_PER_UPDATE,
        fetch_budget: float | None = None,
        on_progress: Callable[[str], None] = lambda message: None,
        judge: Callable[..., Judgement] | None = None,
    ) -> None:
        """``judge``: how a round is decided, the protocol's ``judge_round`` unless given (a test or a study of
        dishonest aggregators passes its own; what the coordinator then commits is what the audit must catch)."""
        self.ledger, self.store, self.signer = ledger, store, signer
        self.judge = judge
        self.fetch_timeout = fetch_timeout
        self.fetch_budget = fetch_budget
        self.on_progress = on_progress
        self._committee: CommitteeChanged | None = None  # the task's committee, read by close_round

    def readiness(
        self, task: TaskState, record: RoundHistory | None = None, *, latest: int | None = None
    ) -> str | None:
        """Return why the open round cannot close now, or None when it can (finalize or fail).

        ``latest``: the latest block's timestamp when already read (saves a round trip).
        """
        if not task.round_open:
            return f"task {task.task_id} has no open round"
        windows = round_windows(task_history(self.ledger, task.task_id), task)
        if windows is not None:  # commit and reveal: closable once every committer revealed, or at reveal_end
            now = self.ledger.next_block_time(latest)
            if windows.failable(now) or (windows.closable(now) and task.submissions >= task.quorum):
                return None  # (a round below quorum can only fail, which waits for the end of the reveals)
            return (
                f"round {task.round} of task {task.task_id} is still running: {windows.commits} of "
                f"{windows.expected} participants committed, {windows.reveals} revealed; reveals end "
                f"{describe(windows.reveal_end)}"
            )
        expected = task.participant_count
        if task.limits.clients_per_round:
            expected = min(expected, task.limits.clients_per_round)
        all_in = task.submissions >= expected  # the contract's count, which any accounts can fill
        if record is not None:
            all_in = all_in and not record.missing  # the protocol's: everyone the round waits for submitted
        if all_in or self.ledger.next_block_time(latest) >= task.deadline:
            return None
        return (
            f"round {task.round} of task {task.task_id} is still running: {task.submissions} of "
            f"{expected} participants submitted, deadline {describe(task.deadline)}"
        )

    def close_round(self, task_id: int) -> RoundOutcome:
        """Finalize the open round (or close it as failed); raise RoundNotReadyError if it is too early."""
        # the task and the latest block's time in one call (the aggregator's own membership is not used)
        view = self.ledger.participant_view(task_id, self.signer.address)
        task = view.task
        history = task_history(self.ledger, task_id)
        self._committee = history.committees[-1] if history.committees else None
        if self._committee is None and task.aggregator.lower() != self.signer.address.lower():
            raise NotAggregatorError(
                f"{self.signer.address} is not the aggregator of task {task_id}: {task.aggregator} is "
                "(the owner changes it with `fedledger task set-aggregator`); nothing was fetched or sent"
            )
        record = next((r for r in history.rounds if r.round == task.round), RoundHistory(task.round))
        if self._committee is not None:
            self._check_member(task, record, self._committee)
        try:
            settings = private_settings(history)
        except PrivacyError as exc:
            raise FedLedgerError(f"task {task_id} is private but its settings are unusable: {exc}") from None
        if settings is not None:
            return self._close_private(task, history, record, settings)
        reason = self.readiness(task, record, latest=view.timestamp)
        if reason:
            raise RoundNotReadyError(reason)
        if task.submissions < task.quorum:
            tx = self._send_fail(task, b"")
            return RoundOutcome(task_id, task.round, [], tx=tx, failed=True)
        judgement = self._judge(task, history, record)
        excluded = [
            Exclusion(i, record.submissions[i].participant, outcome, judgement.details.get(i, outcome))
            for i, outcome in enumerate(judgement.outcomes)
            if outcome != Reason.INCLUDED
        ]
        if not judgement.data:
            return self._fail_invalid(task, judgement, excluded)
        return self._finalize(task, record, judgement, excluded)

    def _check_member(self, task: TaskState, record: RoundHistory, committee: CommitteeChanged) -> None:
        """A committee task: the signer must be a member of the current committee that has not attested yet."""
        me = self.signer.address.lower()
        members = [m.lower() for m in committee.members]
        if me not in members:
            raise NotAggregatorError(
                f"{self.signer.address} is not a member of task {task.task_id}'s aggregator committee: "
                f"{', '.join(committee.members)} are (the owner changes them with `fedledger task "
                "set-committee`); nothing was fetched or sent"
            )
        if not task.round_open:
            return  # readiness says so
        current = [a for a in record.attestations if a.at > committee.at]
        mine = next((a for a in current if a.member.lower() == me), None)
        if mine is None:
            return
        agree = sum((a.global_digest, a.reasons) == (mine.global_digest, mine.reasons) for a in current)
        raise RoundNotReadyError(
            f"attested; waiting for {committee.threshold} of {len(members)} agreeing attestations (round "
            f"{task.round} of task {task.task_id}: {agree} agree with {self.signer.address}'s, "
            f"{len(current)} attested)"
        )

    def _close_private(
        self,
        task: TaskState,
        history: TaskHistory,
        record: RoundHistory,
        settings: PrivateSettings,
    ) -> RoundOutcome:
        """Close a private round once its phases are over: finalize the unmasked sum, or fail it naming why."""
        view = self.ledger.private_view(task.task_id, self.signer.address)
        phase = phase_at(view, task, view.timestamp)  # what the chain's own latest block says
        if (
            phase != CLOSED
        ):  # a chain that mines on demand: the wall clock, once a late block can no longer come
            phase = phase_at(view, task, time.time() - SETTLE)
        if phase != CLOSED:
            raise RoundNotReadyError(
                f"round {task.round} of task {task.task_id} is in its {PHASE_NAMES[phase]} phase until "
                f"{describe(phase_end(view, task, phase))}: {view.keys} keys, {view.shares} share bundles, "
                f"{task.submissions} uploads, {view.unmasks} unmask postings of {view.expected} participants"
            )
        if task.submissions < task.quorum or view.unmasks < settings.threshold:
            self.on_progress(
                f"{task.submissions} uploads (quorum {task.quorum}) and {view.unmasks} unmask postings "
                f"(threshold {settings.threshold}): the sum cannot be released; closing the round as failed"
            )
            return RoundOutcome(task.task_id, task.round, [], tx=self._send_fail(task, b""), failed=True)
        max_bytes = task.limits.max_update_bytes
        base = fetch_model(
            self.store, task.model_cid, task.model_digest, self.fetch_timeout, max_bytes=max_bytes
        )
        cids = [u.cid for u in record.submissions] + [p.cid for p in record.unmasks]
        fetcher = RoundFetcher(
            self.store, max_bytes=max_bytes, per_update=self.fetch_timeout, budget=self.fetch_budget
        )
        with fetcher:
            self.on_progress(
                f"fetching {len(record.submissions)} masked uploads and {len(record.unmasks)} unmask files"
            )
            fetched = fetcher.fetch_cids(cids)
            judgement = judge_private_round(
                settings,
                history,
                record,
                base,
                lambda u: fetched[u.cid].read(),
                lambda p: fetched[p.cid].read(),
                self.on_progress,
            )
        for note in judgement.notes:
            self.on_progress(note)
        excluded = [
            Exclusion(i, record.submissions[i].participant, outcome, judgement.details.get(i, outcome))
            for i, outcome in enumerate(judgement.outcomes)
            if outcome != Reason.INCLUDED
        ]
        if judgement.failure:
            self.on_progress(f"cannot finalize: {judgement.failure}; closing the round as failed")
            tx = self._send_fail(task, encode_outcomes(judgement.outcomes))
            return self._done(task, RoundOutcome(task.task_id, task.round, [], excluded, tx=tx, failed=True))
        cid = self.store.put(judgement.data)
        for pinned in cids:  # the audit re-derives the sum from every upload and unmask file, forever
            self.store.pin(pinned)
        self.on_progress(
            f"unmasked the sum of {judgement.survivors} uploads ({judgement.dropped} dropped); committing global "
            f"model {codec.digest_hex(judgement.digest)[:18]}…"
        )
        tx = self._commit(task, judgement.digest, cid, encode_outcomes(judgement.outcomes))
        weights = [float(min(u.num_samples, settings.weight_cap)) for u in record.submissions]
        return self._done(
            task,
            RoundOutcome(
                task.task_id,
                task.round,
                list(record.submissions),
                [],
                judgement.digest,
                cid,
                tx,
                weights=weights,
            ),
        )

    def _judge(self, task: TaskState, history: TaskHistory, record: RoundHistory) -> Judgement:
        max_bytes = task.limits.max_update_bytes
        base = fetch_model(
            self.store, task.model_cid, task.model_digest, self.fetch_timeout, max_bytes=max_bytes
        )
        inputs = round_inputs(history, record, task.model_digest, task.model_cid)
        fetcher = RoundFetcher(
            self.store, max_bytes=max_bytes, per_update=self.fetch_timeout, budget=self.fetch_budget
        )
        with fetcher:
            self.on_progress(
                f"fetching {len(record.submissions)} updates ({fetcher.workers} at a time, up to "
                f"{self.fetch_timeout:g} s each; at most {fetcher.bound(len(record.submissions)):g} s in all)"
            )
            fetched = fetcher.fetch_all(record.submissions)

            judge = self.judge or judge_round
            return judge(inputs, base, lambda u: fetched[u.cid].read(), on_progress=self.on_progress)

    def _finalize(
        self, task: TaskState, record: RoundHistory, judgement: Judgement, excluded: list[Exclusion]
    ) -> RoundOutcome:
        cid = self.store.put(judgement.data)
        for index in judgement.included:
            self.store.pin(record.submissions[index].cid)  # the audit needs every included update, forever
        self.on_progress(f"committing global model {codec.digest_hex(judgement.digest)[:18]}…")
        tx = self._commit(task, judgement.digest, cid, encode_outcomes(judgement.outcomes))
        included = [record.submissions[i] for i in judgement.included]
        weights = effective_weights(task.strategy, record.submissions, judgement.outcomes)
        return self._done(
            task,
            RoundOutcome(
                task.task_id, task.round, included, excluded, judgement.digest, cid, tx, weights=weights
            ),
        )

    def _fail_invalid(self, task: TaskState, judgement: Judgement, excluded: list[Exclusion]) -> RoundOutcome:
        """Fewer than quorum valid updates: close the round as failed at its deadline, naming every reason."""
        valid = sum(outcome in (Reason.INCLUDED, Reason.OUTLIER) for outcome in judgement.outcomes)
        needed = max(task.quorum, strategy_from_spec(task.strategy).min_updates())
        if valid >= task.quorum:
            # The rule needs more than the task's quorum (a task created around `task create`'s check): the
            # contract will not let the aggregator fail a round with quorum valid updates, so it waits for the
            # grace period, after which anyone may close it.
            raise RoundNotReadyError(
                f"round {task.round} of task {task.task_id}: {valid} valid updates, but {task.strategy} needs "
                f"{needed}; the round can only fail once its grace period ends"
            )
        if self.ledger.next_block_time() < task.deadline:
            raise RoundNotReadyError(
                f"round {task.round} of task {task.task_id}: only {valid} valid updates, quorum is {task.quorum}; "
                "excluded: "
                + "; ".join(f"{e.participant}: {e.reason}" for e in excluded)
                + f". The round is closed as failed at its deadline, {describe(task.deadline)}"
            )
        self.on_progress(f"only {valid} valid updates: closing the round as failed")
        tx = self._send_fail(task, encode_outcomes(judgement.outcomes))
        return self._done(task, RoundOutcome(task.task_id, task.round, [], excluded, tx=tx, failed=True))

    def _commit(self, task: TaskState, digest: bytes, cid: str, reasons: bytes) -> TxResult:
        """Finalize the round (a single aggregator) or attest this outcome (a committee member)."""
        try:
            if self._committee is not None:
                return self.ledger.attest_round(
                    self.signer,
                    task.task_id,
                    task.round,
                    global_digest=digest,
                    global_cid=cid,
                    reasons=reasons,
                )
            return self.ledger.finalize_round(
                self.signer, task.task_id, task.round, global_digest=digest, global_cid=cid, reasons=reasons
            )
        except ChainError as exc:
            raise self._lost_race(task, exc) from None

    def _send_fail(self, task: TaskState, reasons: bytes) -> TxResult:
        """Fail the round: with reasons, the aggregator's claim (a committee member attests it); without, anyone's
        close of a round below quorum (closeFailedRound, one transaction for the whole committee)."""
        if reasons and self._committee is not None:
            return self._commit(task, bytes(32), "", reasons)
        try:
            return self.ledger.close_failed_round(self.signer, task.task_id, task.round, reasons=reasons)
        except ChainError as exc:
            raise self._lost_race(task, exc) from None

    def _done(self, task: TaskState, outcome: RoundOutcome) -> RoundOutcome:
        """The outcome of a commit; a member's attestation closed the round if the round's closing event is in
        its own transaction (not merely if the round moved on: another member may have closed it meanwhile)."""
        if self._committee is None:
            return outcome
        closing = {e.at.tx_hash for e in self.ledger.rounds_finalized(task.task_id, task.round)}
        closing |= {e.at.tx_hash for e in self.ledger.rounds_failed(task.task_id, task.round)}
        ours = outcome.tx is not None and outcome.tx.tx_hash in closing
        return replace(outcome, attested=True, closed=ours)

    def _lost_race(self, task: TaskState, exc: ChainError) -> FedLedgerError:
        """After a failed close: if the round moved on meanwhile, say who closed it; else the original error."""
        now = self.ledger.get_task(task.task_id)
        if now.round == task.round and now.round_open:
            return exc
        finalized = self.ledger.rounds_finalized(task.task_id, task.round)
        closed = finalized or self.ledger.rounds_failed(task.task_id, task.round)
        how = "finalized" if finalized else "closed as failed"
        if not closed:
            return RoundAlreadyClosedError(f"round {task.round} of task {task.task_id} was already closed")
        by = self.ledger.transaction_sender(closed[0].at.tx_hash)
        return RoundAlreadyClosedError(
            f"round {task.round} of task {task.task_id} was already {how} by {by} in block "
            f"{closed[0].at.block_number}; nothing left to do for it"
        )

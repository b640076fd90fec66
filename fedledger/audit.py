"""Verify a task's rounds from the chain and the content store alone: every outcome and every global model.

For each closed round the auditor re-decides it with the aggregator's own rules (``fedledger.rules.judge``, the
very function the aggregator finalizes with) and compares, submission by submission, the outcome the chain records
with the outcome the rules give, then the global model byte for byte (via its digest). Verdicts:

``OK``          every outcome holds and the global model re-derives to the committed digest;
``MISMATCH``    the aggregator broke a rule: an exclusion whose reason does not hold, an included update that is
                invalid, a different global model, a base other than the previous global model, or a round failed
                while it held quorum valid updates;
``UNVERIFIED``  the auditor could not check (content it needs is unavailable to it): not evidence of cheating;
``FAILED``      a round legitimately closed without a global model (below quorum, or past its grace period);
``OPEN``        the round is still running.

``unavailable`` is the one exclusion nobody can refute later (content may come back): a recorded ``unavailable``
is taken as given, noted, and the audit says whether the content is available now.

Time: a round's content is fetched through ``fedledger.fetching`` (in parallel, each CID in its own window) within
an overall ``fetch_budget``, in the order the verdict needs it: the base and global models and the included
updates, then the updates excluded for a content reason, then the recorded ``unavailable`` ones (which only yield
a note). Needed content the budget did not reach makes the round UNVERIFIED; a recorded ``unavailable`` it did not
reach is noted as not re-checked. So an audit spends at most about ``fetch_budget`` seconds fetching per round,
however many CIDs nobody serves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from fedledger import codec
from fedledger.audit_cache import VerifiedRounds
from fedledger.commit_reveal import commitment
from fedledger.committee import dissent, recorded_by, refutation_note, refuted_unavailable
from fedledger.exceptions import (
    CodecError,
    ConfigurationError,
    ContentMismatchError,
    NonFiniteModelError,
    StoreError,
)
from fedledger.fetch import fetch_model
from fedledger.fetching import DEFAULT_PER_UPDATE, Fetched, RoundFetcher
from fedledger.history import RoundHistory, TaskHistory
from fedledger.privacy.accounting import PrivateTask, read_private_task
from fedledger.privacy.errors import PrivacyError
from fedledger.private_rounds import PrivateJudgement, PrivateSettings, judge_private_round, private_settings
from fedledger.records import UpdateSubmitted
from fedledger.rounds import round_inputs
from fedledger.rules.judge import judge_round
from fedledger.rules.outcomes import Judge, RoundInputs, effective_weights, event_reasons
from fedledger.rules.reasons import Reason
from fedledger.store import ContentStore
from fedledger.strategy_spec import parse_canonical

Verdict = Literal["OK", "MISMATCH", "UNVERIFIED", "FAILED", "OPEN"]

DEFAULT_FETCH_BUDGET = 120.0
"""Seconds an audit spends at most fetching one round's content (``fetch_budget``)."""


@dataclass(frozen=True)
class SubmissionCheck:
    """One submission as recorded and as re-checked."""

    index: int
    participant: str
    num_samples: int
    recorded: str  # outcome the chain records ("included" or a reason)
    recomputed: str  # outcome the auditor's re-check gives ("" when not re-checked)
    weight: float  # effective weight as recorded
    status: Literal["ok", "mismatch", "unverified", "note"]
    note: str = ""
    score: float | None = None  # the rule's score in the re-check (Krum, Multi-Krum: lower is kept)


@dataclass(frozen=True)
class RoundVerdict:
    task_id: int
    round: int
    verdict: Verdict
    reason: str
    global_digest: str = ""
    submissions: list[SubmissionCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # committee tasks: one line per attested claim that differs from the re-derived truth (README, "Aggregator
    # committees"); the verdict judges the recorded (agreed) outcome, this names the members who attested otherwise
    dissent: list[str] = field(default_factory=list)


class _Unverifiable(Exception):
    """The auditor lacks something it needs to check the round (not evidence against the aggregator)."""


def verify_task(
    history: TaskHistory,
    store: ContentStore,
    *,
    judge: Judge | None = None,
    fetch_timeout: float | None = DEFAULT_PER_UPDATE,
    fetch_budget: float | None = DEFAULT_FETCH_BUDGET,
    from_round: int = 1,
    cache: VerifiedRounds | None = None,
    on_round: Callable[[RoundVerdict], None] = lambda verdict: None,
) -> list[RoundVerdict]:
    """Verify every round of a task from ``from_round`` on (earlier ones only chain the base models).

    ``judge`` replaces the rules' ``judge_round`` (a test's lying or counting judge; never needed otherwise).
    With a ``cache``, a finalized round this auditor already verified as OK (same events) is not re-derived.
    ``fetch_timeout`` is each CID's window, ``fetch_budget`` the most seconds spent fetching one round (None: no
    budget; each CID still gets its window).
    """
    task = history.created
    model_digest, model_cid = task.initial_digest, task.initial_cid
    verdicts: list[RoundVerdict] = []
    for record in history.rounds:
        if record.round >= from_round:
            key = cache.key(task.task_id, record, model_digest) if cache else None
            cached = cache.get(key) if cache else None
            check = _RoundCheck(history, record, store, judge or judge_round, fetch_timeout, fetch_budget)
            if cached is not None:
                verdict = check.verdict("OK", cached)
            else:
                verdict = check.attested(check.run(model_digest, model_cid))
                if cache and verdict.verdict == "OK" and not verdict.dissent:
                    cache.put(key, verdict.reason + " (cached)")
            verdicts.append(verdict)
            on_round(verdict)
        if record.finalized is not None:
            model_digest, model_cid = record.finalized.global_digest, record.finalized.global_cid
    return verdicts


class _RoundCheck:
    """Re-checks one round."""

    def __init__(
        self,
        history: TaskHistory,
        record: RoundHistory,
        store: ContentStore,
        judge: Judge,
        fetch_timeout: float | None,
        fetch_budget: float | None = DEFAULT_FETCH_BUDGET,
    ) -> None:
        self.history, self.record, self.store, self.judge = history, record, store, judge
        self.timeout = fetch_timeout if fetch_timeout is not None else DEFAULT_PER_UPDATE
        self.budget = fetch_budget
        self._stop: float | None = None  # when the round's fetch budget runs out
        self._fetched: dict[str, Fetched] = {}
        # the committed global model: whether it is finite (True/False; the bytes are not kept), or why it is missing
        self._global: bool | Exception | None = None
        self.max_bytes = history.limits.max_update_bytes
        self.task_id = history.created.task_id
        # the re-derived truth, once known: outcomes, global digest (b"": the rules fail the round; None: unknown to
        # this auditor) and the submissions it could not judge; the committee's attestations are compared with it
        self._truth: tuple[list[str], bytes | None, frozenset[int]] | None = None

    def attested(self, verdict: RoundVerdict) -> RoundVerdict:
        """A committee round's verdict with its dissent: every attestation compared with the re-derived truth; a
        MISMATCH names the members whose agreement made the recorded outcome."""
        record = self.record
        if not record.attestations or verdict.verdict == "OPEN":
            return verdict
        if self._truth is None:
            note = "the committee's attestations were not compared: the round was not re-derived"
            return replace(verdict, notes=[*verdict.notes, note])
        outcomes, digest, unknown = self._truth
        lines = dissent(record, outcomes, digest, unknown=unknown)
        who = recorded_by(record)
        reason = f"{verdict.reason} ({who})" if verdict.verdict == "MISMATCH" and who else verdict.reason
        return replace(verdict, reason=reason, dissent=lines, notes=[*verdict.notes, *lines])

    def verdict(self, verdict: Verdict, reason: str, **extra: Any) -> RoundVerdict:
        final = self.record.finalized
        digest = codec.digest_hex(final.global_digest) if final else ""
        return RoundVerdict(self.task_id, self.record.round, verdict, reason, digest, **extra)

    def run(self, base_digest: bytes, base_cid: str) -> RoundVerdict:
        record = self.record
        if record.status == "open":
            return self.verdict("OPEN", f"round open; {len(record.submissions)} submissions so far")
        if record.opened is not None and record.opened.base_digest != base_digest:
            return self.verdict(
                "MISMATCH", "round opened on a base model other than the previous global model"
            )
        unopened = unopened_commitments(self.history, record)
        if unopened:
            return self.verdict("MISMATCH", unopened)
        if self.history.privacy is not None:
            return self._private_check(base_digest, base_cid)
        early = self._closed_early()
        if early:
            return self.verdict("MISMATCH", early)
        if record.failed is not None and not self._aggregator_failed_with_quorum():
            return self.verdict("FAILED", self._failure_reason(), notes=self._ignored_reasons())
        if record.reasons and len(record.reasons) != len(record.submissions):
            return self.verdict(
                "MISMATCH",
                f"the round records {len(record.reasons)} outcomes for {len(record.submissions)} submissions",
            )
        try:
            parse_canonical(self.history.created.strategy)
            return self._recheck(round_inputs(self.history, record, base_digest, base_cid))
        except ConfigurationError as exc:
            return self.verdict("UNVERIFIED", f"cannot re-derive: {exc}")
        except _Unverifiable as exc:
            return self.verdict("UNVERIFIED", str(exc))
        except NonFiniteModelError as exc:  # the rules give no finite model: none may be committed
            if record.finalized is not None:
                return self.verdict("MISMATCH", f"global model is not finite: {exc}")
            return self.verdict("FAILED", f"round failed: {exc}")

    def _private_check(self, base_digest: bytes, base_cid: str) -> RoundVerdict:
        """A private round: re-derive the unmasked sum from its transcript (``fedledger.private_rounds``)."""
        record = self.record
        try:
            settings = private_settings(self.history)
        except PrivacyError as exc:
            return self.verdict(
                "UNVERIFIED", f"cannot re-derive: the task's privacy params are unusable: {exc}"
            )
        assert settings is not None and self.history.privacy is not None
        private_task = read_private_task(self.history.privacy, settings.weight_cap)
        if isinstance(private_task, str):
            return self.verdict(
                "UNVERIFIED", f"cannot re-derive: the task's privacy params are unusable: {private_task}"
            )
        overrun = _budget_overrun(private_task, record.round)
        if overrun:
            return self.verdict("MISMATCH", overrun)
        failed = record.failed
        if failed is not None and not (self._failure_is_recorded_by_aggregator() and record.reasons):
            return self.verdict(
                "FAILED", self._private_failure_reason(settings), notes=self._ignored_reasons()
            )
        if record.reasons and len(record.reasons) != len(record.submissions):
            return self.verdict(
                "MISMATCH",
                f"the round records {len(record.reasons)} outcomes for {len(record.submissions)} submissions",
            )
        try:
            judgement = self._private_judgement(settings, base_digest, base_cid)
        except _Unverifiable as exc:
            return self.verdict("UNVERIFIED", str(exc))
        unknown = frozenset(i for i, o in enumerate(judgement.outcomes) if o == Reason.UNAVAILABLE)
        known = not (judgement.unfetched or unknown)
        self._truth = (
            judgement.outcomes,
            (b"" if judgement.failure else judgement.digest) if known else None,
            unknown,
        )
        checks = [
            SubmissionCheck(i, u.participant, u.num_samples, was, now, 0.0, *_judge_outcome(was, now))
            for i, (u, was, now) in enumerate(
                zip(record.submissions, record.outcomes, judgement.outcomes, strict=True)
            )
        ]
        notes = list(judgement.notes)
        for (
            c
        ) in checks:  # a recorded `unavailable` is taken as given, as in plain rounds (nobody can refute it)
            if c.recorded == Reason.UNAVAILABLE:
                note = "found unavailable by the aggregator; " + (
                    "available to this auditor now"
                    if c.recomputed == Reason.INCLUDED
                    else "still not available"
                )
                checks[c.index] = SubmissionCheck(
                    c.index, c.participant, c.num_samples, c.recorded, c.recomputed, 0.0, "note", note
                )
                notes.append(f"{c.participant} (#{c.index}): {note}")
        if failed is not None:
            return self._private_failed_verdict(judgement, checks, notes)
        excluded = [c for c in checks if c.recorded != Reason.INCLUDED]
        if excluded:
            first = excluded[0]
            return self.verdict(
                "MISMATCH",
                f"{first.participant} (#{first.index}): excluded as {first.recorded}, but a private round includes "
                "every upload or fails",
                submissions=checks,
                notes=notes,
            )
        if judgement.failure:
            verdict: Verdict = "UNVERIFIED" if judgement.unfetched else "MISMATCH"
            return self.verdict(
                verdict, f"finalized, but {judgement.failure}", submissions=checks, notes=notes
            )
        final = record.finalized
        assert final is not None
        if judgement.digest != final.global_digest:
            return self.verdict(
                "MISMATCH",
                f"different result: the unmasked sum gives {codec.digest_hex(judgement.digest)}, committed "
                f"{codec.digest_hex(final.global_digest)}",
                submissions=checks,
                notes=notes,
            )
        return self.verdict(
            "OK",
            f"re-derived from the unmasked sum of {judgement.survivors} masked uploads ({judgement.dropped} "
            "dropped after sharing their keys)",
            submissions=checks,
            notes=notes,
        )

    def _private_judgement(
        self, settings: PrivateSettings, base_digest: bytes, base_cid: str
    ) -> PrivateJudgement:
        record = self.record
        self._stop = None if self.budget is None else time.monotonic() + self.budget
        base = self._fetch_base(base_digest, base_cid)
        fetcher = RoundFetcher(
            self.store, max_bytes=self.max_bytes, per_update=self.timeout, budget=self._remaining()
        )
        with fetcher:
            fetched = fetcher.fetch_cids(
                [u.cid for u in record.submissions] + [p.cid for p in record.unmasks]
            )
            return judge_private_round(
                settings,
                self.history,
                record,
                base,
                lambda u: fetched[u.cid].read(),
                lambda p: fetched[p.cid].read(),
            )

    def _private_failed_verdict(
        self, judgement: PrivateJudgement, checks: list[SubmissionCheck], notes: list[str]
    ) -> RoundVerdict:
        """The aggregator failed a private round naming outcomes: the transcript must not unmask."""
        bad = [c for c in checks if c.status == "mismatch"]
        if bad:
            first = bad[0]
            return self.verdict(
                "MISMATCH",
                f"{first.participant} (#{first.index}): {first.note}",
                submissions=checks,
                notes=notes,
            )
        unavailable = [c for c in checks if c.recorded == Reason.UNAVAILABLE]
        if unavailable:
            return self.verdict(
                "FAILED",
                f"round failed: the aggregator found the masked upload of {unavailable[0].participant} "
                f"(#{unavailable[0].index}) unavailable (taken as given), so the sum could not be unmasked",
                submissions=checks,
                notes=notes,
            )
        if not judgement.failure:
            return self.verdict(
                "MISMATCH",
                f"the aggregator failed the round although its transcript unmasks ({judgement.survivors} uploads)",
                submissions=checks,
                notes=notes,
            )
        return self.verdict("FAILED", f"round failed: {judgement.failure}", submissions=checks, notes=notes)

    def _private_failure_reason(self, settings: PrivateSettings) -> str:
        record = self.record
        quorum, count, unmasks = self.history.created.quorum, len(record.submissions), len(record.unmasks)
        if count < quorum:
            return f"round failed below quorum ({count} of {quorum} masked uploads)"
        if unmasks < settings.threshold:
            return f"round failed: {unmasks} unmask postings, {settings.threshold} needed to unmask the sum"
        return f"round failed after its grace period with {count} uploads: the aggregator did not finalize it"

    def _closed_early(self) -> str:
        """Why the round was finalized before its deadline without someone it had to wait for ("" if it was not).

        The contract lets a round close early once as many submissions as it expects arrived, whoever sent them;
        the protocol lets it close early only when every sampled participant (every member, without sampling)
        submitted, so that nobody still on time is shut out.
        """
        record = self.record
        missing = record.missing
        if record.finalized is None or record.opened is None or not missing or record.closed_time is None:
            return ""
        deadline = record.opened.deadline
        if record.closed_time >= deadline:
            return ""
        who = "sampled participants" if record.sampled is not None else "participants"
        return (
            f"closed early: finalized at {record.closed_time}, before the deadline {deadline}, while "
            f"{who} had not submitted: {', '.join(missing)}"
        )

    def _aggregator_failed_with_quorum(self) -> bool:
        """Whether the failure is the aggregator's claim to check: it closed a round holding quorum submissions,
        or it named reasons (below quorum too: a reason the aggregator records accuses a participant, so it must
        hold like any outcome).

        Anyone may fail a round below quorum, or after its grace period; the reasons a non-aggregator sends
        then are nobody's claim and are not checked.
        """
        return self._failure_is_recorded_by_aggregator() and (
            len(self.record.submissions) >= self.history.created.quorum or bool(self.record.reasons)
        )

    def _failure_is_recorded_by_aggregator(self) -> bool:
        """Whether the round's failure is its aggregator's act: the task's aggregator closed it, or, in a committee
        task, the committee's threshold-th agreeing attestation did (anyone else's failure is nobody's claim)."""
        record = self.record
        failed = record.failed
        assert failed is not None
        if record.committee is not None:
            return record.attested_close is not None
        return failed.closed_by == record.aggregator

    def _ignored_reasons(self) -> list[str]:
        """A note when the round's failure carries reasons from someone who was not its aggregator."""
        sender = self.record.ignored_reasons_by
        if not sender:
            return []
        if self.record.committee is not None:
            return [
                f"reasons given by {sender} outside a committee attestation are not outcomes and were ignored"
            ]
        return [f"reasons given by {sender}, who is not the aggregator, are not outcomes and were ignored"]

    def _failure_reason(self) -> str:
        quorum, count = self.history.created.quorum, len(self.record.submissions)
        if count < quorum:
            return f"round failed below quorum ({count} of {quorum} submissions)"
        return f"round failed after its grace period with {count} submissions: the aggregator did not finalize it"

    def _recheck(self, inputs: RoundInputs) -> RoundVerdict:
        self._stop = None if self.budget is None else time.monotonic() + self.budget
        base = self._fetch_base(inputs.base_digest, inputs.base_cid)
        final = self.record.finalized
        recorded = self.record.outcomes  # empty: the aggregator failed the round naming no reasons
        # an event reason comes first: `unavailable` cannot replace it
        excluded_by_events = event_reasons(inputs)
        refuted = refuted_unavailable(self.record)  # a member's attestation proves the content was fetched
        fixed: dict[int, str] = {
            i: Reason.UNAVAILABLE
            for i, outcome in enumerate(recorded)
            if outcome == Reason.UNAVAILABLE and i not in excluded_by_events and i not in refuted
        }
        fetcher = RoundFetcher(
            self.store, max_bytes=self.max_bytes, per_update=self.timeout, budget=self._remaining()
        )
        order = [u.cid for u in self._fetch_order(inputs, recorded, excluded_by_events, fixed)]
        with fetcher:  # the global model first (the verdict needs it), spooled to disk like the updates
            self._fetched = fetcher.fetch_cids(([final.global_cid] if final else []) + order)
            judgement = self.judge(inputs, base, lambda update: self._fetched[update.cid].read(), fixed)
            if final is not None:  # checked after the re-derivation: its bytes never sit beside the sums
                self._global = self._check_global(self._fetched[final.global_cid], final.global_digest)
        unknown = frozenset(
            i for i, o in enumerate(judgement.outcomes) if o == Reason.UNAVAILABLE and i not in fixed
        )
        self._truth = (judgement.outcomes, None if unknown else judgement.digest, unknown)
        checks, notes = self._compare(inputs, recorded, judgement.outcomes, judgement.scores)
        for index, members in refuted.items():
            note = refutation_note(self.record, index, members)
            checks[index] = replace(checks[index], status="mismatch", note=note)
            notes = [n for n in notes if not n.startswith(f"{checks[index].participant} (#{index}):")]
        bad = [c for c in checks if c.status == "mismatch"]
        if bad:
            first = bad[0]
            reason = f"{first.participant} (#{first.index}): {first.note}" + (
                f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
            )
            return self.verdict("MISMATCH", reason, submissions=checks, notes=notes)
        unverified = [c for c in checks if c.status == "unverified"]
        if unverified:
            first = unverified[0]
            return self.verdict(
                "UNVERIFIED",
                f"{first.participant} (#{first.index}): {first.note}",
                submissions=checks,
                notes=notes,
            )
        if self.record.failed is not None:
            return self._failed_verdict(judgement.outcomes, checks, notes)
        return self._global_verdict(judgement.digest, checks, notes)

    def _remaining(self) -> float | None:
        """Seconds left of the round's fetch budget (None: no budget)."""
        return None if self._stop is None else max(0.0, self._stop - time.monotonic())

    def _window(self) -> float:
        """One model's fetch window: its own timeout, cut to what is left of the budget."""
        left = self._remaining()
        return self.timeout if left is None else min(self.timeout, left)

    @staticmethod
    def _fetch_order(
        inputs: RoundInputs, recorded: list[str], by_events: dict[int, str], fixed: dict[int, str]
    ) -> list[UpdateSubmitted]:
        """The updates the re-check fetches, most needed first: those the verdict rests on (included, outlier, or
        every one when no outcome is recorded), then those excluded for a content reason, then the recorded
        ``unavailable`` ones (only a note depends on them); none the events already decide."""

        def rank(index: int) -> int:
            if index in fixed:
                return 2
            return 0 if not recorded or recorded[index] in (Reason.INCLUDED, Reason.OUTLIER) else 1

        wanted = [i for i in range(len(inputs.submissions)) if i not in by_events]
        return [inputs.submissions[i] for i in sorted(wanted, key=lambda i: (rank(i), i))]

    def _fetch_base(self, digest: bytes, cid: str) -> codec.Tensors:
        window = self._window()
        if window <= 0:
            raise _Unverifiable(f"base model {cid} was not fetched within the audit's budget")
        try:
            return fetch_model(self.store, cid, digest, window, max_bytes=self.max_bytes)
        except ContentMismatchError as exc:
            raise _Unverifiable(f"the store returned other bytes for base model {cid}: {exc}") from None
        except (StoreError, CodecError) as exc:
            raise _Unverifiable(f"base model {cid} is not available to check against: {exc}") from None

    @staticmethod
    def _check_global(fetched: Fetched, digest: bytes) -> bool | Exception:
        """Whether the committed global model is finite (checked against its digest on the way), or why it could
        not be fetched or is not the committed model. Only the answer is kept, not the model."""
        if fetched.path is None:
            if fetched.reason == Reason.CID_MISMATCH:
                return ContentMismatchError(fetched.detail)
            return StoreError(fetched.detail)
        data = fetched.path.read_bytes()
        if codec.model_digest(data) != digest:
            return ContentMismatchError(
                f"it hashes to {codec.digest_hex(codec.model_digest(data))}, the chain committed "
                f"{codec.digest_hex(digest)}"
            )
        try:
            model = codec.decode(data)
        except CodecError as exc:
            return exc
        return all(bool(np.isfinite(t).all()) for t in model.values())

    def _compare(
        self, inputs: RoundInputs, recorded: list[str], recomputed: list[str], scores: dict[int, float]
    ) -> tuple[list[SubmissionCheck], list[str]]:
        """Submission by submission: does the recorded outcome hold? (With the rule's score, where it ranks.)"""
        weights = (
            effective_weights(inputs.strategy, inputs.submissions, recorded)
            if recorded
            else [0.0] * len(inputs.submissions)
        )
        checks: list[SubmissionCheck] = []
        notes: list[str] = []
        for index, update in enumerate(inputs.submissions):
            was, now = (recorded[index] if recorded else ""), recomputed[index]
            status, note = _judge_outcome(was, now) if recorded else _unrecorded_outcome(now)
            if was == Reason.UNAVAILABLE and now == Reason.UNAVAILABLE:
                status, note = "note", self._unavailable_note(update)
                notes.append(f"{update.participant} (#{index}): {note}")
            checks.append(
                SubmissionCheck(
                    index,
                    update.participant,
                    update.num_samples,
                    was,
                    now,
                    weights[index],
                    status,
                    note,
                    scores.get(index),
                )
            )
        return checks, notes

    def _unavailable_note(self, update: UpdateSubmitted) -> str:
        fetched = self._fetched.get(update.cid)
        if fetched is None or fetched.out_of_budget:
            return "excluded as unavailable at finalization; not re-checked within the audit's budget"
        if fetched.path is None:
            return "excluded as unavailable at finalization; still unavailable"
        return "excluded as unavailable at finalization; content is now available"

    def _failed_verdict(
        self, outcomes: list[str], checks: list[SubmissionCheck], notes: list[str]
    ) -> RoundVerdict:
        valid = sum(o in (Reason.INCLUDED, Reason.OUTLIER) for o in outcomes)
        quorum = self.history.created.quorum
        if valid >= quorum:
            unnamed = "" if self.record.reasons else ", naming no reasons"
            return self.verdict(
                "MISMATCH",
                f"the aggregator failed the round{unnamed} although {valid} updates are valid (quorum {quorum})",
                submissions=checks,
                notes=notes,
            )
        return self.verdict(
            "FAILED",
            f"round failed: {valid} valid updates, below the quorum of {quorum}",
            submissions=checks,
            notes=notes,
        )

    def _global_verdict(
        self, recomputed: bytes, checks: list[SubmissionCheck], notes: list[str]
    ) -> RoundVerdict:
        final = self.record.finalized
        assert final is not None
        committed = codec.digest_hex(final.global_digest)
        if not recomputed:
            return self.verdict(
                "MISMATCH",
                "too few valid updates to finalize, yet a global model was committed",
                submissions=checks,
                notes=notes,
            )
        if self._global is False:
            return self.verdict(
                "MISMATCH",
                f"global model is not finite: {final.global_cid} has NaN or infinite values",
                submissions=checks,
                notes=notes,
            )
        if recomputed != final.global_digest:
            return self.verdict(
                "MISMATCH",
                f"different result: recomputed {codec.digest_hex(recomputed)}, committed {committed}",
                submissions=checks,
                notes=notes,
            )
        fetched = self._global
        if isinstance(fetched, ContentMismatchError):
            return self.verdict(
                "MISMATCH",
                f"global model {final.global_cid} does not match its digest: {fetched}",
                submissions=checks,
                notes=notes,
            )
        if isinstance(fetched, Exception) or fetched is None:
            return self.verdict(
                "UNVERIFIED",
                f"global model {final.global_cid} is not available: {fetched}",
                submissions=checks,
                notes=notes,
            )
        included = sum(c.recorded == Reason.INCLUDED for c in checks)
        notes = notes + self._unpinned(
            [
                (c.participant, self.record.submissions[c.index].cid)
                for c in checks
                if c.recorded == Reason.INCLUDED
            ]
            + [("global model", final.global_cid)]
        )
        return self.verdict(
            "OK", f"re-derived from {included} of {len(checks)} updates", submissions=checks, notes=notes
        )

    def _unpinned(self, contents: list[tuple[str, str]]) -> list[str]:
        """Notes for content the store does not pin: it was fetched from elsewhere and may be garbage-collected."""
        notes = []
        for owner, cid in contents:
            try:
                pinned = self.store.is_pinned(cid)
            except StoreError:
                continue
            if not pinned:
                notes.append(
                    f"{cid} ({owner}) is not pinned on {self.store.describe()}: fetched from elsewhere"
                )
        return notes


def unopened_commitments(history: TaskHistory, record: RoundHistory) -> str:
    """On a commit-reveal task, why some submissions of the round are not their authors' ("" when all are).

    Each submission needs an earlier UpdateCommitted of the same participant in the round whose commitment is
    keccak256(abi.encode(digest, participant, salt)) with the salt of that participant's UpdateRevealed (README,
    "Commit and reveal"). The contract guarantees it; the audit re-checks it from the events alone.
    """
    if history.commit_reveal is None:
        return ""
    salts: dict[str, list[bytes]] = {}
    for reveal in record.reveals:
        salts.setdefault(reveal.participant.lower(), []).append(reveal.salt)
    unopened = []
    for i, update in enumerate(record.submissions):
        who = update.participant.lower()
        queue = salts.get(who)
        salt = queue.pop(0) if queue else None
        at = (update.at.block_number, update.at.log_index)
        committed = {
            c.commitment
            for c in record.commits
            if c.participant.lower() == who and (c.at.block_number, c.at.log_index) < at
        }
        if salt is None or commitment(update.digest, update.participant, salt) not in committed:
            unopened.append(f"submission {i} ({update.participant})")
    if not unopened:
        return ""
    return (
        f"{', '.join(unopened)}: no earlier commitment of the same participant in the round opens with the "
        "revealed salt (commit and reveal)"
    )


def _budget_overrun(task: PrivateTask, round_: int) -> str:
    """Why round ``round_`` of a DP task breaks its epsilon budget ("" when it does not, or has no budget). Every
    opened round is charged: its unmask material makes its sum computable, whatever its outcome."""
    spec = task.spec
    if not (spec.dp and spec.budget):
        return ""
    spent = task.epsilon_after(round_)
    if spent <= spec.budget:
        return ""
    return (
        f"round {round_} takes the privacy loss to epsilon {spent:.4g} (delta {spec.delta!r}), over the task's "
        f"budget {spec.budget!r}: maxRounds {task.max_rounds} does not respect it"
    )


CheckStatus = Literal["ok", "mismatch", "unverified", "note"]


def _judge_outcome(recorded: str, recomputed: str) -> tuple[CheckStatus, str]:
    """Whether a recorded outcome holds against the re-check, and a sentence when it does not."""
    if recorded == recomputed:
        return "ok", ""
    if recomputed == Reason.UNAVAILABLE:
        return "unverified", f"recorded {recorded}, but the content is not available to this auditor"
    if recorded == Reason.INCLUDED:
        return "mismatch", f"included, but the update is {recomputed}"
    if recomputed == Reason.INCLUDED:
        return "mismatch", f"excluded as {recorded}, but the update is valid"
    return "mismatch", f"excluded as {recorded}, but the rules say {recomputed}"


def _unrecorded_outcome(recomputed: str) -> tuple[CheckStatus, str]:
    """A submission of a round failed without reasons: nothing to refute, but the auditor may lack its content."""
    if recomputed == Reason.UNAVAILABLE:
        return "unverified", "no outcome recorded, and the content is not available to this auditor"
    return "note", f"no outcome recorded; the rules say {recomputed}"


def audit_summary(verdicts: list[RoundVerdict]) -> dict[str, Any]:
    """The ``audit`` object of --json output.

    ``status``: ``ok`` (every closed round verified), ``mismatch`` (some round breaks the rules), ``unverified``
    (no mismatch, but some round could not be checked) or ``empty`` (nothing to verify: no closed round at all,
    which must not read as success). ``ok`` is true only for ``ok``.
    """
    kinds = {v.verdict for v in verdicts}
    if "MISMATCH" in kinds:
        status = "mismatch"
    elif "UNVERIFIED" in kinds:
        status = "unverified"
    elif "OK" not in kinds and "FAILED" not in kinds:
        status = "empty"
    else:
        status = "ok"
    return {
        "ok": status == "ok",
        "status": status,
        "verified_rounds": sum(v.verdict == "OK" for v in verdicts),
        "rounds": [asdict(v) for v in verdicts],
    }

"""The round contract under random call sequences from random senders (a Hypothesis state machine on the embedded
chain), checked against a plain-Python model of its rules after every step.

Invariants: only allowlisted, in-time, once-per-round, within-cap submissions count; a round ends exactly once;
the reasons, includedRoot and numIncluded of every closed round agree; quorum and grace rules hold; the live
state (round, submissions, participant count, aggregator, model) is the model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from fedledger.embedded_chain import advance_time
from fedledger.exceptions import ContractRevertError
from fedledger.inclusion import included_root
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect
from fedledger.records import RoundFailed, RoundFinalized, TaskLimits

CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
ACTORS = 7
DURATION = 100
OUTLIER = 12


@dataclass
class TaskModel:
    owner: int
    aggregator: int
    quorum: int
    max_samples: int
    grace: int
    clients_per_round: int
    members: dict[int, int] = field(default_factory=dict)  # actor -> own cap
    last_submitted: dict[int, int] = field(default_factory=dict)
    round: int = 0
    deadline: int = 0
    submissions: list[int] = field(default_factory=list)
    model: bytes = b"\x01" * 32

    def cap(self, actor: int) -> int:
        caps = [c for c in (self.max_samples, self.members.get(actor, 0)) if c]
        return min(caps) if caps else 0

    def all_in(self) -> bool:
        expected = len(self.members)
        if self.clients_per_round and self.clients_per_round < expected:
            expected = self.clients_per_round
        return len(self.submissions) >= expected


class RoundContract(RuleBasedStateMachine):
    """Drives the contract and a model side by side; every call's outcome must match the model's prediction."""

    initial: tuple[bytes, str] = (b"\x01" * 32, CID)  # every task's initial model: (digest, CID)

    @initialize(
        quorum=st.sampled_from([1, 2, 3]), max_samples=st.sampled_from([0, 5]), grace=st.sampled_from([0, 50])
    )
    def deploy(self, quorum: int, max_samples: int, grace: int) -> None:
        """A contract with task 1 live: owner 0, aggregator 1, participants 2..4, round 1 open."""
        self.w3 = connect(EMBEDDED)
        self.actors = [Signer(a) for a in self.w3.eth.accounts[:ACTORS]]
        self.ledger, _ = Ledger.deploy(self.w3, self.actors[0])
        self.digests = 0
        task_id, _ = self.ledger.create_task(
            self.actors[0],
            aggregator=self.actors[1].address,
            initial_digest=self.initial[0],
            initial_cid=self.initial[1],
            quorum=quorum,
            round_duration=DURATION,
            strategy="fedavg",
            limits=TaskLimits(max_samples, 1 << 20, grace, 0),
        )
        t = TaskModel(0, 1, quorum, max_samples, grace, 0, model=self.initial[0])
        for who in (2, 3, 4):
            self.ledger.add_participant(self.actors[0], task_id, self.actors[who].address)
            t.members[who] = 0
        now = self.next_time()
        self.ledger.open_round(self.actors[0], task_id)
        t.round, t.deadline = 1, now + DURATION
        self.tasks: dict[int, TaskModel] = {task_id: t}

    # ------------------------------------------------------------------ helpers

    def next_time(self) -> int:
        return (
            self.ledger.block_timestamp() + 1
        )  # the embedded chain mines the next block at least a second later

    def expect(self, error: str | None, call: object) -> bool:
        """Run ``call``; assert it reverts with ``error`` (or succeeds when None); return whether it succeeded."""
        try:
            call()  # type: ignore[operator]
        except ContractRevertError as exc:
            assert error is not None, f"unexpected revert {exc.error_name}: {exc}"
            assert exc.error_name == f"FederatedRounds{error}", f"expected {error}, got {exc.error_name}"
            return False
        assert error is None, f"expected revert {error}, but the call succeeded"
        return True

    def pick(self, data: st.DataObject, right: list[int]) -> int:
        """A sender: usually one the rules allow (so that calls get past the guards), sometimes anyone."""
        choices = right or list(range(ACTORS))
        return data.draw(
            st.one_of(st.sampled_from(choices), st.sampled_from(choices), st.integers(0, ACTORS - 1))
        )

    def fresh_digest(self) -> bytes:
        self.digests += 1
        return self.digests.to_bytes(32, "big")

    def fresh_update(self) -> tuple[bytes, str]:
        """A new update's (digest, CID) for a submission (here a fresh digest; the CID names no content)."""
        return self.fresh_digest(), CID

    # ------------------------------------------------------------------ rules

    @precondition(lambda self: len(self.tasks) < 2)
    @rule(
        sender=st.integers(0, ACTORS - 1),
        aggregator=st.integers(0, ACTORS - 1),
        quorum=st.sampled_from([0, 1, 1, 2, 2, 3]),
        max_samples=st.sampled_from([0, 5, 100]),
        grace=st.sampled_from([0, 50]),
        clients=st.sampled_from([0, 0, 2, 3]),
    )
    def create_task(
        self, sender: int, aggregator: int, quorum: int, max_samples: int, grace: int, clients: int
    ) -> None:
        error = None
        if quorum == 0 or (clients and clients < quorum):
            error = "InvalidParameter"
        limits = TaskLimits(max_samples, 1 << 20, grace, clients)
        created: list[int] = []

        def call() -> None:
            task_id, _ = self.ledger.create_task(
                self.actors[sender],
                aggregator=self.actors[aggregator].address,
                initial_digest=self.initial[0],
                initial_cid=self.initial[1],
                quorum=quorum,
                round_duration=DURATION,
                strategy="fedavg",
                limits=limits,
            )
            created.append(task_id)

        if self.expect(error, call):
            assert created[0] == len(self.tasks) + 1
            self.tasks[created[0]] = TaskModel(
                sender, aggregator, quorum, max_samples, grace, clients, model=self.initial[0]
            )

    @precondition(lambda self: bool(self.tasks))
    @rule(data=st.data(), who=st.integers(0, ACTORS - 1), cap=st.sampled_from([0, 3, 50]))
    def add_participant(self, data: st.DataObject, who: int, cap: int) -> None:
        task_id = data.draw(st.sampled_from(sorted(self.tasks)))
        t = self.tasks[task_id]
        sender = self.pick(data, [t.owner])
        error = "NotOwner" if sender != t.owner else "AlreadyParticipant" if who in t.members else None
        if self.expect(
            error,
            lambda: self.ledger.add_participant(
                self.actors[sender], task_id, self.actors[who].address, max_samples=cap
            ),
        ):
            t.members[who] = cap

    @precondition(lambda self: bool(self.tasks))
    @rule(
        data=st.data(),
        batch=st.lists(
            st.tuples(st.integers(0, ACTORS - 1), st.sampled_from([0, 3, 50])), min_size=1, max_size=3
        ),
    )
    def add_participants(self, data: st.DataObject, batch: list[tuple[int, int]]) -> None:
        """The batch: all or nothing, refused at the first account already on the list (or earlier in the batch)."""
        task_id = data.draw(st.sampled_from(sorted(self.tasks)))
        t = self.tasks[task_id]
        sender = self.pick(data, [t.owner])
        error = "NotOwner" if sender != t.owner else None
        seen = set(t.members)
        for who, _ in batch:
            if error is None and who in seen:
                error = "AlreadyParticipant"
            seen.add(who)
        accounts = [self.actors[who].address for who, _ in batch]
        caps = [cap for _, cap in batch]
        if self.expect(
            error,
            lambda: self.ledger.add_participants(self.actors[sender], task_id, accounts, max_samples=caps),
        ):
            t.members.update(batch)

    @precondition(lambda self: bool(self.tasks))
    @rule(data=st.data())
    def remove_participant(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(sorted(self.tasks)))
        t = self.tasks[task_id]
        sender = self.pick(data, [t.owner])
        who = self.pick(data, sorted(t.members))
        error = "NotOwner" if sender != t.owner else "NotParticipant" if who not in t.members else None
        if self.expect(
            error,
            lambda: self.ledger.remove_participant(self.actors[sender], task_id, self.actors[who].address),
        ):
            del t.members[who]

    @precondition(lambda self: bool(self.tasks))
    @rule(data=st.data(), new=st.sampled_from([1, 1, 5]))
    def set_aggregator(self, data: st.DataObject, new: int) -> None:
        task_id = data.draw(st.sampled_from(sorted(self.tasks)))
        t = self.tasks[task_id]
        sender = self.pick(data, [t.owner])
        error = "NotOwner" if sender != t.owner else None
        if self.expect(
            error, lambda: self.ledger.set_aggregator(self.actors[sender], task_id, self.actors[new].address)
        ):
            t.aggregator = new

    @precondition(lambda self: bool(self.tasks))
    @rule(data=st.data())
    def open_round(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(sorted(self.tasks)))
        t = self.tasks[task_id]
        sender = self.pick(data, [t.owner, t.aggregator])
        error = None
        if sender not in (t.owner, t.aggregator):
            error = "NotOwnerOrAggregator"
        elif t.round:
            error = "RoundAlreadyOpen"
        now = self.next_time()
        if self.expect(error, lambda: self.ledger.open_round(self.actors[sender], task_id)):
            t.round, t.deadline, t.submissions = 1, now + DURATION, []

    @precondition(lambda self: bool(self.tasks))
    @rule(data=st.data(), offset=st.sampled_from([0, 0, 0, 1, -1]), samples=st.sampled_from([0, 1, 4, 60]))
    def submit(self, data: st.DataObject, offset: int, samples: int) -> None:
        task_id = data.draw(st.sampled_from(sorted(self.tasks)))
        t = self.tasks[task_id]
        sender = self.pick(data, sorted(t.members))
        round_ = max(0, t.round + offset)
        now = self.next_time()
        cap = t.cap(sender)
        error = None
        if sender not in t.members:
            error = "NotParticipant"
        elif t.round == 0:
            error = "NoOpenRound"
        elif round_ != t.round:
            error = "WrongRound"
        elif now >= t.deadline:
            error = "DeadlinePassed"
        elif t.last_submitted.get(sender) == round_:
            error = "AlreadySubmitted"
        elif samples == 0:
            error = "InvalidParameter"
        elif cap and samples > cap:
            error = "TooManySamples"
        call = lambda: self.ledger.submit_update(
            self.actors[sender], task_id, round_, *self.fresh_update(), samples
        )
        if self.expect(error, call):
            t.last_submitted[sender] = round_
            t.submissions.append(sender)

    @precondition(lambda self: bool(self.tasks))
    @rule(data=st.data(), length_delta=st.sampled_from([0, 0, 0, 1, -1]))
    def finalize(self, data: st.DataObject, length_delta: int) -> None:
        task_id = data.draw(st.sampled_from(sorted(self.tasks)))
        t = self.tasks[task_id]
        sender = self.pick(data, [t.aggregator])
        length = max(0, len(t.submissions) + length_delta)
        reasons = bytes(
            data.draw(st.lists(st.sampled_from([0, 0, 0, 5, 12, 13, 14]), min_size=length, max_size=length))
        )
        now = self.next_time()
        included = reasons.count(0)
        valid = included + reasons.count(OUTLIER)
        error = None
        if sender != t.aggregator:
            error = "NotAggregator"
        elif t.round == 0:
            error = "NoOpenRound"
        elif not t.all_in() and now < t.deadline:
            error = "RoundStillRunning"
        elif len(reasons) != len(t.submissions):
            error = "BadReasons"
        elif any(b > 13 for b in reasons):
            error = "UnknownReason"
        elif included == 0 or valid < t.quorum:
            error = "QuorumNotMet"
        digest = self.fresh_digest()
        call = lambda: self.ledger.finalize_round(
            self.actors[sender], task_id, t.round, global_digest=digest, global_cid=CID, reasons=reasons
        )
        if self.expect(error, call):
            t.model = digest
            self._next_round(t, now)

    @precondition(lambda self: bool(self.tasks))
    @rule(data=st.data(), with_reasons=st.booleans())
    def close_failed(self, data: st.DataObject, with_reasons: bool) -> None:
        task_id = data.draw(st.sampled_from(sorted(self.tasks)))
        t = self.tasks[task_id]
        sender = self.pick(data, [t.aggregator])
        n = len(t.submissions)
        reasons = (
            bytes(data.draw(st.lists(st.sampled_from([0, 5, 12]), min_size=n, max_size=n)))
            if with_reasons
            else b""
        )
        now = self.next_time()
        valid = reasons.count(0) + reasons.count(OUTLIER)
        error = None
        if t.round == 0:
            error = "NoOpenRound"
        elif now < t.deadline:
            error = "RoundStillRunning"
        elif n >= t.quorum and now < t.deadline + t.grace:
            if sender != t.aggregator:
                error = "QuorumReached"
            elif len(reasons) != n:
                error = "BadReasons"
            elif valid >= t.quorum:
                error = "EnoughValid"
        call = lambda: self.ledger.close_failed_round(self.actors[sender], task_id, t.round, reasons=reasons)
        if self.expect(error, call):
            self._next_round(t, now)

    @precondition(lambda self: bool(self.tasks))
    @rule(data=st.data())
    def members_submit(self, data: st.DataObject) -> None:
        """Every member that has not submitted yet does so, within its cap (drives rounds to their end)."""
        task_id = data.draw(st.sampled_from(sorted(self.tasks)))
        t = self.tasks[task_id]
        for who in sorted(t.members):
            if t.round and t.last_submitted.get(who) != t.round and self.next_time() < t.deadline:
                samples = t.cap(who) or 10
                self.ledger.submit_update(self.actors[who], task_id, t.round, *self.fresh_update(), samples)
                t.last_submitted[who] = t.round
                t.submissions.append(who)

    @rule(seconds=st.sampled_from([10, 60, 120]))
    def advance_time(self, seconds: int) -> None:
        advance_time(self.w3, self.ledger.block_timestamp() + seconds)

    def _next_round(self, t: TaskModel, now: int) -> None:
        t.round += 1
        t.deadline = now + DURATION
        t.submissions = []

    @precondition(lambda self: bool(self.tasks))
    @rule(data=st.data(), who=st.integers(0, ACTORS - 1))
    def participant_view(self, data: st.DataObject, who: int) -> None:
        """The one-call view says what the model (and the single views) say."""
        task_id = data.draw(st.sampled_from(sorted(self.tasks)))
        t = self.tasks[task_id]
        view = self.ledger.participant_view(task_id, self.actors[who].address)
        assert view.task == self.ledger.get_task(task_id)
        assert view.is_participant == (who in t.members)
        assert view.has_submitted == (t.round != 0 and t.last_submitted.get(who) == t.round)
        assert view.sample_cap == t.cap(who)
        assert view.timestamp == self.ledger.block_timestamp()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def live_state_matches_the_model(self) -> None:
        if not hasattr(self, "tasks"):
            return
        for task_id, t in self.tasks.items():
            state = self.ledger.get_task(task_id)
            assert state.round == t.round
            assert state.submissions == len(t.submissions)
            assert state.participant_count == len(t.members)
            assert state.aggregator == self.actors[t.aggregator].address
            assert state.model_digest == t.model
            if t.round:
                assert state.deadline == t.deadline

    @invariant()
    def every_closed_round_ended_once_with_consistent_outcomes(self) -> None:
        if not hasattr(self, "tasks"):
            return
        for task_id, t in self.tasks.items():
            events = self.ledger.task_events(task_id)
            closes = [e for e in events if isinstance(e, (RoundFinalized, RoundFailed))]
            rounds = [e.round for e in closes]
            assert rounds == list(range(1, len(rounds) + 1)), "each round closes exactly once, in order"
            assert len(rounds) == max(0, t.round - 1)
            for e in closes:
                if isinstance(e, RoundFinalized):
                    assert e.num_included == e.reasons.count(0) > 0
                    assert e.included_root == included_root(e.reasons)
                    assert e.reasons.count(0) + e.reasons.count(OUTLIER) >= t.quorum
                    assert all(b <= 13 for b in e.reasons)


def _machine_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )


# `make test`: 8 call sequences of 40 steps each; `make test-all` also runs the full 20.
class TestRoundContract(RoundContract.TestCase):  # type: ignore[misc, valid-type]
    settings = _machine_settings(8)


@pytest.mark.slow
class TestRoundContractFull(RoundContract.TestCase):  # type: ignore[misc, valid-type]
    settings = _machine_settings(20)

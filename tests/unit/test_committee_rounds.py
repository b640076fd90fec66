"""Aggregator committees on the embedded chain: members attest, k agreeing attestations close the round, and the
audit names every member whose attestation differs from the re-derived truth (README, "Aggregator committees")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from federation import Federation, model

from aggregator.coordinator import Coordinator, NotAggregatorError, RoundNotReadyError, RoundOutcome
from fedledger import codec
from fedledger.demo.lies import lying_judge
from fedledger.history import history_json, task_history
from fedledger.ledger import Signer
from fedledger.rules.outcomes import Judgement

Lie = Callable[..., Judgement]


class Committee:
    """A Federation whose task is run by a committee of three members (accounts 5, 6, 7), threshold 2."""

    def __init__(self, root: Path, *, threshold: int = 2) -> None:
        self.fed = Federation(root, participants=3, quorum=2)
        accounts = self.fed.w3.eth.accounts
        self.members = [Signer(a) for a in accounts[5:8]]
        self.fed.ledger.set_committee(
            self.fed.owner, self.fed.task, [m.address for m in self.members], threshold
        )
        for who in range(3):
            self.fed.submit(who, codec.encode(model(float(who + 1))))

    def coordinator(self, member: int) -> Coordinator:
        return Coordinator(self.fed.ledger, self.fed.store, self.members[member], fetch_budget=10.0)

    def attest(self, member: int, lie: Lie | None = None) -> RoundOutcome:
        coordinator = Coordinator(
            self.fed.ledger, self.fed.store, self.members[member], fetch_budget=10.0, judge=lie
        )
        return coordinator.close_round(self.fed.task)


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("unavailable", "attested unavailable for #1, the rules say included"),
        ("outlier", "attested outlier for #1, the rules say included"),
        ("digest", "attested global model 0x"),
    ],
)
def test_one_liar_of_three_is_outvoted_and_named(tmp_path: Path, kind: str, said: str) -> None:
    # Prepare: member 0 lies first, then the two honest members attest
    c = Committee(tmp_path)
    liar = c.members[0].address
    # Execute
    lied = c.attest(0, lying_judge(kind))
    first = c.attest(1)
    second = c.attest(2)
    verdicts = c.fed.verdicts()
    # Assert: the round closed on the second honest attestation, with the honest outcome
    assert (lied.attested, lied.closed) == (True, False)
    assert (first.attested, first.closed, second.closed) == (True, False, True)
    final = task_history(c.fed.ledger, c.fed.task).rounds[0].finalized
    assert final is not None and final.global_digest == second.global_digest == first.global_digest
    assert verdicts[0].verdict == "OK"
    assert len(verdicts[0].dissent) == 1
    assert verdicts[0].dissent[0].startswith(f"member {liar}: {said}")
    assert verdicts[0].dissent[0] in verdicts[0].notes


def test_two_colluding_liars_close_the_round_on_the_lie_and_the_audit_names_them(tmp_path: Path) -> None:
    # Prepare
    c = Committee(tmp_path)
    liars = [c.members[0].address, c.members[1].address]
    # Execute: the honest member attests first; the two liars agree on the same false global model
    honest = c.attest(2)
    c.attest(0, lying_judge("digest"))
    closing = c.attest(1, lying_judge("digest"))
    verdicts = c.fed.verdicts()
    # Assert: the contract closed on the lie, the audit says MISMATCH naming both liars; the honest one agrees with
    # the truth and is not in the dissent
    assert closing.closed and closing.global_digest != honest.global_digest
    assert verdicts[0].verdict == "MISMATCH"
    assert f"attested by {liars[0]}, {liars[1]}" in verdicts[0].reason
    assert sorted(line.split(":")[0] for line in verdicts[0].dissent) == sorted(f"member {a}" for a in liars)


def test_a_recorded_unavailable_that_a_member_judged_is_a_mismatch_naming_both(tmp_path: Path) -> None:
    # Prepare: the honest member fetched and included update #1; two members then agree it was unavailable
    c = Committee(tmp_path)
    honest = c.members[2].address
    c.attest(2)
    c.attest(0, lying_judge("unavailable"))
    c.attest(1, lying_judge("unavailable"))
    # Execute
    verdict = c.fed.verdicts()[0]
    # Assert: a single aggregator's `unavailable` is taken as given; a member's attestation refutes it
    check = verdict.submissions[1]
    assert verdict.verdict == "MISMATCH"
    assert check.status == "mismatch"
    assert f"attested by {c.members[0].address}, {c.members[1].address}" in check.note
    assert f"{honest} attested it as included" in check.note
    assert not any(line.startswith(f"member {honest}") for line in verdict.dissent)


def test_a_member_that_attested_waits_and_a_stranger_is_refused(tmp_path: Path) -> None:
    # Prepare
    c = Committee(tmp_path)
    c.attest(0)
    # Execute / Assert: attesting again is not recomputed; a non-member (the task's aggregator) is refused
    with pytest.raises(RoundNotReadyError, match="attested; waiting for 2 of 3 agreeing attestations"):
        c.attest(0)
    stranger = Coordinator(c.fed.ledger, c.fed.store, c.fed.owner)
    with pytest.raises(NotAggregatorError, match=c.members[2].address):
        stranger.close_round(c.fed.task)


def test_history_json_lists_attestations_and_the_committee(tmp_path: Path) -> None:
    # Prepare
    c = Committee(tmp_path)
    c.attest(0, lying_judge("digest"))
    c.attest(1)
    c.attest(2)
    # Execute
    data = history_json(task_history(c.fed.ledger, c.fed.task))
    # Assert
    assert data["committee"]["members"] == [m.address for m in c.members]
    assert data["committee"]["threshold"] == 2
    attestations = data["rounds"][0]["attestations"]
    assert [(a["member"], a["agrees"]) for a in attestations] == [
        (c.members[0].address, False),
        (c.members[1].address, True),
        (c.members[2].address, True),
    ]
    assert attestations[1]["global_digest"] == data["rounds"][0]["global_digest"]

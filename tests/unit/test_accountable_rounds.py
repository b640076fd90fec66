"""Accountable rounds: every exclusion is on-chain with its reason and the audit re-checks it; caps, duplicates,
robust rules, replaceable aggregators and grace periods, each tried the way a cheating participant, a cheating or
absent aggregator, or an outsider would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from federation import Federation, model
from multiformats import CID

from aggregator.coordinator import Coordinator, NotAggregatorError
from fedledger import codec
from fedledger.exceptions import ConfigurationError, ContractRevertError
from fedledger.history import history_json, task_history
from fedledger.inclusion import decode_outcomes, encode_outcomes
from fedledger.ledger import Signer
from fedledger.records import TaskLimits
from fedledger.rounds import round_inputs
from fedledger.rules.judge import judge_round
from fedledger.sampling import drawn_seed, sample_clients


def _finalize_as(
    fed: Federation, outcomes: list[str], included: list[codec.Tensors], weights: list[int]
) -> None:
    """A dishonest aggregator commits ``outcomes`` and the honest FedAvg of ``included``."""
    total = sum(weights)
    mean = {
        name: sum(np.asarray(m[name], np.float64) * w for m, w in zip(included, weights, strict=True)) / total
        for name in included[0]
    }
    data = codec.encode({k: v.astype(np.float32) for k, v in mean.items()})
    fed.ledger.finalize_round(
        fed.owner,
        fed.task,
        fed.round,
        global_digest=codec.model_digest(data),
        global_cid=fed.store.put(data),
        reasons=encode_outcomes(outcomes),
    )


# ----------------------------------------------------------------------------------------- inflation and caps


def test_task_cap_refuses_an_inflated_sample_count(tmp_path: Path) -> None:
    # Prepare
    fed = Federation(tmp_path, limits=TaskLimits(max_samples=1000, grace_period=3600))
    data = codec.encode(model(1.0))
    # Execute / Assert: 10**9 samples would move the global model 99.999% of the way to this update
    with pytest.raises(ContractRevertError, match="claims 1000000000 samples, above its cap of 1000") as info:
        fed.submit(0, data, samples=10**9)
    assert info.value.error_name == "FederatedRoundsTooManySamples"
    with pytest.raises(ContractRevertError, match="above its cap"):
        fed.submit(0, data, samples=2**64 - 1)
    fed.submit(0, data, samples=1000)  # at the cap is fine


def test_participant_cap_is_tighter_than_the_task_cap(tmp_path: Path) -> None:
    fed = Federation(tmp_path, limits=TaskLimits(max_samples=1000, grace_period=3600), caps={1: 50})
    assert fed.ledger.sample_cap(fed.task, fed.people[1].address) == 50
    assert fed.ledger.sample_cap(fed.task, fed.people[0].address) == 1000
    with pytest.raises(ContractRevertError, match="above its cap of 50"):
        fed.submit(1, codec.encode(model(1.0)), samples=51)
    history = history_json(task_history(fed.ledger, fed.task))
    assert [p["max_samples"] for p in history["participants"]] == [0, 50, 0]


# --------------------------------------------------------------------------------- free riders and copies


def test_copies_of_one_update_are_all_excluded_as_duplicate(tmp_path: Path) -> None:
    # Prepare: two participants that never trained re-register a third one's digest and CID
    fed = Federation(tmp_path, participants=4, quorum=1)
    honest = codec.encode(model(2.0))
    cid = fed.submit(0, honest)
    fed.submit(1, honest, cid=cid)
    fed.submit(2, honest, cid=cid)
    fed.submit(3, codec.encode(model(5.0)))
    # Execute
    outcome = fed.coordinator.close_round(fed.task)
    # Assert: nobody can tell who copied whom, so every copy is out
    finalized = fed.ledger.rounds_finalized(fed.task, 1)[0]
    assert decode_outcomes(finalized.reasons) == ["duplicate", "duplicate", "duplicate", "included"]
    assert np.allclose(codec.decode(fed.store.get(outcome.global_cid))["layer.bias"], 5.0)
    assert fed.verify() == [("OK", "re-derived from 1 of 4 updates")]


def test_resubmitting_the_base_model_is_excluded_as_unchanged(fed_tmp: Federation) -> None:
    fed = fed_tmp
    fed.submit(0, fed.initial)
    fed.submit(1, codec.encode(model(1.0)))
    fed.submit(2, codec.encode(model(3.0)))
    outcome = fed.coordinator.close_round(fed.task)
    assert [(e.index, e.reason) for e in outcome.excluded] == [(0, "unchanged")]
    assert fed.verify()[0][0] == "OK"


@pytest.fixture
def fed_tmp(tmp_path: Path) -> Federation:
    return Federation(tmp_path)


# ------------------------------------------------------------------------------------ a cheating aggregator


def test_valid_update_excluded_for_a_false_reason_is_a_mismatch_naming_the_participant(
    fed_tmp: Federation,
) -> None:
    # Prepare
    fed = fed_tmp
    updates = [model(1.0), model(2.0), model(3.0)]
    for who, update in enumerate(updates):
        fed.submit(who, codec.encode(update))
    # Execute: the aggregator censors participant 1 by calling its valid update malformed
    _finalize_as(fed, ["included", "malformed", "included"], [updates[0], updates[2]], [10, 10])
    verdicts = fed.verdicts()
    # Assert
    assert verdicts[0].verdict == "MISMATCH"
    assert fed.people[1].address in verdicts[0].reason
    assert "excluded as malformed, but the update is valid" in verdicts[0].reason
    assert [c.status for c in verdicts[0].submissions] == ["ok", "mismatch", "ok"]


def test_including_one_of_five_valid_updates_under_fedavg_is_a_mismatch(tmp_path: Path) -> None:
    fed = Federation(tmp_path, participants=5, quorum=1)
    updates = [model(float(i)) for i in range(1, 6)]
    for who, update in enumerate(updates):
        fed.submit(who, codec.encode(update))
    _finalize_as(fed, ["included", "outlier", "outlier", "outlier", "outlier"], [updates[0]], [10])
    verdicts = fed.verdicts()
    assert verdicts[0].verdict == "MISMATCH"
    assert "excluded as outlier, but the update is valid" in verdicts[0].reason
    assert "(+3 more)" in verdicts[0].reason


def test_including_an_invalid_update_is_a_mismatch(fed_tmp: Federation) -> None:
    fed = fed_tmp
    nan = model(1.0)
    nan["layer.bias"][1] = np.nan
    fed.submit(0, codec.encode(model(1.0)))
    fed.submit(1, codec.encode(nan))
    fed.travel(7200)
    good = model(1.0)
    _finalize_as(fed, ["included", "included"], [good, good], [10, 10])
    verdicts = fed.verdicts()
    assert verdicts[0].verdict == "MISMATCH"
    assert "included, but the update is non_finite" in verdicts[0].reason


def test_exclusion_as_unavailable_is_noted_not_failed(fed_tmp: Federation) -> None:
    # Prepare: the aggregator could not fetch participant 2's update in time (it may come back later)
    fed = fed_tmp
    updates = [model(1.0), model(2.0), model(3.0)]
    for who, update in enumerate(updates):
        fed.submit(who, codec.encode(update))
    # Execute
    _finalize_as(fed, ["included", "included", "unavailable"], updates[:2], [10, 10])
    verdicts = fed.verdicts()
    # Assert: unrefutable, so taken as given, and the audit says the content is available now
    assert verdicts[0].verdict == "OK"
    assert verdicts[0].notes == [
        f"{fed.people[2].address} (#2): excluded as unavailable at finalization; content is now available"
    ]


def test_aggregator_failing_a_round_that_holds_quorum_valid_updates_is_a_mismatch(
    fed_tmp: Federation,
) -> None:
    # Prepare: three valid updates
    fed = fed_tmp
    for who in range(3):
        fed.submit(who, codec.encode(model(float(who + 1))))
    fed.travel(3601)
    # Execute: the aggregator claims two of them are malformed, so that it may fail the round
    fed.ledger.close_failed_round(
        fed.owner, fed.task, 1, reasons=encode_outcomes(["included", "malformed", "malformed"])
    )
    verdicts = fed.verdicts()
    # Assert
    assert verdicts[0].verdict == "MISMATCH"
    assert "malformed, but the update is valid" in verdicts[0].reason


def test_aggregator_cannot_fail_a_round_while_claiming_quorum_valid(fed_tmp: Federation) -> None:
    fed = fed_tmp
    for who in range(3):
        fed.submit(who, codec.encode(model(float(who + 1))))
    fed.travel(3601)
    with pytest.raises(ContractRevertError) as info:
        fed.ledger.close_failed_round(fed.owner, fed.task, 1, reasons=bytes(3))
    assert info.value.error_name == "FederatedRoundsEnoughValid"


# ------------------------------------------------------------------------------------ robust rules


@pytest.mark.parametrize("spec", ["median", "trimmed_mean:beta=0.25", "multikrum:f=1,m=3"])
def test_robust_rules_resist_an_update_scaled_by_100(tmp_path: Path, spec: str) -> None:
    # Prepare: four honest updates near 1 and one scaled x100
    fed = Federation(tmp_path, participants=5, quorum=5, strategy=spec)
    values = [1.0, 1.1, 0.9, 1.05, 100.0]
    for who, value in enumerate(values):
        fed.submit(who, codec.encode(model(value)))
    # Execute
    outcome = fed.coordinator.close_round(fed.task)
    # Assert
    global_model = codec.decode(fed.store.get(outcome.global_cid))
    assert 0.9 <= float(global_model["layer.bias"][0]) <= 1.1
    if spec.startswith("multikrum"):
        assert ("outlier", fed.people[4].address) in {(e.reason, e.participant) for e in outcome.excluded}
    assert fed.verify()[0][0] == "OK"


def test_fedavg_follows_a_scaled_update(tmp_path: Path) -> None:
    fed = Federation(tmp_path, participants=5, quorum=5)
    for who, value in enumerate([1.0, 1.1, 0.9, 1.05, 100.0]):
        fed.submit(who, codec.encode(model(value)))
    outcome = fed.coordinator.close_round(fed.task)
    assert float(codec.decode(fed.store.get(outcome.global_cid))["layer.bias"][0]) > 20


def test_outlier_flag_the_rule_did_not_give_is_a_mismatch(tmp_path: Path) -> None:
    # Prepare: under Multi-Krum an aggregator flags an honest update as an outlier and keeps the scaled one
    fed = Federation(tmp_path, participants=5, quorum=5, strategy="multikrum:f=1,m=3")
    updates = [model(v) for v in (1.0, 1.1, 0.9, 1.05, 100.0)]
    for who, update in enumerate(updates):
        fed.submit(who, codec.encode(update))
    _finalize_as(
        fed,
        ["outlier", "included", "outlier", "included", "included"],
        [updates[1], updates[3], updates[4]],
        [1, 1, 1],
    )
    assert fed.verify()[0][0] == "MISMATCH"


# ------------------------------------------------------------------------------- an absent aggregator


def test_anyone_may_fail_a_round_with_quorum_after_the_grace_period(fed_tmp: Federation) -> None:
    # Prepare: quorum reached, then the aggregator disappears
    fed = fed_tmp
    stranger = Signer(fed.w3.eth.accounts[8])
    fed.submit(0, codec.encode(model(1.0)))
    fed.submit(1, codec.encode(model(2.0)))
    fed.travel(3601)
    # Execute / Assert: inside the grace period only the aggregator may give up on the round
    with pytest.raises(ContractRevertError) as info:
        fed.ledger.close_failed_round(stranger, fed.task, 1)
    assert info.value.error_name == "FederatedRoundsQuorumReached"
    fed.travel(3600)
    fed.ledger.close_failed_round(stranger, fed.task, 1)
    assert fed.ledger.get_task(fed.task).round == 2
    assert fed.verify() == [
        (
            "FAILED",
            "round failed after its grace period with 2 submissions: the aggregator did not finalize it",
        )
    ]


def test_owner_replaces_the_aggregator_and_the_new_one_finalizes(fed_tmp: Federation) -> None:
    fed = fed_tmp
    successor = Signer(fed.w3.eth.accounts[9])
    for who in range(3):
        fed.submit(who, codec.encode(model(float(who + 1))))
    fed.ledger.set_aggregator(fed.owner, fed.task, successor.address)
    stored_before = sorted(p.name for p in fed.store.root.rglob("*") if p.is_file())
    with pytest.raises(
        NotAggregatorError, match=f"is not the aggregator of task {fed.task}: {successor.address} is"
    ):
        fed.coordinator.close_round(fed.task)
    # the replaced aggregator learned it before fetching or uploading anything
    assert sorted(p.name for p in fed.store.root.rglob("*") if p.is_file()) == stored_before
    outcome = Coordinator(fed.ledger, fed.store, successor).close_round(fed.task)
    assert not outcome.failed
    history = history_json(task_history(fed.ledger, fed.task))
    assert history["aggregator_changes"][0]["aggregator"] == successor.address
    assert history["rounds"][0]["aggregator"] == successor.address
    assert fed.verify()[0][0] == "OK"


def test_a_participant_removed_after_submitting_stays_in_that_round_and_is_refused_after(
    fed_tmp: Federation,
) -> None:
    # Prepare: participant 0 submits, then the owner removes it before the round closes
    fed = fed_tmp
    for who in range(3):
        fed.submit(who, codec.encode(model(float(who + 1))))
    fed.ledger.remove_participant(fed.owner, fed.task, fed.people[0].address)

    # Execute
    outcome = fed.coordinator.close_round(fed.task)

    # Assert: the allowlist is checked when an update is submitted; the removal counts from then on
    assert fed.people[0].address in [u.participant for u in outcome.included]
    assert fed.verify()[0][0] == "OK"
    with pytest.raises(ContractRevertError, match="is not a participant"):
        fed.submit(0, codec.encode(model(7.0)))


# ------------------------------------------------------------------------------------------- sampling


def test_sampled_round_excludes_the_unsampled_and_the_audit_confirms_who_was_asked(tmp_path: Path) -> None:
    # Prepare: 6 participants, 3 asked per round
    fed = Federation(
        tmp_path, participants=6, quorum=2, limits=TaskLimits(clients_per_round=3, grace_period=3600)
    )
    record = task_history(fed.ledger, fed.task).rounds[0]
    assert record.opened is not None
    assert record.opened.seed == bytes(
        32
    )  # drawn at first use, from the hash of the block the round opened in
    seed = drawn_seed(bytes.fromhex(record.opened.at.block_hash[2:]), fed.task, 1)
    asked = sample_clients(seed, [p.address for p in fed.people], 3)
    assert record.sampled == asked
    # Execute: every participant submits anyway
    for who, _person in enumerate(fed.people):
        fed.submit(who, codec.encode(model(float(who + 1))))
    outcome = fed.coordinator.close_round(fed.task)
    # Assert
    not_asked = {p.address for p in fed.people} - set(asked)
    assert {e.participant for e in outcome.excluded if e.reason == "not_sampled"} == not_asked
    assert {u.participant for u in outcome.included} == set(asked)
    assert fed.verify()[0][0] == "OK"


# ------------------------------------------------------------------------------------ effective weights


def test_history_reports_each_participants_outcome_samples_and_effective_weight(fed_tmp: Federation) -> None:
    fed = fed_tmp
    nan = model(1.0)
    nan["layer.bias"][0] = np.inf
    fed.submit(0, codec.encode(model(1.0)), samples=10)
    fed.submit(1, codec.encode(nan), samples=20)
    fed.submit(2, codec.encode(model(3.0)), samples=30)
    fed.coordinator.close_round(fed.task)
    rows = history_json(task_history(fed.ledger, fed.task))["rounds"][0]["submissions"]
    assert [(r["outcome"], r["num_samples"], r["weight"]) for r in rows] == [
        ("included", 10, 0.25),
        ("non_finite", 20, 0.0),
        ("included", 30, 0.75),
    ]


def test_judge_weights_agree_with_the_event_level_weights(fed_tmp: Federation) -> None:
    fed = fed_tmp
    for who, samples in enumerate((5, 15, 30)):
        fed.submit(who, codec.encode(model(float(who + 1))), samples=samples)
    outcome = fed.coordinator.close_round(fed.task)
    assert outcome.weights == pytest.approx([0.1, 0.3, 0.6])


# --------------------------------------------------------------------------- a spec nobody can run


def test_task_with_a_non_canonical_strategy_is_refused_not_failed(tmp_path: Path) -> None:
    # Prepare: a task created straight through the contract with "FedSGD" (the CLI would refuse it)
    fed = Federation(tmp_path, strategy="FedSGD")
    for who in range(3):
        fed.submit(who, codec.encode(model(float(who + 1))))
    # Execute / Assert: the aggregator refuses to act rather than failing round after round
    with pytest.raises(ConfigurationError, match=r"not in canonical form|lowercase"):
        fed.coordinator.close_round(fed.task)
    assert fed.ledger.get_task(fed.task).round == 1
    history = task_history(fed.ledger, fed.task)
    with pytest.raises(ConfigurationError):
        judge_round(round_inputs(history, history.rounds[0], b"", ""), {}, lambda u: b"")


# ------------------------------------------------------------------------------- closing a sampled round early


def _sampled_federation(root: Path, quorum: int = 2) -> tuple[Federation, list[str]]:
    """6 participants, 2 asked per round; returns the federation and the round's sample."""
    fed = Federation(
        root, participants=6, quorum=quorum, limits=TaskLimits(clients_per_round=2, grace_period=3600)
    )
    record = task_history(fed.ledger, fed.task).rounds[0]
    assert record.sampled is not None
    return fed, record.sampled


def test_finalizing_early_with_unsampled_accounts_is_a_mismatch_naming_the_shut_out(tmp_path: Path) -> None:
    # Prepare: one sampled participant and one the seed did not ask submit: 2 submissions, the contract's "all in"
    fed, asked = _sampled_federation(tmp_path, quorum=1)
    first = next(i for i, p in enumerate(fed.people) if p.address == asked[0])
    unasked = next(i for i, p in enumerate(fed.people) if p.address not in asked)
    fed.submit(first, codec.encode(model(1.0)))
    fed.submit(unasked, codec.encode(model(5.0)))
    # Execute: the aggregator finalizes at once, bypassing the coordinator (which would wait for asked[1])
    with pytest.raises(Exception, match="still running"):
        fed.coordinator.close_round(fed.task)
    _finalize_as(fed, ["included", "not_sampled"], [model(1.0)], [10])
    # Assert: every outcome holds, but the round was closed on the second sampled participant, still on time
    verdict, reason = fed.verify()[0]
    assert verdict == "MISMATCH"
    assert reason.startswith("closed early")
    assert asked[1] in reason and asked[0] not in reason


def test_a_sampled_round_closed_early_once_every_sampled_participant_submitted_is_ok(tmp_path: Path) -> None:
    # Prepare: the two sampled participants submit; the coordinator closes at once, before the deadline
    fed, asked = _sampled_federation(tmp_path)
    for who, person in enumerate(fed.people):
        if person.address in asked:
            fed.submit(who, codec.encode(model(float(who + 1))))
    # Execute
    fed.coordinator.close_round(fed.task)
    # Assert
    assert fed.verify()[0][0] == "OK"


def test_coordinator_waits_for_every_sampled_participant_though_the_contract_would_not(
    tmp_path: Path,
) -> None:
    # Prepare: one sampled and one unsampled account submit: 2 submissions, the contract's "all in"
    fed, asked = _sampled_federation(tmp_path)
    sampled = next(i for i, p in enumerate(fed.people) if p.address in asked)
    unsampled = next(i for i, p in enumerate(fed.people) if p.address not in asked)
    fed.submit(sampled, codec.encode(model(1.0)))
    fed.submit(unsampled, codec.encode(model(2.0)))
    task = fed.ledger.get_task(fed.task)
    record = task_history(fed.ledger, fed.task).rounds[0]
    # Execute
    waiting = fed.coordinator.readiness(task, record)
    fed.travel(3600)
    after_deadline = fed.coordinator.readiness(fed.ledger.get_task(fed.task), record)
    # Assert
    assert waiting is not None and "still running" in waiting
    assert after_deadline is None


def test_a_sampled_round_finalized_after_its_deadline_without_every_sampled_participant_is_ok(
    tmp_path: Path,
) -> None:
    # Prepare: only one sampled participant submits; quorum 1 lets the round close at the deadline
    fed = Federation(
        tmp_path, participants=6, quorum=1, limits=TaskLimits(clients_per_round=2, grace_period=3600)
    )
    asked = task_history(fed.ledger, fed.task).rounds[0].sampled or []
    fed.submit(next(i for i, p in enumerate(fed.people) if p.address == asked[0]), codec.encode(model(1.0)))
    # Execute
    fed.travel(3600)
    fed.coordinator.close_round(fed.task)
    # Assert
    assert fed.verify()[0][0] == "OK"


def test_without_sampling_a_round_closes_early_only_when_the_whole_allowlist_submitted(
    tmp_path: Path,
) -> None:
    # Prepare: A submits and is then removed, B submits: 2 submissions for an allowlist of 2, C still on time
    fed = Federation(tmp_path, participants=3, quorum=1)
    fed.submit(0, codec.encode(model(1.0)))
    fed.ledger.remove_participant(fed.owner, fed.task, fed.people[0].address)
    fed.submit(1, codec.encode(model(2.0)))
    task = fed.ledger.get_task(fed.task)
    record = task_history(fed.ledger, fed.task).rounds[0]
    # Execute: the coordinator waits for C; a dishonest aggregator finalizes (the contract's count allows it)
    waiting = fed.coordinator.readiness(task, record)
    _finalize_as(fed, ["included", "included"], [model(1.0), model(2.0)], [10, 10])
    # Assert
    assert waiting is not None and "still running" in waiting
    verdict, reason = fed.verify()[0]
    assert verdict == "MISMATCH"
    assert reason.startswith("closed early") and fed.people[2].address in reason


# ------------------------------------------------------------------------------ failed rounds without reasons


def test_a_round_the_aggregator_fails_after_grace_without_reasons_while_quorum_is_valid_is_a_mismatch(
    tmp_path: Path,
) -> None:
    # Prepare: two valid updates (quorum 2), then past deadline + grace
    fed = Federation(tmp_path, quorum=2, duration=100, limits=TaskLimits(grace_period=50))
    fed.submit(0, codec.encode(model(1.0)))
    fed.submit(1, codec.encode(model(2.0)))
    fed.travel(200)
    # Execute: the aggregator closes the round as failed, naming no reasons (the contract accepts it)
    fed.ledger.close_failed_round(fed.owner, fed.task, 1, reasons=b"")
    # Assert: a verdict, not a crash, and it is the aggregator's fault
    verdict, reason = fed.verify()[0]
    assert verdict == "MISMATCH"
    assert "2 updates are valid" in reason


def test_false_reasons_the_aggregator_records_below_quorum_are_a_mismatch(tmp_path: Path) -> None:
    # Prepare: one valid update, quorum 2: below quorum at the deadline, anyone may fail the round
    fed = Federation(tmp_path, quorum=2, duration=100, limits=TaskLimits(grace_period=50))
    fed.submit(0, codec.encode(model(1.0)))
    fed.travel(150)
    # Execute: the aggregator fails it, accusing the honest participant
    fed.ledger.close_failed_round(fed.owner, fed.task, 1, reasons=encode_outcomes(["malformed"]))
    # Assert: an accusation the aggregator records must hold, below quorum too
    verdict, reason = fed.verify()[0]
    assert verdict == "MISMATCH"
    assert fed.people[0].address in reason and "malformed" in reason


def test_true_reasons_the_aggregator_records_below_quorum_are_a_legitimate_failure(tmp_path: Path) -> None:
    fed = Federation(tmp_path, quorum=2, duration=100, limits=TaskLimits(grace_period=50))
    fed.submit(0, fed.initial)  # the base model itself: unchanged
    fed.travel(150)

    fed.ledger.close_failed_round(fed.owner, fed.task, 1, reasons=encode_outcomes(["unchanged"]))

    assert fed.verify()[0][0] == "FAILED"


def test_a_stranger_failing_a_round_after_grace_names_reasons_the_audit_does_not_hold_against_anyone(
    tmp_path: Path,
) -> None:
    # Prepare: two valid updates, then past deadline + grace, when anyone may close the round
    fed = Federation(tmp_path, quorum=2, duration=100, limits=TaskLimits(grace_period=50))
    fed.submit(0, codec.encode(model(1.0)))
    fed.submit(1, codec.encode(model(2.0)))
    fed.travel(200)
    # Execute: a participant closes it, with made-up reasons
    fed.ledger.close_failed_round(fed.people[2], fed.task, 1, reasons=encode_outcomes(["malformed"] * 2))
    # Assert: the aggregator did not finalize in time; the stranger's reasons are nobody's claim
    verdict, reason = fed.verify()[0]
    assert verdict == "FAILED"
    assert "after its grace period" in reason


def test_reasons_a_stranger_sends_when_failing_a_round_are_not_outcomes_anywhere(tmp_path: Path) -> None:
    # Prepare: two valid updates; past deadline + grace a participant (not the aggregator) fails the round,
    # accusing both honest updates
    from fedledger.explorer import report_data

    fed = Federation(tmp_path, quorum=2, duration=100, limits=TaskLimits(grace_period=50))
    fed.submit(0, codec.encode(model(1.0)))
    fed.submit(1, codec.encode(model(2.0)))
    fed.travel(200)
    stranger = fed.people[2].address
    fed.ledger.close_failed_round(
        fed.people[2], fed.task, 1, reasons=encode_outcomes(["malformed", "digest_mismatch"])
    )
    # Execute
    history = history_json(task_history(fed.ledger, fed.task))["rounds"][0]
    page = report_data(fed.ledger, fed.store, fed.task)
    verdict = fed.verdicts()[0]
    # Assert: nobody is shown as excluded; the history names who sent the ignored reasons; the audit notes it
    assert [s["outcome"] for s in history["submissions"]] == [None, None]
    assert history["excluded"] == [] and history["ignored_reasons_by"] == stranger
    cells = page["matrix"]["cells"]
    assert [cells[p.address]["1"]["outcome"] for p in fed.people[:2]] == ["round failed"] * 2
    assert verdict.verdict == "FAILED"
    assert verdict.notes == [
        f"reasons given by {stranger}, who is not the aggregator, are not outcomes and were ignored"
    ]


# ------------------------------------------------------------------------- unavailable and CID identity


def test_unavailable_cannot_replace_an_event_reason(tmp_path: Path) -> None:
    # Prepare: two copies of one update (duplicate, decided from the events) and one honest update
    fed = Federation(tmp_path, participants=3, quorum=1)
    copy = codec.encode(model(2.0))
    cid = fed.submit(0, copy)
    fed.submit(1, copy, cid=cid)
    fed.submit(2, codec.encode(model(3.0)))
    # Execute: the aggregator records one copy as unavailable (unrefutable) instead of duplicate
    _finalize_as(fed, ["unavailable", "duplicate", "included"], [model(3.0)], [10])
    # Assert
    verdict, reason = fed.verify()[0]
    assert verdict == "MISMATCH"
    assert "excluded as unavailable, but the rules say duplicate" in reason


def test_cids_compare_by_identity_not_by_text(tmp_path: Path) -> None:
    # Prepare: the same CIDv1 in upper-case base32 and in base58btc, and a CIDv0 of the same multihash
    fed = Federation(tmp_path, participants=3, quorum=1)
    data = [codec.encode(model(float(v))) for v in (1.0, 2.0, 3.0)]
    cids = [fed.store.put(d) for d in data]
    upper = cids[0].upper()
    base58 = str(CID.decode(cids[1]).set(base="base58btc"))
    v0 = str(CID("base58btc", 0, "dag-pb", CID.decode(cids[2]).digest))
    for who, (d, cid) in enumerate(zip(data, (upper, base58, v0), strict=True)):
        fed.submit(who, d, cid=cid)
    # Execute
    outcome = fed.coordinator.close_round(fed.task)
    # Assert: other spellings of the right CID are that CID; a CIDv0 names no verifiable content
    assert [e.reason for e in outcome.excluded] == ["cid_mismatch"]
    assert outcome.excluded[0].participant == fed.people[2].address
    assert fed.verify()[0][0] == "OK"


def test_a_200000_character_cid_is_excluded_as_cid_mismatch_and_the_round_finalizes(tmp_path: Path) -> None:
    # Prepare: participant 2 registers its update under a 200,000-character "CID" (quadratic to parse)
    fed = Federation(tmp_path, participants=3, quorum=2)
    for who in range(2):
        fed.submit(who, codec.encode(model(float(who + 1))))
    update = codec.encode(model(3.0))
    register = fed.ledger.contract.functions.submitUpdate(
        fed.task, 1, codec.model_digest(update), "b" + "a" * 199_999, 10
    )
    # ~8M gas: past the Ledger helper's fixed limit on the embedded chain, so sent directly
    register.transact({"from": fed.people[2].address, "gas": 20_000_000})
    # Execute
    outcome = fed.coordinator.close_round(fed.task)
    # Assert: excluded by its length, named in the reason; the audit agrees
    assert not outcome.failed and len(outcome.included) == 2
    assert [(e.participant, e.reason) for e in outcome.excluded] == [(fed.people[2].address, "cid_mismatch")]
    assert "200000 characters" in outcome.excluded[0].detail
    assert fed.verify() == [("OK", "re-derived from 2 of 3 updates")]

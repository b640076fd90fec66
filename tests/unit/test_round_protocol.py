"""One round end to end on the embedded default (pyrevm chain + local store), with tiny numpy models.

Participant updates are made with numpy here, not by training, so each test is about the protocol: submission,
validation and exclusion with a named reason, deterministic aggregation, outcomes on-chain, and audit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from federation import Federation, model

from aggregator.coordinator import Coordinator, RoundNotReadyError
from fedledger import codec
from fedledger import ledger as ledger_module
from fedledger.audit import verify_task
from fedledger.audit_cache import VerifiedRounds
from fedledger.exceptions import ChainError, ContractRevertError
from fedledger.history import task_history
from fedledger.inclusion import decode_outcomes, encode_outcomes, included_indices
from fedledger.ledger import Signer
from fedledger.rules.judge import judge_round
from fl_node.submit import check_can_submit


@pytest.fixture
def fed(tmp_path: Path) -> Federation:
    return Federation(tmp_path)


def test_fedavg_round_finalizes_weighted_mean_and_audit_verifies(fed: Federation) -> None:
    # Prepare
    fed.submit(0, codec.encode(model(1.0)), samples=10)
    fed.submit(1, codec.encode(model(4.0)), samples=30)
    fed.submit(2, codec.encode(model(2.0)), samples=20)
    # Execute
    outcome = fed.coordinator.close_round(fed.task)
    # Assert: (1*10 + 4*30 + 2*20) / 60 = 2.8333...
    global_model = codec.decode(fed.store.get(outcome.global_cid))
    assert np.allclose(global_model["layer.bias"], 170 / 60)
    assert included_indices(fed.ledger.rounds_finalized(fed.task, 1)[0].reasons) == [0, 1, 2]
    assert fed.ledger.get_task(fed.task).model_digest == outcome.global_digest
    assert fed.verify() == [("OK", "re-derived from 3 of 3 updates")]


def test_global_model_bytes_do_not_depend_on_submission_order(tmp_path: Path) -> None:
    # Prepare: the same three updates, submitted in two different orders on two chains
    updates = {0: model(1.5), 1: model(-2.0), 2: model(0.25)}
    digests = []
    for order, name in (([0, 1, 2], "a"), ([2, 0, 1], "b")):
        fed = Federation(tmp_path / name)
        for who in order:
            fed.submit(who, codec.encode(updates[who]), samples=7 + who)
        # Execute
        digests.append(fed.coordinator.close_round(fed.task).global_digest)
    # Assert
    assert digests[0] == digests[1]


def test_invalid_update_is_excluded_with_named_reason_and_round_still_completes(fed: Federation) -> None:
    # Prepare: participant 1 uploads NaNs
    bad = model(1.0)
    bad["layer.bias"][0] = np.nan
    fed.submit(0, codec.encode(model(1.0)))
    fed.submit(1, codec.encode(bad))
    fed.submit(2, codec.encode(model(3.0)))
    # Execute
    outcome = fed.coordinator.close_round(fed.task)
    # Assert
    assert [(e.index, e.reason) for e in outcome.excluded] == [(1, "non_finite")]
    finalized = fed.ledger.rounds_finalized(fed.task, 1)[0]
    assert decode_outcomes(finalized.reasons) == ["included", "non_finite", "included"]
    assert finalized.num_included == 2
    assert fed.verify() == [("OK", "re-derived from 2 of 3 updates")]


def test_update_with_wrong_shape_wrong_digest_or_unknown_cid_is_excluded(fed: Federation) -> None:
    # Prepare
    wrong_shape = {"layer.weight": np.zeros((2, 2), np.float32), "layer.bias": np.zeros(3, np.float32)}
    fed.submit(0, codec.encode(wrong_shape))
    fed.submit(1, codec.encode(model(1.0)), digest=codec.model_digest(codec.encode(model(9.0))))
    fed.submit(2, codec.encode(model(1.0)), cid="bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
    fed.travel(7200)
    # Execute: nothing valid and the deadline passed, so the aggregator closes the round as failed
    outcome = fed.coordinator.close_round(fed.task)
    # Assert: the reasons are on-chain with the failure, and the audit agrees with them
    assert outcome.failed
    assert [e.reason for e in outcome.excluded] == ["shape_mismatch", "digest_mismatch", "unavailable"]
    failed = fed.ledger.rounds_failed(fed.task, 1)[0]
    assert decode_outcomes(failed.reasons) == ["shape_mismatch", "digest_mismatch", "unavailable"]
    assert fed.ledger.get_task(fed.task).round == 2
    assert fed.verify()[0][0] == "FAILED"


def test_tampered_stored_update_makes_verify_report_the_round_as_mismatch(fed: Federation) -> None:
    # Prepare
    cid = fed.submit(0, codec.encode(model(1.0)))
    fed.submit(1, codec.encode(model(2.0)))
    fed.submit(2, codec.encode(model(3.0)))
    fed.coordinator.close_round(fed.task)
    stored = fed.store._path(cid)
    # Execute: someone rewrites the stored update after the round
    stored.write_bytes(codec.encode(model(1.5)))
    verdicts = fed.verify()
    # Assert: the included update now fails validation, naming the participant
    assert verdicts[0][0] == "MISMATCH"
    assert "included, but the update is cid_mismatch" in verdicts[0][1]
    assert fed.people[0].address in verdicts[0][1]


def test_verify_reports_a_global_model_that_does_not_follow_from_its_updates(fed: Federation) -> None:
    # Prepare: a dishonest aggregator commits a model of its own choosing
    fed.submit(0, codec.encode(model(1.0)))
    fed.submit(1, codec.encode(model(2.0)))
    forged = codec.encode(model(100.0))
    fed.travel(7200)
    # Execute
    fed.ledger.finalize_round(
        fed.owner,
        fed.task,
        1,
        global_digest=codec.model_digest(forged),
        global_cid=fed.store.put(forged),
        reasons=encode_outcomes(["included", "included"]),
    )
    verdicts = fed.verify()
    # Assert
    assert verdicts[0][0] == "MISMATCH" and verdicts[0][1].startswith("different result")


def test_missing_included_update_content_is_unverified_not_a_mismatch(fed: Federation) -> None:
    # An auditor who cannot fetch something cannot tell "the aggregator cheated" from "I could not check".
    cid = fed.submit(0, codec.encode(model(1.0)))
    fed.submit(1, codec.encode(model(2.0)))
    fed.submit(2, codec.encode(model(3.0)))
    fed.coordinator.close_round(fed.task)
    fed.store._path(cid).unlink()
    verdicts = fed.verify()
    assert verdicts[0][0] == "UNVERIFIED"
    assert "not available to this auditor" in verdicts[0][1] and fed.people[0].address in verdicts[0][1]


def test_round_is_not_ready_until_everyone_submitted_or_deadline(fed: Federation) -> None:
    fed.submit(0, codec.encode(model(1.0)))
    fed.submit(1, codec.encode(model(2.0)))
    with pytest.raises(RoundNotReadyError, match="2 of 3 participants submitted"):
        fed.coordinator.close_round(fed.task)
    fed.travel(7200)
    assert fed.coordinator.close_round(fed.task).round == 1


def test_round_below_quorum_at_deadline_is_closed_as_failed_and_reopens_on_same_base(fed: Federation) -> None:
    base = fed.ledger.get_task(fed.task).model_digest
    fed.submit(0, codec.encode(model(1.0)))
    fed.travel(7200)
    outcome = fed.coordinator.close_round(fed.task)
    task = fed.ledger.get_task(fed.task)
    assert outcome.failed and task.round == 2 and task.model_digest == base
    assert fed.verify() == [("FAILED", "round failed below quorum (1 of 2 submissions)")]


def test_second_submission_in_a_round_is_refused_with_a_clear_reason(fed: Federation) -> None:
    fed.submit(0, codec.encode(model(1.0)))
    with pytest.raises(ContractRevertError, match="already submitted an update in round 1 of task 1") as info:
        fed.submit(0, codec.encode(model(2.0)))
    assert info.value.error_name == "FederatedRoundsAlreadySubmitted"


def test_late_submission_for_a_finalized_round_is_refused(fed: Federation) -> None:
    fed.submit(0, codec.encode(model(1.0)))
    fed.submit(1, codec.encode(model(2.0)))
    fed.submit(2, codec.encode(model(3.0)))
    fed.coordinator.close_round(fed.task)
    data = codec.encode(model(5.0))
    with pytest.raises(ContractRevertError, match="task 1 is in round 2, not round 1"):
        fed.ledger.submit_update(fed.people[0], fed.task, 1, codec.model_digest(data), fed.store.put(data), 3)


def test_stranger_submission_names_the_account_and_task(fed: Federation) -> None:
    stranger = Signer(fed.w3.eth.accounts[7])
    data = codec.encode(model(1.0))
    with pytest.raises(ContractRevertError, match=f"{stranger.address} is not a participant of task 1"):
        fed.ledger.submit_update(stranger, fed.task, 1, codec.model_digest(data), fed.store.put(data), 3)


def test_second_finalize_of_the_same_round_is_refused(fed: Federation) -> None:
    for who in range(3):
        fed.submit(who, codec.encode(model(float(who + 1))))
    outcome = fed.coordinator.close_round(fed.task)
    with pytest.raises(ContractRevertError, match="not round 1"):
        fed.ledger.finalize_round(
            fed.owner,
            fed.task,
            1,
            global_digest=outcome.global_digest,
            global_cid=outcome.global_cid,
            reasons=bytes(3),
        )
    assert len(fed.ledger.rounds_finalized(fed.task, 1)) == 1


def test_aggregator_crashing_between_upload_and_commit_resumes_with_the_same_model(
    fed: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the first aggregator uploads the global model, then dies before its finalize transaction
    for who in range(3):
        fed.submit(who, codec.encode(model(float(who + 1))))
    uploaded: list[str] = []
    original_put = fed.store.put
    monkeypatch.setattr(fed.store, "put", lambda data: uploaded.append(original_put(data)) or uploaded[-1])

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(fed.ledger, "finalize_round", crash)
    with pytest.raises(KeyboardInterrupt):
        fed.coordinator.close_round(fed.task)
    monkeypatch.undo()
    # Execute: a restarted aggregator reads the chain again
    outcome = Coordinator(fed.ledger, fed.store, fed.owner).close_round(fed.task)
    # Assert: same bytes, committed exactly once
    assert outcome.global_cid == uploaded[0]
    assert len(fed.ledger.rounds_finalized(fed.task, 1)) == 1
    assert fed.verify() == [("OK", "re-derived from 3 of 3 updates")]


def test_verified_rounds_are_not_re_derived_twice(fed: Federation, tmp_path: Path) -> None:
    # Prepare: one verified round
    for who in range(3):
        fed.submit(who, codec.encode(model(float(who + 1))))
    fed.coordinator.close_round(fed.task)
    cache = VerifiedRounds(tmp_path / "cache.json", "embedded:" + fed.ledger.address)
    history = task_history(fed.ledger, fed.task)
    calls: list[int] = []

    def counting_judge(*args: Any) -> Any:
        calls.append(1)
        return judge_round(*args)

    first = verify_task(history, fed.store, judge=counting_judge, cache=cache)
    cache.save()
    # Execute: a second audit with the cache read back from disk
    again = VerifiedRounds(tmp_path / "cache.json", "embedded:" + fed.ledger.address)
    second = verify_task(history, fed.store, judge=counting_judge, cache=again)
    # Assert
    assert [v.verdict for v in first] == ["OK", "OPEN"] and [v.verdict for v in second] == ["OK", "OPEN"]
    assert len(calls) == 1 and again.hits == 1 and second[0].reason.endswith("(cached)")
    other = VerifiedRounds(tmp_path / "cache.json", "another-chain:" + fed.ledger.address)
    verify_task(history, fed.store, judge=counting_judge, cache=other)
    assert len(calls) == 2  # another namespace (chain, contract) never reuses a verdict


def test_audit_notes_included_content_the_store_does_not_pin(
    fed: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    cids = [fed.submit(who, codec.encode(model(float(who + 1)))) for who in range(3)]
    outcome = fed.coordinator.close_round(fed.task)
    monkeypatch.setattr(fed.store, "is_pinned", lambda cid: cid not in (cids[1], outcome.global_cid))
    notes = fed.verdicts()[0].notes
    where = fed.store.describe()
    assert notes == [
        f"{cids[1]} ({fed.people[1].address}) is not pinned on {where}: fetched from elsewhere",
        f"{outcome.global_cid} (global model) is not pinned on {where}: fetched from elsewhere",
    ]


def test_participant_view_agrees_with_the_single_views_for_every_kind_of_account(tmp_path: Path) -> None:
    # Prepare: participant 0 submitted, 1 did not, 2 has its own cap; account 7 is a stranger
    fed = Federation(tmp_path, caps={2: 40})
    fed.submit(0, codec.encode(model(1.0)))
    accounts = [p.address for p in fed.people] + [fed.w3.eth.accounts[7]]
    # Execute
    views = [fed.ledger.participant_view(fed.task, account) for account in accounts]
    # Assert
    task = fed.ledger.get_task(fed.task)
    for account, view in zip(accounts, views, strict=True):
        assert view.task == task
        assert view.is_participant == fed.ledger.is_participant(fed.task, account)
        assert view.has_submitted == fed.ledger.has_submitted(fed.task, task.round, account)
        assert view.sample_cap == fed.ledger.sample_cap(fed.task, account)
        assert view.timestamp == fed.ledger.block_timestamp()
    assert [(v.is_participant, v.has_submitted, v.sample_cap) for v in views] == [
        (True, True, 0),
        (True, False, 0),
        (True, False, 40),
        (False, False, 0),
    ]


def test_participant_view_of_an_unknown_task_says_which_tasks_exist(fed: Federation) -> None:
    with pytest.raises(ContractRevertError, match=r"task 9 does not exist .*\(it holds task 1;") as info:
        fed.ledger.participant_view(9, fed.people[0].address)
    assert info.value.error_name == "FederatedRoundsUnknownTask"


def test_check_can_submit_reads_the_chain_once(fed: Federation, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: count every call the ledger makes to the node
    calls: list[str] = []
    real_call = fed.ledger._call

    def counting(thunk: Any) -> Any:
        calls.append(getattr(thunk, "__qualname__", "?"))
        return real_call(thunk)

    monkeypatch.setattr(fed.ledger, "_call", counting)
    # Execute
    task = check_can_submit(fed.ledger, fed.task, fed.people[0].address, 10)
    # Assert
    assert task == fed.ledger.get_task(fed.task)
    assert len(calls) == 2  # the check's one view, then the get_task above


def test_check_can_submit_keeps_its_reasons(tmp_path: Path) -> None:
    # Prepare: participant 0 submitted, participant 2 may claim 40 samples, account 7 is a stranger
    fed = Federation(tmp_path, caps={2: 40})
    fed.submit(0, codec.encode(model(1.0)))
    stranger = fed.w3.eth.accounts[7]
    # Execute / Assert
    with pytest.raises(ChainError, match=f"{stranger} is not a participant of task 1; ask the task owner"):
        check_can_submit(fed.ledger, fed.task, stranger)
    with pytest.raises(ChainError, match=f"{fed.people[0].address} already submitted in round 1 of task 1"):
        check_can_submit(fed.ledger, fed.task, fed.people[0].address)
    with pytest.raises(ChainError, match="may claim at most 40 samples per submission to task 1, not 41"):
        check_can_submit(fed.ledger, fed.task, fed.people[2].address, 41)
    assert check_can_submit(fed.ledger, fed.task, fed.people[2].address, 40).round == 1
    fed.travel(7200)
    with pytest.raises(ChainError, match="round 1 of task 1 closed at its deadline"):
        check_can_submit(fed.ledger, fed.task, fed.people[1].address)


def test_add_participants_sends_batches_with_the_events_of_single_adds(
    fed: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: batches of 2, five new accounts with their caps
    monkeypatch.setattr(ledger_module, "ADD_BATCH", 2)
    accounts = fed.w3.eth.accounts[4:9]
    caps = [0, 10, 0, 30, 5]
    # Execute
    txs = fed.ledger.add_participants(fed.owner, fed.task, accounts, max_samples=caps)
    # Assert
    assert len(txs) == 3 and len({tx.block_number for tx in txs}) == 3
    added = [c for c in fed.ledger.participant_changes(fed.task) if c.added][3:]
    assert [(c.participant, c.max_samples) for c in added] == list(zip(accounts, caps, strict=True))
    assert fed.ledger.get_task(fed.task).participant_count == 8
    assert [fed.ledger.sample_cap(fed.task, a) for a in accounts] == caps


def test_add_participants_refuses_a_member_with_the_contract_error(fed: Federation) -> None:
    newcomer = fed.w3.eth.accounts[5]
    with pytest.raises(ContractRevertError, match=fed.people[1].address) as info:
        fed.ledger.add_participants(fed.owner, fed.task, [newcomer, fed.people[1].address])
    assert info.value.error_name == "FederatedRoundsAlreadyParticipant"
    assert not fed.ledger.is_participant(fed.task, newcomer)  # the refused batch left nothing behind
    assert fed.ledger.add_participants(fed.owner, fed.task, []) == []

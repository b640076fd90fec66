"""Reading events: paged by block window, narrowed when a node refuses a range, incremental, O(events)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from federation import Federation, model
from web3.exceptions import Web3RPCError

from fedledger import codec
from fedledger.events import EventLog
from fedledger.ledger import Ledger, Signer
from fedledger.records import RoundFinalized, TaskLimits, UpdateSubmitted


@pytest.fixture
def fed(tmp_path: Path) -> Federation:
    fed = Federation(tmp_path)
    for round_ in range(2):
        for who in range(3):
            fed.submit(who, codec.encode(model(float(10 * round_ + who + 1))))
        fed.coordinator.close_round(fed.task)
    return fed


def _fresh_log(fed: Federation, window: int) -> EventLog:
    return EventLog(fed.w3, fed.ledger.contract, fed.ledger.from_block, fed.ledger._call, window=window)


def test_small_windows_read_the_same_events_in_many_queries(fed: Federation) -> None:
    # Prepare
    wide, narrow = _fresh_log(fed, 10_000), _fresh_log(fed, 3)
    # Execute
    everything, paged = wide.task_events(fed.task), narrow.task_events(fed.task)
    # Assert
    assert paged == everything
    assert [type(e) for e in everything].count(UpdateSubmitted) == 6
    assert [type(e) for e in everything].count(RoundFinalized) == 2
    blocks = fed.w3.eth.block_number - fed.ledger.from_block + 1  # one query per window of 3 blocks
    assert wide.queries == 1 and narrow.queries == -(-blocks // 3) > 1


def test_a_node_refusing_large_ranges_gets_narrower_queries(
    fed: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: a public endpoint that caps a query at 4 blocks
    log = _fresh_log(fed, 10_000)
    real = fed.w3.eth.get_logs

    def capped(params: Any) -> Any:
        if params["toBlock"] - params["fromBlock"] >= 4:
            raise Web3RPCError("query exceeds max block range 4")
        return real(params)

    monkeypatch.setattr(fed.w3.eth, "get_logs", capped)
    # Execute
    events = log.task_events(fed.task)
    # Assert
    monkeypatch.undo()
    assert events == _fresh_log(fed, 10_000).task_events(fed.task)
    assert log.window <= 4


def test_later_reads_fetch_only_new_blocks(fed: Federation) -> None:
    log = _fresh_log(fed, 10_000)
    first = log.task_events(fed.task)
    queries = log.queries
    again = log.task_events(fed.task)
    fed.submit(0, codec.encode(model(99.0)))
    newer = log.task_events(fed.task)
    assert again == first and log.queries == queries + 1  # nothing new: no query; one new block: one
    assert newer[: len(first)] == first and isinstance(newer[-1], UpdateSubmitted)


def test_events_of_an_impostor_contract_with_the_same_task_id_are_not_read(fed: Federation) -> None:
    # Prepare: what an honest auditor reads, then an outsider deploys its own copy of the contract on the same chain
    # and emits the same events for the same task id (a forged finalization included)
    before = _fresh_log(fed, 10_000).task_events(fed.task)
    outsider = Signer(fed.w3.eth.accounts[5])
    impostor, _ = Ledger.deploy(fed.w3, outsider)
    forged = codec.encode(model(666.0))
    task, _ = impostor.create_task(
        outsider,
        aggregator=outsider.address,
        initial_digest=codec.model_digest(forged),
        initial_cid=fed.store.put(forged),
        quorum=1,
        round_duration=3600,
        strategy="fedavg",
        limits=TaskLimits(),
    )
    impostor.add_participant(outsider, task, outsider.address)
    impostor.open_round(outsider, task)
    impostor.submit_update(outsider, task, 1, codec.model_digest(forged), fed.store.put(forged), 10)
    impostor.finalize_round(
        outsider,
        task,
        1,
        global_digest=codec.model_digest(forged),
        global_cid=fed.store.put(forged),
        reasons=b"\0",
    )
    # Execute
    after = _fresh_log(fed, 10_000).task_events(fed.task)
    # Assert: the same task id, the same event signatures, yet nothing of the impostor's reaches the auditor
    assert task == fed.task and len(_fresh_log_of(impostor).task_events(task)) >= 5
    assert after == before


def _fresh_log_of(ledger: Ledger) -> EventLog:
    return EventLog(ledger.w3, ledger.contract, ledger.from_block, ledger._call, window=10_000)

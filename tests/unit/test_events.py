"""Reading events: paged by block window, narrowed when a node refuses a range, incremental, O(events)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from federation import Federation, model
from web3.exceptions import Web3RPCError

from fedledger import codec
from fedledger import events as events_module
from fedledger.events import EventLog
from fedledger.records import RoundFinalized, UpdateSubmitted


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


def test_the_embedded_fast_path_returns_what_eth_getlogs_returns(fed: Federation) -> None:
    # Prepare: every log of the contract, through eth-tester's own eth_getLogs and through the direct block walk
    address = fed.ledger.contract.address
    params: Any = {"address": address, "fromBlock": 0, "toBlock": "latest"}
    through_rpc = fed.w3.eth.get_logs(params)
    chain = events_module._embedded_chain(fed.w3)
    topics = sorted({"0x" + bytes(log["topics"][0]).hex() for log in through_rpc})
    # Execute
    direct = events_module._embedded_logs(chain, address, 0, fed.w3.eth.block_number, [topics])
    # Assert: same logs, same order, same positions (the decoded records depend on each of these fields)
    assert chain is not None and len(through_rpc) > 10
    keys = (
        "address",
        "topics",
        "data",
        "blockNumber",
        "logIndex",
        "transactionHash",
        "transactionIndex",
        "blockHash",
    )
    assert [{k: log[k] for k in keys} for log in direct] == [{k: log[k] for k in keys} for log in through_rpc]
    # one participant's topic narrows the result exactly as eth_getLogs does
    second = through_rpc[-1]["topics"][1]
    narrowed = events_module._embedded_logs(chain, address, 0, fed.w3.eth.block_number, [topics, second])
    assert narrowed == [log for log in direct if len(log["topics"]) > 1 and log["topics"][1] == second]


def test_small_windows_read_the_same_events_in_many_queries(fed: Federation) -> None:
    # Prepare
    wide, narrow = _fresh_log(fed, 10_000), _fresh_log(fed, 3)
    # Execute
    everything, paged = wide.task_events(fed.task), narrow.task_events(fed.task)
    # Assert
    assert paged == everything
    assert [type(e) for e in everything].count(UpdateSubmitted) == 6
    assert [type(e) for e in everything].count(RoundFinalized) == 2
    assert wide.queries == 1 and narrow.queries >= 5


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
    monkeypatch.setattr(events_module, "_embedded_chain", lambda w3: None)  # go through eth_getLogs
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

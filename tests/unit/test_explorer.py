"""The audit explorer's data (the JSON twin of the page) and page, on the embedded chain: what an auditor sees,
including a forged round and a censored update, and that untrusted strings stay text."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from federation import Federation, model
from test_accountable_rounds import _finalize_as
from web3 import Web3
from web3.providers import BaseProvider
from web3.types import RPCEndpoint, RPCResponse

from fedledger import codec
from fedledger.explorer import render_html, report_data, write_report
from fedledger.inclusion import encode_outcomes
from fedledger.ledger import Ledger
from fedledger.rules.robust import Krum


@pytest.fixture
def fed(tmp_path: Path) -> Federation:
    return Federation(tmp_path)


def _honest_round(fed: Federation, base: float) -> None:
    for who in range(3):
        fed.submit(who, codec.encode(model(base + who)), samples=10 * (who + 1))
    fed.coordinator.close_round(fed.task)


def test_report_shows_task_timeline_matrix_lineage_and_gas(fed: Federation) -> None:
    # Prepare: two honest rounds
    _honest_round(fed, 1.0)
    _honest_round(fed, 5.0)
    # Execute
    data = report_data(
        fed.ledger, fed.store, fed.task, evaluate=lambda t: ("mean", float(t["layer.bias"][0]))
    )
    # Assert
    assert data["audit"]["status"] == "ok" and data["task"]["strategy"] == "fedavg"
    assert [link["verdict"] for link in data["lineage"]] == ["INITIAL", "OK", "OK", "OPEN"]
    assert data["lineage"][1]["metric"]["value"] == pytest.approx((1 * 10 + 2 * 20 + 3 * 30) / 60)
    cells = data["matrix"]["cells"]
    first_tx = data["rounds"][0]["submissions"][2]["tx_hash"]
    assert data["matrix"]["participants"] == [p.address for p in fed.people]
    assert data["matrix"]["rounds"] == [1, 2, 3]
    assert cells[fed.people[2].address]["1"] == {
        "outcome": "included",
        "samples": 30,
        "weight": 0.5,
        "check": "ok",
        "note": "",
        "score": None,  # fedavg does not rank updates
        "tx_hash": first_tx,
    }
    assert cells[fed.people[0].address].get("3") is None  # round 3 is open: nobody submitted yet
    first = data["rounds"][0]
    assert (
        first["timeline"]["opened_block"]
        < min(first["timeline"]["submission_blocks"])
        < first["timeline"]["closed_block"]
    )
    # (the embedded chain's gas is below a node's: fedledger.embedded_chain says why; the devnet tests check it)
    assert first["gas"]["submit_mean"] > 20_000 and first["gas"]["close"] > 30_000
    assert (
        data["in_process_chain"] is True and data["verify_command"] == ""
    )  # the embedded chain dies with us


def test_a_forged_round_breaks_the_lineage_and_a_censored_update_is_marked_in_its_cell(
    fed: Federation,
) -> None:
    # Prepare: round 1 honest; in round 2 the aggregator censors participant 1 (a valid update called malformed)
    _honest_round(fed, 1.0)
    updates = [model(7.0), model(8.0), model(9.0)]
    for who, update in enumerate(updates):
        fed.submit(who, codec.encode(update))
    _finalize_as(fed, ["included", "malformed", "included"], [updates[0], updates[2]], [10, 10])
    # Execute
    data = report_data(fed.ledger, fed.store, fed.task)
    page = render_html(data)
    # Assert
    assert data["audit"]["status"] == "mismatch"
    assert [link["verdict"] for link in data["lineage"][:3]] == ["INITIAL", "OK", "MISMATCH"]
    cell = data["matrix"]["cells"][fed.people[1].address]["2"]
    assert cell["outcome"] == "malformed" and cell["check"] == "mismatch"
    assert "excluded as malformed, but the update is valid" in cell["note"]
    assert data["matrix"]["cells"][fed.people[0].address]["2"]["check"] == "ok"
    assert "class='link broken' data-round='2'" in page and "data-check='mismatch'" in page


def test_strings_from_the_chain_are_escaped_not_rendered(tmp_path: Path) -> None:
    # The owner chooses the strategy string: here one that would be markup if pasted into the page.
    evil = "<script>alert(1)</script>"
    fed = Federation(tmp_path, strategy=evil)
    report = report_data(fed.ledger, fed.store, fed.task)
    page = render_html(report)
    assert report["task"]["strategy"] == evil
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_write_report_writes_the_page_and_its_json_twin(fed: Federation, tmp_path: Path) -> None:
    _honest_round(fed, 1.0)
    report = report_data(fed.ledger, fed.store, fed.task)
    written = write_report(report, tmp_path / "out")
    assert [p.name for p in written] == ["index.json", "index.html"]
    assert json.loads((tmp_path / "out" / "index.json").read_text()) == json.loads(json.dumps(report))
    html = (tmp_path / "out" / "index.html").read_text()
    assert "http://" not in html and "https://" not in html  # nothing to fetch: no CDN, no font, no script
    assert "Content-Security-Policy" in html


def test_a_round_failed_with_reasons_shows_them(fed: Federation) -> None:
    nan = model(1.0)
    nan["layer.bias"][0] = np.nan
    fed.submit(0, codec.encode(nan))
    fed.submit(1, codec.encode(model(2.0)))
    fed.travel(3601)
    fed.ledger.close_failed_round(fed.owner, fed.task, 1, reasons=encode_outcomes(["non_finite", "included"]))
    data = report_data(fed.ledger, fed.store, fed.task)
    assert data["rounds"][0]["status"] == "failed" and data["lineage"][1]["verdict"] == "FAILED"
    assert data["matrix"]["cells"][fed.people[0].address]["1"]["outcome"] == "non_finite"


def _matrix_cell(page: str, participant: str, column: int) -> str:
    """The ``column``-th cell (1-based) of ``participant``'s matrix row, as markup."""
    row = page.split(f"<tr data-participant='{participant}'>", 1)[1].split("</tr>", 1)[0]
    return re.findall(r"<td [^>]*>[^<]*</td>", row)[column - 1]


def test_a_submission_to_a_round_failed_without_reasons_reads_round_failed_not_pending(
    fed: Federation,
) -> None:
    # Prepare: one submission (quorum is 2), the deadline and grace pass, anyone fails the round without reasons;
    # then one submission to the open round 2
    fed.submit(0, codec.encode(model(1.0)))
    fed.travel(3601)
    fed.ledger.close_failed_round(fed.owner, fed.task, 1)
    fed.submit(1, codec.encode(model(2.0)))
    # Execute
    data = report_data(fed.ledger, fed.store, fed.task)
    page = render_html(data)
    # Assert
    cells = data["matrix"]["cells"]
    assert cells[fed.people[0].address]["1"]["outcome"] == "round failed"
    assert cells[fed.people[1].address]["2"]["outcome"] == "pending"  # the round is still open
    failed = _matrix_cell(page, fed.people[0].address, 1)
    assert "class='failed'" in failed and ">round failed</td>" in failed


def test_a_recorded_outcome_in_a_failed_round_says_the_round_failed_in_its_tooltip(fed: Federation) -> None:
    fed.submit(0, codec.encode(model(1.0)))
    fed.travel(3601)
    fed.ledger.close_failed_round(fed.owner, fed.task, 1, reasons=encode_outcomes(["included"]))
    page = render_html(report_data(fed.ledger, fed.store, fed.task))
    assert "title='round failed; included;" in _matrix_cell(page, fed.people[0].address, 1)


def test_krum_outliers_carry_the_score_the_audit_recomputes(tmp_path: Path) -> None:
    # Prepare: Multi-Krum keeps 3 of 5, so it leaves out the attacker (x100) and one honest update
    fed = Federation(tmp_path, participants=5, quorum=5, strategy="multikrum:f=1,m=3")
    values = [1.0, 1.1, 0.9, 1.05, 100.0]
    for who, value in enumerate(values):
        fed.submit(who, codec.encode(model(value)))
    fed.coordinator.close_round(fed.task)
    flat = [np.concatenate([model(v)[k].reshape(-1) for k in sorted(model(v))]) for v in values]
    expected = Krum(f=1, multi=True, m=3).scores(flat)  # participants submit in address order here
    # Execute
    data = report_data(fed.ledger, fed.store, fed.task)
    page = render_html(data)
    # Assert
    cells = [data["matrix"]["cells"][p.address]["1"] for p in fed.people]
    outliers = [i for i, c in enumerate(cells) if c["outcome"] == "outlier"]
    assert len(outliers) == 2 and 4 in outliers
    assert [c["score"] for c in cells] == expected
    honest_outlier = next(i for i in outliers if i != 4)
    assert cells[4]["score"] > 100 * cells[honest_outlier]["score"]  # the attacker stands out by its score
    checks = data["rounds"][0]["verdict"]["submissions"]
    assert [c["score"] for c in checks] == expected  # index.json: the audit's own check carries it
    attacker = _matrix_cell(page, fed.people[4].address, 1)
    assert f">outlier {expected[4]:.3g}</td>" in attacker and f"score {expected[4]!r}" in attacker


def test_every_submission_and_round_close_has_its_transaction_hash(fed: Federation) -> None:
    # Prepare
    _honest_round(fed, 1.0)
    # Execute
    data = report_data(fed.ledger, fed.store, fed.task)
    page = render_html(data)
    # Assert: each hash is the transaction that made the event, and the page holds every one in full
    first = data["rounds"][0]
    for person, submission in zip(fed.people, first["submissions"], strict=True):
        sent = fed.w3.eth.get_transaction(submission["tx_hash"])
        assert sent["from"] == person.address and sent["to"] == fed.ledger.address
        assert data["matrix"]["cells"][person.address]["1"]["tx_hash"] == submission["tx_hash"]
        assert f"tx {submission['tx_hash']}" in _matrix_cell(page, person.address, 1)
    close = fed.w3.eth.get_transaction_receipt(first["timeline"]["close_tx"])
    assert close["blockNumber"] == first["timeline"]["closed_block"] and close["from"] == fed.owner.address
    assert fed.w3.eth.get_transaction(first["timeline"]["opened_tx"])["from"] == fed.owner.address
    assert f"title='{first['timeline']['close_tx']}'>{first['timeline']['close_tx']}</code>" in page


def test_full_cids_and_digests_are_in_the_page_shortened_only_by_css(fed: Federation) -> None:
    _honest_round(fed, 1.0)
    data = report_data(fed.ledger, fed.store, fed.task)
    page = render_html(data)
    for link in data["lineage"][:2]:
        for value in (link["digest"], link["cid"]):
            assert len(value) > 40 and f"<code class='full' title='{value}'>{value}</code>" in page
    assert re.search(r"\.full\{[^}]*text-overflow:ellipsis[^}]*user-select:all", page)
    assert "…" not in page.split("id='lineage'", 1)[1].split("</div></div>", 1)[0]  # no truncated values left


def _texts(svg: str, cls: str) -> list[str]:
    return [unescape(t) for t in re.findall(rf"<text class='{cls}'[^>]*>([^<]*)</text>", svg)]


def test_the_gas_chart_has_labelled_axes(fed: Federation) -> None:
    # Prepare
    _honest_round(fed, 1.0)
    _honest_round(fed, 2.0)
    data = report_data(fed.ledger, fed.store, fed.task)
    # Execute
    svg = render_html(data).split("<svg id='gas'", 1)[1].split("</svg>", 1)[0]
    # Assert: y ticks are gas values from 0 past the tallest bar, x ticks the round numbers, both axes named
    ticks = [int(t.replace(",", "")) for t in _texts(svg, "ytick")]
    tallest = max(r["gas"]["submissions"] + (r["gas"]["close"] or 0) for r in data["rounds"])
    assert ticks[0] == 0 and ticks == sorted(set(ticks)) and len(ticks) >= 3
    assert ticks[-2] < tallest <= ticks[-1]
    assert _texts(svg, "xtick") == [str(r["round"]) for r in data["rounds"]]
    assert sorted(_texts(svg, "axis")) == ["gas", "round"]


def test_an_in_process_chain_offers_no_command_that_cannot_work(fed: Federation) -> None:
    _honest_round(fed, 1.0)
    page = render_html(report_data(fed.ledger, fed.store, fed.task))
    check = page.split('id="check">', 1)[1]
    assert "audit verify --task" not in check.split("fedledger devnet up", 1)[0]
    assert "lived in-process" in check and "fedledger devnet up" in check


class _OverRpc(BaseProvider):
    """The embedded chain as a node reached over RPC looks: JSON-RPC requests only, no in-process tester."""

    def __init__(self, inner: BaseProvider) -> None:
        super().__init__()
        self._inner = inner

    def request_func(self, w3: Web3, middleware_onion: Any) -> Callable[..., RPCResponse]:
        return self._inner.request_func(w3, middleware_onion)  # the tester's request formatting, as a node's

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        return self._inner.make_request(method, params)

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True


def test_a_chain_reached_over_rpc_gets_the_command_that_re_runs_the_audit(fed: Federation) -> None:
    # Prepare: the same chain, seen through a provider that only relays requests
    _honest_round(fed, 1.0)
    remote = Ledger(Web3(_OverRpc(fed.w3.provider)), fed.ledger.address)
    # Execute
    data = report_data(remote, fed.store, fed.task, rpc_hint="http://127.0.0.1:8545")
    page = render_html(data)
    # Assert
    command = f"fedledger audit verify --task {fed.task} --contract {fed.ledger.address} --rpc-url http://127.0.0.1:8545"
    assert data["in_process_chain"] is False and data["verify_command"] == command
    assert f"<pre><code>{command}</code></pre>" in page and "lived in-process" not in page

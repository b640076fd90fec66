"""The audit explorer's data (the JSON twin of the page) and page, on the embedded chain: what an auditor sees,
including a forged round and a censored update, and that untrusted strings stay text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from federation import Federation, model
from test_accountable_rounds import _finalize_as

from aggregator.judge import judge_round
from fedledger import codec
from fedledger.explorer import render_html, report_data, write_report
from fedledger.inclusion import encode_outcomes


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
        fed.ledger, fed.store, fed.task, judge_round, evaluate=lambda t: ("mean", float(t["layer.bias"][0]))
    )
    # Assert
    assert data["audit"]["status"] == "ok" and data["task"]["strategy"] == "fedavg"
    assert [link["verdict"] for link in data["lineage"]] == ["INITIAL", "OK", "OK", "OPEN"]
    assert data["lineage"][1]["metric"]["value"] == pytest.approx((1 * 10 + 2 * 20 + 3 * 30) / 60)
    cells = data["matrix"]["cells"]
    assert data["matrix"]["participants"] == [p.address for p in fed.people]
    assert data["matrix"]["rounds"] == [1, 2, 3]
    assert cells[fed.people[2].address]["1"] == {
        "outcome": "included",
        "samples": 30,
        "weight": 0.5,
        "check": "ok",
        "note": "",
    }
    assert cells[fed.people[0].address].get("3") is None  # round 3 is open: nobody submitted yet
    first = data["rounds"][0]
    assert (
        first["timeline"]["opened_block"]
        < min(first["timeline"]["submission_blocks"])
        < first["timeline"]["closed_block"]
    )
    assert first["gas"]["submit_mean"] > 30_000 and first["gas"]["close"] > 50_000
    assert data["verify_command"].startswith(
        f"fedledger audit verify --task {fed.task} --contract {fed.ledger.address}"
    )


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
    data = report_data(fed.ledger, fed.store, fed.task, judge_round)
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
    report = report_data(fed.ledger, fed.store, fed.task, judge_round)
    page = render_html(report)
    assert report["task"]["strategy"] == evil
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_write_report_writes_the_page_and_its_json_twin(fed: Federation, tmp_path: Path) -> None:
    _honest_round(fed, 1.0)
    report = report_data(fed.ledger, fed.store, fed.task, judge_round)
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
    data = report_data(fed.ledger, fed.store, fed.task, judge_round)
    assert data["rounds"][0]["status"] == "failed" and data["lineage"][1]["verdict"] == "FAILED"
    assert data["matrix"]["cells"][fed.people[0].address]["1"]["outcome"] == "non_finite"

"""The zero-setup demo end to end, through the CLI as users run it."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from typer.testing import CliRunner

from fedledger.cli.app import app


def test_demo_json_reports_every_round_verified_and_the_metric_improving(tmp_path: Path) -> None:
    # Execute
    result = CliRunner().invoke(app, ["demo", "--rounds", "3", "--json", "--report", str(tmp_path)])
    # Assert
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rounds = report["rounds"]
    assert [r["round"] for r in rounds] == [1, 2, 3]
    assert all(r["included"] == 4 and r["global_digest"].startswith("0x") for r in rounds)
    assert all(r["metric"]["name"] == "rmse" for r in rounds)
    rmse = [report["initial_metric"]["value"]] + [r["metric"]["value"] for r in rounds]
    assert all(later < earlier for earlier, later in itertools.pairwise(rmse)), rmse
    assert all(0 < r["gas"]["submit_max"] < 60_000 and r["gas"]["finalize"] > 0 for r in rounds)
    assert report["audit"] == {**report["audit"], "ok": True, "verified_rounds": 3}
    assert json.loads((tmp_path / "report.json").read_text())["rounds"] == rounds
    assert (tmp_path / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    files = report["report_files"]
    assert files == {
        "page": str((tmp_path / "index.html").resolve()),
        "page_json": str((tmp_path / "index.json").resolve()),
        "store": str((tmp_path / "store").resolve()),
        "report_json": str((tmp_path / "report.json").resolve()),
        "learning_curve": str((tmp_path / "learning_curve.png").resolve()),
    }
    assert all(Path(path).exists() for path in files.values())
    page = Path(files["page"]).read_text()
    # the demo's chain lived in-process and is gone: the page must not offer a command that cannot reach it
    assert "lived in-process" in page and "fedledger audit verify --task 1 --contract" not in page
    assert json.loads(Path(files["page_json"]).read_text())["in_process_chain"] is True


def test_demo_human_output_shows_the_table_the_audit_verdict_and_where_the_page_is(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["demo", "--rounds", "1", "--participants", "2", "--dataset", "digits", "--strategy", "fedsgd"]
        + ["--report", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.stdout and "fedsgd:lr=" in result.stdout
    assert "audit: OK, 1 of 1 rounds re-derived" in result.stdout
    page = str((out / "index.html").resolve())
    assert f"audit page: {page}" in result.stdout and f"wrote {out.resolve() / 'index.json'}" in result.stdout


def test_unknown_strategy_is_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["demo", "--strategy", "bogus"])
    assert result.exit_code != 0
    assert "fedavg" in result.output

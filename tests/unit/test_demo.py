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


def test_private_demo_with_dp_audits_every_round_and_the_page_shows_epsilon(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--rounds",
            "2",
            "--privacy",
            "secagg",
            "--dp-epsilon",
            "8",
            "--json",
            "--report",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    privacy = report["privacy"]
    assert privacy["params"].startswith("secagg:clip=0.1,scale_bits=") and privacy["max_rounds"] == 2
    assert privacy["epsilon_after_max_rounds"] <= 8.0 < privacy["epsilon_after_max_rounds"] + 1
    assert [r["included"] for r in report["rounds"]] == [4, 4]
    assert all({"keys_mean", "shares_mean", "unmask_mean"} <= set(r["gas"]) for r in report["rounds"])
    assert report["audit"] == {**report["audit"], "ok": True, "verified_rounds": 2}
    page = (tmp_path / "index.html").read_text()
    assert "ε spent" in page and "after 2 rounds (budget 8.0)" in page


def test_private_fedsgd_demo_without_dp_learns_like_the_plain_one() -> None:
    args = [
        "demo",
        "--rounds",
        "2",
        "--participants",
        "3",
        "--dataset",
        "digits",
        "--strategy",
        "fedsgd",
        "--json",
    ]
    plain = json.loads(CliRunner().invoke(app, args).stdout)
    private = json.loads(CliRunner().invoke(app, [*args, "--privacy", "secagg"]).stdout)
    assert private["audit"]["ok"] and private["privacy"]["noise"] is None
    for a, b in zip(plain["rounds"], private["rounds"], strict=True):  # quantization costs no accuracy
        assert abs(a["metric"]["value"] - b["metric"]["value"]) < 0.02


def test_dp_epsilon_without_privacy_is_refused() -> None:
    result = CliRunner().invoke(app, ["demo", "--dp-epsilon", "8"])
    assert result.exit_code != 0
    assert "--dp-epsilon needs --privacy secagg" in result.output


def test_the_default_private_demo_with_dp_runs_every_round() -> None:
    # clip 1.0 noise wrecked the bikes model in round 2 and the next participant's training overflowed
    result = CliRunner().invoke(app, ["demo", "--privacy", "secagg", "--dp-epsilon", "8", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [r["round"] for r in report["rounds"]] == [1, 2, 3, 4, 5]
    assert report["privacy"]["clip"] == 0.1 and report["audit"]["ok"]

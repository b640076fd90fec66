"""The benchmark scripts still run end to end (smallest sizes, embedded only) and write the tables they promise.

No timing is asserted: only that each script completes, writes its section, and that the run it measured audits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_script(tmp_path: Path, *args: str) -> str:
    out = tmp_path / "BENCHMARKS.md"
    env = dict(os.environ, FEDLEDGER_BENCHMARKS_OUT=str(out))
    done = subprocess.run(
        [sys.executable, *args],
        cwd=BENCHMARKS,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out.read_text()


def test_the_phase_table_names_every_phase_and_the_run_audits(tmp_path: Path) -> None:
    text = run_script(tmp_path, "phases.py", "--no-devnet", "--rounds", "1", "--dataset", "digits")
    assert "<!-- phases:start -->" in text and "embedded: ok, 1 rounds verified" in text
    for phase in ("pre-checks (contract views)", "training", "registration (transaction)", "event polling"):
        assert f"| {phase} |" in text


def test_the_big_update_table_has_a_rate_for_every_stage_that_moves_bytes(tmp_path: Path) -> None:
    text = run_script(tmp_path, "big_update.py", "--params", "100000", "--no-devnet")
    assert "<!-- big-update:start -->" in text and "Audit: embedded: ok" in text
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert rows["registration (transaction)"].endswith("| - |")  # a digest, not the bytes: no rate
    assert not rows["upload"].endswith("| - |")


@pytest.mark.slow
def test_the_views_table_compares_both_sides_and_the_batch_emits_the_same_events(tmp_path: Path) -> None:
    text = run_script(
        tmp_path, "views.py", "--no-devnet", "--participants", "2", "--accounts", "5", "--repeat", "1"
    )
    assert "<!-- views:start -->" in text and "events are the same: embedded: yes" in text
    assert "| embedded | pre-checks, 5 views | 5 |" in text
    assert "| embedded | pre-checks, participantView | 1 |" in text
    assert "| embedded | add 5 participants, addParticipants (200 a tx) | 1 |" in text


def test_the_privacy_tables_have_every_view_and_every_aggregation(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    text = run_script(tmp_path, "privacy.py", "--quick")
    assert "<!-- privacy:start -->" in text and "## Private rounds: leakage and utility (issue 17)" in text
    rows = [line.split(" | ")[0].lstrip("| ") for line in text.splitlines() if line.startswith("| ")]
    for view in ("plain round: the victim's own update", "private round: secure aggregate of 3"):
        assert view in rows
    assert sum(row.startswith("private + DP, z = ") for row in rows) == 2
    assert "plain FedAvg (float)" in rows and "secure aggregation (clip 5.0, 2^-16)" in rows
    assert sum(row.startswith("secure aggregation + DP, z = ") for row in rows) == 2
    for line in text.splitlines():  # every AUC is a mean ± sd in [0, 1]
        if line.startswith(("| plain round", "| private")):
            mean = float(line.split(" | ")[1].split(" ± ")[0])
            assert 0.0 <= mean <= 1.0


def test_the_privacy_cost_tables_have_every_round_and_every_crypto_step(tmp_path: Path) -> None:
    text = run_script(tmp_path, "privacy_cost.py", "--quick")
    assert "<!-- privacy-cost:start -->" in text and "## Private rounds: cost (issue 17)" in text
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    times = [r for r in rows if len(r) == 14 and r[0] != "| round"]
    gases = [r for r in rows if len(r) == 10 and r[0] != "| round"]
    expected = [
        ("| plain", "3", "0"), ("| private", "3", "0"), ("| plain", "10", "0"), ("| private", "10", "0"),
        ("| private", "10", "1 (10%)"), ("| private", "10", "3 (30%)"),
    ]  # fmt: skip
    assert [tuple(r[:3]) for r in times] == expected and [tuple(r[:3]) for r in gases] == expected
    assert all(r[-1] == "OK |" for r in times)  # every measured round audits
    for row in times:  # a plain round has no secrets to rebuild and no masks to remove
        assert (row[9:11] == ["-", "-"]) == (row[0] == "| plain")
    for row in gases:
        steps = row[3:7]
        if row[0] == "| plain":
            assert steps[0] == steps[1] == steps[3] == "-" and steps[2] != "-"
        else:
            assert "-" not in steps  # each of the four private postings has its gas
    steps = {(r[0].lstrip("| "), r[2]) for r in rows if len(r) == 4}
    assert ("mask (participant)", "9 peers + self") in steps
    assert ("unmask (aggregator, auditor)", "7 survivors, 3 dropped: 28 streams") in steps


def test_the_committee_tables_have_every_size_attack_and_copy_case(tmp_path: Path) -> None:
    text = run_script(tmp_path, "committee.py", "--quick")
    assert "<!-- committee:start -->" in text
    for row in ("| 10 | 1 | finalizeRound |", "| 10 | 3 | 2 of 3 attest |", "| 10 | 5 | 3 of 5 attest |"):
        assert row in text
    assert "| 1 of 3 lies: wrong global model | the honest outcome | OK | yes |" in text
    assert "| 2 of 3 collude: wrong global model | the lie (a wrong global model) | MISMATCH | yes |" in text
    assert "| plain submitUpdate | Alice duplicate, Mallory duplicate |" in text
    assert "| commit-reveal | Alice included;" in text

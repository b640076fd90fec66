"""Aggregator committees on a real devnet: three member processes, one of them lying; the round closes on the
honest outcome and `audit verify` names the liar (README, "Aggregator committees")."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from devnet_fixtures import FEDLEDGER, ROOT, Devnet
from test_workflow import DATASET, ledger_of, submit_nudged

pytestmark = pytest.mark.integration
CHEATER = Path(__file__).with_name("cheating_aggregator.py")


def test_a_cheating_member_is_outvoted_and_named_by_the_audit(devnet: Devnet) -> None:
    # Prepare: members are dev accounts 6, 7, 8 (2 must agree); three participants submit
    created = devnet.invoke_json(
        "task", "create", "--participants", "1,2,3", "--quorum", "2", "--max-samples", "5000",
        "--aggregators", "6,7,8", "--threshold", "2", *DATASET,
    )  # fmt: skip
    task = str(created["task_id"])
    cheater, *honest = created["committee"]["members"]
    submit_nudged(devnet, task, [1, 2, 3])
    # Execute: the cheater (its own process) attests first, declaring submission #1 unavailable; then the two
    # honest members run `fedledger aggregate --watch` side by side
    lied = subprocess.run(
        [*FEDLEDGER[:1], str(CHEATER), task, "6", "1"],
        cwd=ROOT,
        env=devnet.env(PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert lied.returncode == 0, lied.stderr
    watch = ["--watch", "--max-rounds", "1", "--interval", "0.2", "--json"]
    members = [
        subprocess.Popen(
            [*FEDLEDGER, "aggregate", "--task", task, *watch, "--account", account],
            cwd=ROOT,
            env=devnet.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for account in ("7", "8")
    ]
    rounds = []
    for proc in members:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        rounds.append(json.loads(out)["rounds"][0])
    audit = devnet.cli("audit", "verify", "--task", task, "--json", check=False)
    history = devnet.cli_json("audit", "history", "--task", task)
    # Assert: the cheater's attestation stayed open; exactly one honest attestation closed the round on the
    # honest outcome, which includes #1
    lie = json.loads(lied.stdout)
    assert (lie["attested"], lie["closed"]) == (True, False)
    assert [(e["index"], e["reason"]) for e in lie["excluded"]] == [(1, "unavailable")]
    assert all(r["attested"] for r in rounds) and sorted(r["closed"] for r in rounds) == [False, True]
    state = ledger_of(devnet).get_task(int(task))
    assert state.round == 2
    record = history["tasks"][0]["rounds"][0]
    assert record["status"] == "finalized" and record["excluded"] == []
    assert record["global_digest"] == rounds[0]["global_digest"] == rounds[1]["global_digest"]
    agrees = {a["member"]: a["agrees"] for a in record["attestations"]}
    assert agrees == {cheater: False, honest[0]: True, honest[1]: True}
    # ... and the audit says OK, naming the cheater (and only it) in its dissent
    report = json.loads(audit.stdout)
    verdict = report["tasks"][0]["rounds"][0]
    assert audit.returncode == 0 and verdict["verdict"] == "OK", audit.stdout
    assert verdict["dissent"][0] == f"member {cheater}: attested unavailable for #1, the rules say included"
    assert all(
        line.startswith(f"member {cheater}: ") for line in verdict["dissent"]
    )  # its digest differs too

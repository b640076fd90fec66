"""The multi-process workflow users run, against a real devnet (anvil) and a real js-ipfs daemon.

The workflow's `fedledger` calls are each their own process (participants and the aggregator live on different
machines in real life); the only thing they share is what `fedledger devnet up` wrote, or the flags an auditor
passes. Set-up steps and refusals that only check a command's answer run in-process (``Devnet.invoke``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from devnet_fixtures import FEDLEDGER, ROOT, Devnet

from fedledger import codec
from fedledger.ledger import Ledger, connect
from fedledger.store import KuboStore

pytestmark = pytest.mark.integration
DATASET = ("--dataset", "digits")  # the bikes model works the same; digits keeps CI fast


def create_task(net: Devnet, participants: str, quorum: int, duration: int = 600) -> str:
    """Create a task (in-process: a set-up step; test_three_participants_... creates its own with a process)."""
    created = net.invoke_json(
        "task",
        "create",
        "--participants",
        participants,
        "--quorum",
        str(quorum),
        "--round-duration",
        str(duration),
        "--max-samples",
        "5000",
        *DATASET,
    )
    return str(created["task_id"])


def train_in_parallel(net: Devnet, task: str, accounts: list[int]) -> list[dict[str, object]]:
    """Start one `node train` process per account at once, like separate machines would."""
    procs = [
        subprocess.Popen(
            [
                *FEDLEDGER,
                "node",
                "train",
                "--task",
                task,
                "--account",
                str(a),
                *DATASET,
                "--epochs",
                "1",
                "--json",
            ],
            cwd=ROOT,
            env=net.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for a in accounts
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    return results


def submit_nudged(net: Devnet, task: str, accounts: list[int]) -> list[dict[str, object]]:
    """Register one update per account in-process without training (the task's model, nudged per account): the
    quick way to fill a round for a test about what comes after. Real `node train` processes: train_in_parallel."""
    state = ledger_of(net).get_task(int(task))
    base = codec.decode(KuboStore(net.state["ipfs_api"]).get(state.model_cid))
    folder = net.state_file.parent / "updates"
    folder.mkdir(exist_ok=True)
    results = []
    for account in accounts:
        nudged = {k: (v + np.float32(0.01 * account)).astype(v.dtype) for k, v in base.items()}
        update = folder / f"task{task}-round{state.round}-account{account}.safetensors"
        update.write_bytes(codec.encode(nudged))
        results.append(
            net.invoke_json(
                "node", "submit", str(update), "--task", task, "--samples", "10", "--account", str(account)
            )
        )
    return results


def ledger_of(net: Devnet) -> Ledger:
    return Ledger(connect(net.state["rpc_url"]), net.state["contract_address"])


def test_three_participants_two_rounds_then_audit_from_a_fresh_shell(devnet: Devnet, tmp_path: Path) -> None:
    # Prepare: the task too is created by a process of its own
    created = devnet.cli_json(
        "task", "create", "--participants", "1,2,3", "--quorum", "2", "--max-samples", "5000", *DATASET
    )
    task = str(created["task_id"])
    committed = []
    # Execute: two rounds, three participant processes each, then the aggregator process
    for round_ in (1, 2):
        submissions = train_in_parallel(devnet, task, [1, 2, 3])
        assert {s["round"] for s in submissions} == {round_}
        outcome = devnet.cli_json("aggregate", "--task", task)
        assert outcome["round"] == round_ and len(outcome["included"]) == 3
        committed.append(outcome["global_digest"])
    # An auditor with no state file, only the three endpoints
    verified = devnet.cli_json(
        "audit",
        "verify",
        "--task",
        task,
        "--rpc-url",
        devnet.state["rpc_url"],
        "--contract",
        devnet.state["contract_address"],
        "--ipfs-api",
        devnet.state["ipfs_api"],
        FEDLEDGER_STATE=str(tmp_path / "absent.json"),
    )
    history = devnet.cli_json(
        "audit",
        "history",
        "--task",
        task,
        FEDLEDGER_STATE=str(tmp_path / "absent.json"),
        FEDLEDGER_RPC_URL=devnet.state["rpc_url"],
        FEDLEDGER_CONTRACT=devnet.state["contract_address"],
    )
    # The same audit from an auditor's install: `pip install .` without extras, no torch (make setup-core)
    core = ROOT / ".venv-core" / "bin" / "fedledger"
    assert core.exists(), "run `make setup-core` (make test does): the auditor's install without extras"
    no_torch = subprocess.run(
        [str(core.parent / "python"), "-c", "import torch"], capture_output=True, check=False
    )
    audited = subprocess.run(
        [
            str(core),
            "audit",
            "verify",
            "--task",
            task,
            "--json",
            "--rpc-url",
            devnet.state["rpc_url"],
            "--contract",
            devnet.state["contract_address"],
            "--ipfs-api",
            devnet.state["ipfs_api"],
        ],
        capture_output=True,
        text=True,
        check=False,
        env=devnet.env(FEDLEDGER_STATE=str(tmp_path / "absent.json")),
    )
    # Assert
    assert verified["ok"] is True and verified["verified_rounds"] == 2
    assert no_torch.returncode != 0, "the auditor's install must not pull torch"
    assert audited.returncode == 0, audited.stderr
    assert json.loads(audited.stdout)["verified_rounds"] == 2
    rounds = history["tasks"][0]["rounds"]
    assert [r["global_digest"] for r in rounds if r["status"] == "finalized"] == committed
    assert [len(r["submissions"]) for r in rounds[:2]] == [3, 3]


def test_aggregator_killed_while_waiting_and_restarted_finalizes_exactly_once(devnet: Devnet) -> None:
    # Prepare: an aggregator following the task before anyone submitted
    task = create_task(devnet, "1,2", quorum=2)
    watcher = subprocess.Popen(
        [*FEDLEDGER, "aggregate", "--task", task, "--watch", "--interval", "0.5"],
        cwd=ROOT,
        env=devnet.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    submit_nudged(devnet, task, [1])
    # Execute: kill it mid-round, finish the round, restart it
    watcher.send_signal(signal.SIGKILL)
    watcher.wait(timeout=30)
    submit_nudged(devnet, task, [2])
    restarted = devnet.cli_json("aggregate", "--task", task, "--watch", "--max-rounds", "1")
    again = devnet.cli("aggregate", "--task", task, check=False)
    # Assert
    assert [r["round"] for r in restarted["rounds"]] == [1]
    assert again.returncode == 1 and "round 2" in again.stderr and "still running" in again.stderr
    ledger = ledger_of(devnet)
    assert len(ledger.rounds_finalized(int(task), 1)) == 1
    assert ledger.get_task(int(task)).round == 2


def test_participant_after_the_deadline_is_refused_and_round_closes_with_quorum(devnet: Devnet) -> None:
    # Prepare
    task = create_task(devnet, "1,2,3", quorum=2, duration=10)
    submit_nudged(devnet, task, [1, 2])
    # Execute: the deadline passes by the clock (the shared chain's clock is never moved: other tests' deadlines
    # are real time too), then the third participant shows up
    state = devnet.invoke_json("task", "show", "--task", task)
    time.sleep(max(0.0, state["deadline"] - state["now"] + 1.5))
    late = devnet.cli("node", "train", "--task", task, "--account", "3", *DATASET, check=False)
    outcome = devnet.cli_json("aggregate", "--task", task)
    # Assert
    assert late.returncode == 1 and "deadline" in late.stderr
    assert outcome["round"] == 1 and len(outcome["included"]) == 2
    assert (
        ledger_of(devnet).updates_submitted(int(task), 1)[-1].participant
        != ledger_of(devnet).w3.eth.accounts[3]
    )


def test_ipfs_daemon_down_gives_a_clear_error_and_loses_nothing(devnet: Devnet) -> None:
    # Prepare
    task = create_task(devnet, "1,2", quorum=1)
    with devnet.ipfs_stopped():
        # Execute
        started = time.monotonic()
        failed = devnet.cli("node", "train", "--task", task, "--account", "1", *DATASET, check=False)
        elapsed = time.monotonic() - started
        submissions_while_down = ledger_of(devnet).get_task(int(task)).submissions
    retried = devnet.cli_json("node", "train", "--task", task, "--account", "1", *DATASET)
    # Assert
    assert failed.returncode == 1 and "not answering" in failed.stderr, failed.stderr
    assert elapsed < 60
    assert submissions_while_down == 0
    assert retried["round"] == 1
    assert ledger_of(devnet).get_task(int(task)).submissions == 1
    # Only an open round: nothing to verify yet, which must not read as success.
    empty = devnet.cli("audit", "verify", "--task", task, "--json", check=False)
    assert empty.returncode == 3 and json.loads(empty.stdout)["status"] == "empty"


def test_malformed_update_file_is_refused_before_anything_is_uploaded_or_registered(
    devnet: Devnet, tmp_path: Path
) -> None:
    # Prepare: a pickle is exactly what a participant must never be able to make others load
    task = create_task(devnet, "1,2", quorum=2)
    evil = tmp_path / "update.safetensors"
    evil.write_bytes(b"\x80\x04\x95" + b"\x00" * 64)
    # Execute
    refused = devnet.invoke(
        "node", "submit", str(evil), "--task", task, "--samples", "10", "--account", "1", check=False
    )
    # Assert
    assert refused.returncode == 2 and "safetensors" in refused.stderr
    assert ledger_of(devnet).get_task(int(task)).submissions == 0


def test_owner_manages_the_allowlist_and_others_cannot(devnet: Devnet) -> None:
    # Prepare
    task = create_task(devnet, "1,2", quorum=1)
    # Execute
    devnet.invoke("participant", "add", "3", "--task", task)
    devnet.invoke("participant", "remove", "1", "--task", task)
    members = devnet.invoke_json("participant", "list", "--task", task)["participants"]
    intruder = devnet.invoke("participant", "add", "4", "--task", task, "--account", "5", check=False)
    wrong_model = devnet.invoke(
        "node", "train", "--task", task, "--account", "2", "--dataset", "bikes", check=False
    )
    # Assert
    accounts = ledger_of(devnet).w3.eth.accounts
    assert members == [accounts[2], accounts[3]]
    assert intruder.returncode == 1 and f"{accounts[5]} is not the owner of task {task}" in intruder.stderr
    assert wrong_model.returncode == 2 and "is --dataset the one" in wrong_model.stderr


# Hardhat's well-known dev key #4 (public test mnemonic), used as if it were a real participant's key file.
KEY_4 = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"
ADDRESS_4 = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"


def test_participant_signing_with_a_key_file_as_on_a_real_chain(devnet: Devnet, tmp_path: Path) -> None:
    # Prepare: the node signs locally; the devnet only relays the raw transaction
    task = create_task(devnet, f"1,{ADDRESS_4}", quorum=2)
    key_file = tmp_path / "participant.key"
    key_file.write_text(KEY_4 + "\n")
    # Execute
    by_file = devnet.cli_json(
        "node",
        "train",
        "--task",
        task,
        "--key-file",
        str(key_file),
        "--shard",
        "1/2",
        *DATASET,
        "--epochs",
        "1",
    )
    by_env = devnet.invoke(  # refused before training: in-process is enough
        "node", "train", "--task", task, "--shard", "1/2", *DATASET, check=False, FEDLEDGER_PRIVATE_KEY=KEY_4
    )
    # Assert
    assert by_file["participant"] == ADDRESS_4 and by_file["round"] == 1
    assert by_env.returncode == 1 and f"{ADDRESS_4} already submitted in round 1" in by_env.stderr

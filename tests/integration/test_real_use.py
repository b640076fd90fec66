"""A new user's path on the real devnet (anvil + js-ipfs), each command its own process.

- a round whose deadline passed by the clock closes on an idle chain that mines only on demand (`aggregate` and
  `aggregate --watch`), with a late participant that never submits;
- `node train --out` keeps the update it registered and `model get` writes the digest-checked global model;
- `devnet up --fresh` keeps the old chain and the audit cache never reuses a verdict of the old chain.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from devnet_fixtures import FEDLEDGER, ROOT, Devnet, free_port, start_devnet

from fedledger import codec

pytestmark = pytest.mark.integration

SHAPES = {"layer.bias": (3,), "layer.weight": (3, 2)}


def _model_file(path: Path, value: float) -> Path:
    path.write_bytes(codec.encode({n: np.full(s, value, dtype=np.float32) for n, s in SHAPES.items()}))
    return path


def _task(devnet: Devnet, tmp: Path, *extra: str) -> int:
    initial = _model_file(tmp / "initial.safetensors", 0.0)
    cap = [] if "--max-samples" in extra else ["--max-samples", "1000"]
    created = devnet.cli_json("task", "create", "--model-file", str(initial), *cap, *extra)
    return int(created["task_id"])


def _wait_past(devnet: Devnet, task: int) -> None:
    """Sleep until the open round's deadline has passed by the clock (the chain stays idle meanwhile)."""
    state = devnet.invoke_json("task", "show", "--task", str(task))
    time.sleep(max(0.0, state["deadline"] + 1.5 - max(time.time(), state["now"])))


def test_a_late_participant_does_not_block_the_round_on_an_idle_devnet(devnet: Devnet, tmp_path: Path) -> None:
    # Prepare: two participants, quorum 1, short rounds; only account 1 submits
    task = _task(devnet, tmp_path, "--participants", "1,2", "--quorum", "1", "--round-duration", "6")
    update = _model_file(tmp_path / "u1.safetensors", 1.0)
    devnet.cli("node", "submit", str(update), "--task", str(task), "--samples", "5", "--account", "1")
    _wait_past(devnet, task)

    # Execute: the chain has mined nothing since; its latest block is older than the deadline
    closed = devnet.cli_json("aggregate", "--task", str(task))

    # Assert
    assert closed["round"] == 1 and not closed["failed"] and len(closed["included"]) == 1

    # Round 2: --watch started before the deadline finalizes it once the deadline passes
    devnet.cli("node", "submit", str(_model_file(tmp_path / "u2.safetensors", 2.0)), "--task", str(task),
               "--samples", "5", "--account", "2")  # fmt: skip
    watched = devnet.cli_json("aggregate", "--task", str(task), "--watch", "--max-rounds", "1", "--interval", "0.5")
    assert [r["round"] for r in watched["rounds"]] == [2] and not watched["rounds"][0]["failed"]
    assert devnet.cli_json("audit", "verify", "--task", str(task))["ok"] is True


def test_node_train_keeps_its_update_and_model_get_writes_the_global_model(devnet: Devnet, tmp_path: Path) -> None:
    # Prepare: a digits task (fast to train), two participants
    created = devnet.cli_json(
        "task", "create", "--participants", "1,2", "--quorum", "2", "--dataset", "digits", "--max-samples", "5000"
    )
    task = str(created["task_id"])
    kept = [tmp_path / f"update{a}.safetensors" for a in (1, 2)]

    # Execute
    for account, path in zip((1, 2), kept, strict=True):
        sub = devnet.cli_json("node", "train", "--task", task, "--account", str(account), "--dataset", "digits",
                              "--epochs", "1", "--out", str(path))  # fmt: skip
        assert sub["update_file"] == str(path)
        assert codec.digest_hex(codec.model_digest(path.read_bytes())) == sub["digest"]
    devnet.cli_json("aggregate", "--task", task)
    out = tmp_path / "global.safetensors"
    got = devnet.cli_json("model", "get", "--task", task, "--out", str(out))

    # Assert: the file is the model the chain committed, and a torch model of the participant's shape loads it
    state = devnet.cli_json("task", "show", "--task", task)
    assert got["round"] == 1 and got["digest"] == state["model_digest"]
    assert codec.digest_hex(codec.model_digest(out.read_bytes())) == state["model_digest"]
    from safetensors.torch import load_file

    from fl_node.data import load_dataset
    from fl_node.model import build_model, model_config_for

    module = build_model(model_config_for(load_dataset("digits")), seed=0)
    module.load_state_dict(load_file(str(out)))


def test_a_fresh_devnet_keeps_the_old_chain_and_never_hits_the_old_audit_cache(tmp_path: Path) -> None:
    # Prepare: its own devnet (it is restarted with --fresh), one finalized round, audited once (cached)
    net = start_devnet(tmp_path)
    try:
        ports = ["--rpc-port", str(free_port()), "--ipfs-port", str(free_port())]

        def one_round() -> dict[str, object]:
            task = _task(net, tmp_path, "--participants", "1,2", "--quorum", "2")
            for account in (1, 2):
                update = _model_file(tmp_path / f"u{account}.safetensors", float(account))
                net.cli("node", "submit", str(update), "--task", str(task), "--samples", "3", "--account",
                        str(account))  # fmt: skip
            net.cli_json("aggregate", "--task", str(task))
            return dict(net.cli_json("audit", "verify", "--task", str(task)))

        first = one_round()
        again = net.cli_json("audit", "verify", "--task", "1")
        assert "(cached)" not in json.dumps(first) and "(cached)" in json.dumps(again)

        # Execute: a new chain, the same task and round numbers, the same updates
        net.cli("devnet", "down")
        restarted = net.cli("devnet", "up", "--fresh", *ports)
        net.state = json.loads(Path(net.state_file).read_text())
        fresh = one_round()

        # Assert
        assert "previous one is kept in" in restarted.stdout
        archived = list((Path(net.state_file).parent / "chain" / "archive").glob("state-*.json"))
        assert len(archived) == 1 and archived[0].stat().st_size > 0
        assert fresh["ok"] is True and "(cached)" not in json.dumps(fresh)
    finally:
        net.cli("devnet", "down", check=False)
        shutil.rmtree(tmp_path / "ipfs", ignore_errors=True)


def test_fedledger_version_runs_as_its_own_process() -> None:
    done = subprocess.run([*FEDLEDGER, "--version"], cwd=ROOT, capture_output=True, text=True, check=False)

    assert done.returncode == 0 and done.stdout.startswith("fedledger ")


def test_an_emptied_state_file_is_restored_and_its_good_copy_survives(tmp_path: Path) -> None:
    # Prepare: a devnet with a task, stopped; then the state file is overwritten with '{}' (the case)
    net = start_devnet(tmp_path)
    try:
        ports = ["--rpc-port", str(free_port()), "--ipfs-port", str(free_port())]
        task = _task(net, tmp_path, "--participants", "1,2", "--quorum", "2")
        net.cli("devnet", "down")
        chain_state = Path(net.state_file).parent / "chain" / "state.json"
        chain_state.write_text("{}")

        # Execute
        up = net.cli("devnet", "up", *ports)
        net.state = json.loads(Path(net.state_file).read_text())

        # Assert: the task is still there, and a second `up` after another damage still has the copy
        assert "restored the last good copy" in up.stdout + up.stderr
        assert net.cli_json("task", "show", "--task", str(task))["task_id"] == task
        net.cli("devnet", "down")
        chain_state.write_text("{}")
        net.cli("devnet", "up", *ports)
        net.state = json.loads(Path(net.state_file).read_text())
        assert net.cli_json("task", "show", "--task", str(task))["task_id"] == task
    finally:
        net.cli("devnet", "down", check=False)

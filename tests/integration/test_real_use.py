"""A new user's path on the real devnet (anvil + js-ipfs), each command its own process.

- a round whose deadline passed by the clock closes on an idle chain that mines only on demand (`aggregate` and
  `aggregate --watch`), with a late participant that never submits;
- `node train --out` keeps the update it registered and `model get` writes the digest-checked global model;
- a damaged state file is restored from the good copy, `devnet up --fresh` keeps the old chain, and the audit
  cache never reuses a verdict of the old chain.

Set-up steps run in-process (``Devnet.invoke``); what each test is about runs as its own process.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from devnet_fixtures import FEDLEDGER, ROOT, Devnet, free_port

from fedledger import codec

pytestmark = pytest.mark.integration

SHAPES = {"layer.bias": (3,), "layer.weight": (3, 2)}


def _model_file(path: Path, value: float) -> Path:
    path.write_bytes(codec.encode({n: np.full(s, value, dtype=np.float32) for n, s in SHAPES.items()}))
    return path


def _task(devnet: Devnet, tmp: Path, *extra: str) -> int:
    initial = _model_file(tmp / "initial.safetensors", 0.0)
    cap = [] if "--max-samples" in extra else ["--max-samples", "1000"]
    created = devnet.invoke_json("task", "create", "--model-file", str(initial), *cap, *extra)
    return int(created["task_id"])


def _wait_past(devnet: Devnet, task: int) -> None:
    """Sleep until the open round's deadline has passed by the clock (the chain stays idle meanwhile)."""
    state = devnet.invoke_json("task", "show", "--task", str(task))
    time.sleep(max(0.0, state["deadline"] + 1.5 - max(time.time(), state["now"])))


def test_a_late_participant_does_not_block_the_round_on_an_idle_devnet(
    devnet: Devnet, tmp_path: Path
) -> None:
    # Prepare: two participants, quorum 1, short rounds; only account 1 submits
    task = _task(devnet, tmp_path, "--participants", "1,2", "--quorum", "1", "--round-duration", "7")
    update = _model_file(tmp_path / "u1.safetensors", 1.0)
    devnet.invoke("node", "submit", str(update), "--task", str(task), "--samples", "5", "--account", "1")
    _wait_past(devnet, task)

    # Execute: the chain has mined nothing since; its latest block is older than the deadline
    closed = devnet.cli_json("aggregate", "--task", str(task))

    # Assert
    assert closed["round"] == 1 and not closed["failed"] and len(closed["included"]) == 1

    # Round 2: --watch started before the deadline finalizes it once the deadline passes
    devnet.invoke("node", "submit", str(_model_file(tmp_path / "u2.safetensors", 2.0)), "--task", str(task),
               "--samples", "5", "--account", "2")  # fmt: skip
    watched = devnet.cli_json(
        "aggregate", "--task", str(task), "--watch", "--max-rounds", "1", "--interval", "0.5"
    )
    assert [r["round"] for r in watched["rounds"]] == [2] and not watched["rounds"][0]["failed"]
    assert devnet.cli_json("audit", "verify", "--task", str(task))["ok"] is True


def test_node_train_keeps_its_update_and_model_get_writes_the_global_model(
    devnet: Devnet, tmp_path: Path
) -> None:
    # Prepare: a digits task (fast to train), two participants
    created = devnet.cli_json(
        "task",
        "create",
        "--participants",
        "1,2",
        "--quorum",
        "2",
        "--dataset",
        "digits",
        "--max-samples",
        "5000",
    )
    task = str(created["task_id"])
    kept = [tmp_path / f"update{a}.safetensors" for a in (1, 2)]

    # Execute
    for account, path in zip((1, 2), kept, strict=True):
        run = devnet.cli_json if account == 1 else devnet.invoke_json  # one real process is enough
        sub = run("node", "train", "--task", task, "--account", str(account), "--dataset", "digits",
                  "--epochs", "1", "--out", str(path))  # fmt: skip
        assert sub["update_file"] == str(path)
        assert codec.digest_hex(codec.model_digest(path.read_bytes())) == sub["digest"]
    devnet.invoke_json("aggregate", "--task", task)
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


def test_a_damaged_state_is_restored_and_a_fresh_chain_is_archived_and_misses_the_audit_cache(
    own_devnet: Devnet, tmp_path: Path
) -> None:
    """One devnet of its own, restarted: an emptied state file comes back from the good copy (twice), and
    `up --fresh` keeps the old chain aside while the audit cache never reuses a verdict of the old chain."""
    net = own_devnet
    ports = ["--rpc-port", str(free_port()), "--ipfs-port", str(free_port())]
    chain_state = Path(net.state_file).parent / "chain" / "state.json"

    def restart(*flags: str, damage: bool = False) -> str:
        net.cli("devnet", "down")  # anvil writes its state on the way down
        if damage:
            chain_state.write_text("{}")
        up = net.cli("devnet", "up", *ports, *flags)
        net.state = json.loads(Path(net.state_file).read_text())
        return up.stdout + up.stderr

    def one_round() -> tuple[int, dict[str, object]]:
        task = _task(net, tmp_path, "--participants", "1,2", "--quorum", "2")
        for account in (1, 2):
            update = _model_file(tmp_path / f"u{account}.safetensors", float(account))
            net.invoke("node", "submit", str(update), "--task", str(task), "--samples", "3", "--account",
                       str(account))  # fmt: skip
        net.invoke_json("aggregate", "--task", str(task))
        return task, dict(net.cli_json("audit", "verify", "--task", str(task)))

    # A round on the first chain, audited twice: the second time from the cache
    task, first = one_round()
    again = net.cli_json("audit", "verify", "--task", str(task))
    assert "(cached)" not in json.dumps(first) and "(cached)" in json.dumps(again)

    # The state file emptied ('{}', valid JSON) while the devnet is down: restored, and the copy survives it
    for _ in range(2):
        assert "restored the last good copy" in restart(damage=True)
        assert net.invoke_json("task", "show", "--task", str(task))["task_id"] == task

    # A fresh chain repeats the task and round numbers and the same updates: a new verdict, never the cached one
    said = restart("--fresh")
    fresh_task, fresh = one_round()
    archived = list((Path(net.state_file).parent / "chain" / "archive").glob("state-*.json"))
    assert "previous one is kept in" in said and len(archived) == 1 and archived[0].stat().st_size > 0
    assert fresh_task == task and fresh["ok"] is True and "(cached)" not in json.dumps(fresh)


def test_fedledger_version_runs_as_its_own_process() -> None:
    done = subprocess.run([*FEDLEDGER, "--version"], cwd=ROOT, capture_output=True, text=True, check=False)

    assert done.returncode == 0 and done.stdout.startswith("fedledger ")

"""A private round on the real devnet (anvil + js-ipfs): five participant processes, one that dies after posting
its shares and one after its masked upload; the aggregator unmasks the survivors' sum and an auditor's install
(no torch) re-derives it. What an outsider sees of the round is checked too: only masked words."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
from devnet_fixtures import FEDLEDGER, ROOT, Devnet

from fedledger import codec
from fedledger.ledger import Ledger, connect
from fedledger.store import KuboStore

pytestmark = pytest.mark.integration
DATASET = ("--dataset", "digits")


def start_participants(
    devnet: Devnet, task: str, roles: dict[str, str | None]
) -> dict[str, subprocess.Popen[str]]:
    """One `node train --wait-round` process per account (like separate machines), started before the round opens;
    returns once each says it is waiting, so that opening the round starts everyone's keys phase at once."""
    procs = {
        account: subprocess.Popen(
            [*FEDLEDGER, "node", "train", "--task", task, "--account", account, *DATASET, "--epochs", "1"]
            + ["--wait-round", "180"]
            + (["--drop-after", drop] if drop else []),
            cwd=ROOT,
            env=devnet.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for account, drop in roles.items()
    }
    for account, proc in procs.items():
        assert proc.stderr is not None
        for line in proc.stderr:
            if "waiting for a round" in line:
                break
        else:
            pytest.fail(f"participant {account} exited before waiting for the round: {proc.wait()}")
    return procs


def test_private_round_with_dropouts_finalizes_and_an_independent_audit_agrees(devnet: Devnet) -> None:
    created = devnet.invoke_json(
        "task", "create", "--privacy", "secagg", "--participants", "1,2,3,4,5", "--secagg-threshold", "3",
        "--max-samples", "5000", "--round-duration", "24", "--keys-period", "10", "--shares-period", "6",
        "--unmask-period", "4", "--no-open", *DATASET,
    )  # fmt: skip
    task = str(created["task_id"])
    assert created["privacy"]["threshold"] == 3 and created["quorum"] == 3
    procs = start_participants(devnet, task, {"1": None, "2": None, "3": None, "4": "shares", "5": "upload"})
    devnet.invoke("task", "open", "--task", task)
    said = {}
    for account, proc in procs.items():
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, f"participant {account}: {err}"
        said[account] = out
    outcome = devnet.cli_json("aggregate", "--task", task, "--watch", "--max-rounds", "1", "--interval", "1")
    (closed,) = outcome["rounds"]
    core = ROOT / ".venv-core" / "bin" / "fedledger"
    audited = subprocess.run(
        [str(core), "audit", "verify", "--task", task, "--json", "--rpc-url", devnet.state["rpc_url"],
         "--contract", devnet.state["contract_address"], "--ipfs-api", devnet.state["ipfs_api"]],
        capture_output=True, text=True, check=False, env=devnet.env(),
    )  # fmt: skip
    history = devnet.cli_json("audit", "history", "--task", task)
    # Assert: the survivors 1, 2, 3 and 5 (dead before unmasking) are in; 4 (dead after sharing) dropped
    assert "stopped after the shares step" in said["4"] and "stopped after the upload step" in said["5"]
    assert all("4 survivors, 1 dropped" in said[a] for a in "123"), said
    assert closed["failed"] is False and len(closed["included"]) == 4
    assert audited.returncode == 0, audited.stderr + audited.stdout
    verdict = json.loads(audited.stdout)["tasks"][0]["rounds"][0]
    assert verdict["verdict"] == "OK" and "4 masked uploads (1 dropped" in verdict["reason"]
    private = history["tasks"][0]["rounds"][0]["private"]
    assert (private["keys"], private["shares"], private["uploads"], private["unmasks"]) == (5, 5, 4, 3)
    # An outsider who fetches a masked upload gets uniform words, nothing like a model update
    store = KuboStore(devnet.state["ipfs_api"])
    cid = re.search(r"masked upload (\S+) ", said["1"])
    assert cid is not None
    masked = np.frombuffer(store.get(cid.group(1)), dtype="<u4")
    global_model = codec.decode(store.get(closed["global_cid"]))
    assert masked.size == sum(v.size for v in global_model.values())
    assert abs(float(masked.mean()) / 2**32 - 0.5) < 0.02  # uniform over 2^32, where a real update is near 0
    ledger = Ledger(connect(devnet.state["rpc_url"]), devnet.state["contract_address"])
    assert ledger.get_task(int(task)).round == 2

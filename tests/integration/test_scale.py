"""Scale on the real devnet: a round with 300 participants (each submission a real transaction from its own
account), and one 100 MB update end to end (upload, register, fetch, validate, aggregate, verify) with the
aggregator's and the auditor's peak memory staying near one model's size.

The full sizes are `slow` (`make test-all`); `make test` runs the same tests at 30 participants and 20 MB."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from devnet_fixtures import FEDLEDGER, ROOT, Devnet
from eth_account import Account
from test_workflow import ledger_of

from fedledger import codec
from fedledger.ledger import Signer
from fedledger.store import KuboStore

pytestmark = pytest.mark.integration


def _model_file(tmp_path: Path, tensors: codec.Tensors, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(codec.encode(tensors))
    return path


@pytest.mark.parametrize("count", [30, pytest.param(300, marks=pytest.mark.slow)])
def test_a_round_with_many_participants_finalizes_and_verifies(
    devnet: Devnet, tmp_path: Path, count: int
) -> None:
    # Prepare: fresh accounts, funded through anvil, allowlisted by the owner
    initial = {"w": np.zeros(16, np.float32)}
    accounts = [Account.create() for _ in range(count)]
    for account in accounts:
        devnet.rpc("anvil_setBalance", account.address, hex(10**18))
    created = devnet.cli_json(
        "task",
        "create",
        "--quorum",
        str(count // 2),
        "--round-duration",
        "3600",
        "--max-samples",
        "0",
        "--no-open",
        "--model-file",
        str(_model_file(tmp_path, initial, "initial.safetensors")),
    )
    task = int(created["task_id"])
    ledger = ledger_of(devnet)
    owner = Signer(ledger.w3.eth.accounts[0])
    ledger.add_participants(owner, task, [account.address for account in accounts])
    ledger.open_round(owner, task)
    # Execute: every participant registers its own update with its own key
    store = KuboStore(devnet.state["ipfs_api"])
    for i, account in enumerate(accounts):
        data = codec.encode({"w": np.full(16, i + 1, np.float32)})
        ledger.submit_update(
            Signer.from_key(account.key.hex()), task, 1, codec.model_digest(data), store.put(data), 1
        )
    outcome = devnet.cli_json("aggregate", "--task", str(task), timeout=600)
    verified = devnet.cli_json("audit", "verify", "--task", str(task), timeout=600)
    # Assert
    assert len(outcome["included"]) == count
    assert ledger.rounds_finalized(task, 1)[0].num_included == count
    global_model = codec.decode(store.get(outcome["global_cid"]))
    assert np.allclose(global_model["w"], (count + 1) / 2)  # the mean of 1..count
    assert verified["ok"] is True


def _one_update_round(devnet: Devnet, tmp_path: Path, params: int) -> tuple[dict[str, Any], float, float]:
    """One participant, one round of a ``params``-float model, each step its own process as on separate machines;
    returns the audit report and the aggregator's and the auditor's peak RSS (MiB)."""
    folder = tmp_path / str(params)
    folder.mkdir()
    initial = {"w": np.zeros(params, np.float32)}
    created = devnet.invoke_json(
        "task",
        "create",
        "--participants",
        "1",
        "--quorum",
        "1",
        "--max-update-bytes",
        str(128 << 20),
        "--max-samples",
        "0",
        "--model-file",
        str(_model_file(folder, initial, "initial.safetensors")),
    )
    task = str(created["task_id"])
    update = _model_file(folder, {"w": np.full(params, 0.5, np.float32)}, "update.safetensors")
    submitted = devnet.cli_json(
        "node", "submit", str(update), "--task", task, "--samples", "10", "--account", "1", timeout=600
    )
    outcome, aggregator_peak = _measured(devnet, "aggregate", "--task", task)
    verified, auditor_peak = _measured(devnet, "audit", "verify", "--task", task, "--no-cache")
    assert submitted["round"] == 1 and outcome["included"] == [ledger_of(devnet).w3.eth.accounts[1]]
    return verified, aggregator_peak, auditor_peak


@pytest.mark.parametrize("params", [5_000_000, pytest.param(25_000_000, marks=pytest.mark.slow)])
def test_a_big_update_goes_end_to_end_with_memory_near_one_model(
    devnet: Devnet, tmp_path: Path, params: int
) -> None:
    # Prepare: the same round with a 16-float model, to know what the processes take without a model
    _, tiny_aggregator, tiny_auditor = _one_update_round(devnet, tmp_path, 16)
    # Execute: a 25M-parameter model (100 MB; 20 MB in `make test`), a task allowing 128 MiB updates
    verified, aggregator_peak, auditor_peak = _one_update_round(devnet, tmp_path, params)
    # Assert
    assert verified["ok"] is True
    model_mib = params * 4 / 2**20
    print(
        f"peak RSS: aggregator {aggregator_peak:.0f} MiB ({tiny_aggregator:.0f} without a model), "
        f"auditor {auditor_peak:.0f} MiB ({tiny_auditor:.0f}), model {model_mib:.0f} MiB"
    )
    for who, peak, tiny in (
        ("aggregator", aggregator_peak, tiny_aggregator),
        ("auditor", auditor_peak, tiny_auditor),
    ):
        # what the model costs over the same process on a tiny model; at 100 MB the whole process too
        assert peak - tiny < 8 * model_mib, f"the {who} took {peak - tiny:.0f} MiB more for the model"
        if params >= 25_000_000:
            assert peak < 8 * model_mib, f"the {who} peaked at {peak:.0f} MiB for a {model_mib:.0f} MiB model"


PROBE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(done.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(done.stdout, end="")
sys.exit(done.returncode)
"""


def _measured(net: Devnet, *args: str) -> tuple[dict[str, object], float]:
    """Run one command under a parent of its own, so that its peak RSS (MiB) is measured alone."""
    command = [FEDLEDGER[0], "-c", PROBE, *FEDLEDGER, *args, "--json"]
    done = subprocess.run(
        command, cwd=ROOT, env=net.env(), capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr
    peak_kib, _, report = done.stdout.partition("\n")
    result: dict[str, object] = json.loads(report)
    return result, int(peak_kib) / 1024

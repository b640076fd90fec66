"""Scale on the real devnet: a round with 300 participants (each submission a real transaction from its own
account), and one 100 MB update end to end (upload, register, fetch, validate, aggregate, verify) with the
aggregator's and the auditor's peak memory staying near one model's size.

The full sizes are `slow` (`make test-all`); `make test` runs the same tests at 30 participants and 20 MB."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

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
        "--model-file",
        str(_model_file(tmp_path, initial, "initial.safetensors")),
    )
    task = int(created["task_id"])
    ledger = ledger_of(devnet)
    owner = Signer(ledger.w3.eth.accounts[0])
    for account in accounts:
        ledger.add_participant(owner, task, account.address)
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


@pytest.mark.parametrize("params", [5_000_000, pytest.param(25_000_000, marks=pytest.mark.slow)])
def test_a_big_update_goes_end_to_end_with_memory_near_one_model(
    devnet: Devnet, tmp_path: Path, params: int
) -> None:
    # Prepare: a 25M-parameter model (100 MB; 20 MB in `make test`), a task allowing 128 MiB updates, one participant
    initial = {"w": np.zeros(params, np.float32)}
    created = devnet.cli_json(
        "task",
        "create",
        "--participants",
        "1",
        "--quorum",
        "1",
        "--max-update-bytes",
        str(128 << 20),
        "--model-file",
        str(_model_file(tmp_path, initial, "initial.safetensors")),
        timeout=600,
    )
    task = str(created["task_id"])
    update = _model_file(tmp_path, {"w": np.full(params, 0.5, np.float32)}, "update.safetensors")
    # Execute: each step its own process, as on separate machines
    submitted = devnet.cli_json(
        "node", "submit", str(update), "--task", task, "--samples", "10", "--account", "1", timeout=600
    )
    outcome, aggregator_peak = _measured(devnet, "aggregate", "--task", task)
    verified, auditor_peak = _measured(devnet, "audit", "verify", "--task", task, "--no-cache")
    _, idle_peak = _measured(devnet, "audit", "history", "--task", task)  # the same imports, no model loaded
    # Assert
    assert submitted["round"] == 1 and outcome["included"] == [ledger_of(devnet).w3.eth.accounts[1]]
    assert verified["ok"] is True
    model_mib = params * 4 / 2**20
    print(
        f"peak RSS: aggregator {aggregator_peak:.0f} MiB, auditor {auditor_peak:.0f} MiB, "
        f"without a model {idle_peak:.0f} MiB, model {model_mib:.0f} MiB"
    )
    for who, peak in (("aggregator", aggregator_peak), ("auditor", auditor_peak)):
        # what the model costs over the interpreter and its imports; at 100 MB the whole process too
        assert peak - idle_peak < 8 * model_mib, (
            f"the {who} took {peak - idle_peak:.0f} MiB over {idle_peak:.0f}"
        )
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

"""Accountable rounds on the real devnet (anvil + js-ipfs), each actor a separate process or a raw client of
the contract's ABI: a free rider, a participant inflating its samples, one sending a scaled update, and an
aggregator that censors a valid update. The audit names each; participants refuse to build on a forged model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from devnet_fixtures import Devnet
from test_workflow import DATASET, ledger_of, submit_nudged, train_in_parallel

from fedledger import codec
from fedledger.inclusion import encode_outcomes
from fedledger.ledger import Signer
from fedledger.store import KuboStore

pytestmark = pytest.mark.integration


def create(net: Devnet, participants: str, quorum: int, *extra: str) -> str:
    cap = [] if "--max-samples" in extra else ["--max-samples", "5000"]
    created = net.invoke_json(
        "task", "create", "--participants", participants, "--quorum", str(quorum), *DATASET, *cap, *extra
    )
    return str(created["task_id"])


def base_model(net: Devnet, task: str) -> codec.Tensors:
    state = ledger_of(net).get_task(int(task))
    return codec.decode(KuboStore(net.state["ipfs_api"]).get(state.model_cid))


def test_cheating_participants_and_a_censoring_aggregator_are_named_by_the_audit(
    devnet: Devnet, tmp_path: Path
) -> None:
    # Prepare: five participants, a cap of 1,000 samples, FedAvg clipped to a norm of 5
    task = create(devnet, "1,2,3,4,5", 2, "--max-samples", "1000", "--strategy", "fedavg:clip=5")
    honest = train_in_parallel(devnet, task, [1, 2])
    base = base_model(devnet, task)
    trained = codec.decode(KuboStore(devnet.state["ipfs_api"]).get(honest[0]["cid"]))
    scaled = {k: (base[k] + 100 * (trained[k] - base[k])).astype(np.float32) for k in base}
    scaled_file = tmp_path / "scaled.safetensors"
    scaled_file.write_bytes(codec.encode(scaled))
    base_file = tmp_path / "base.safetensors"
    base_file.write_bytes(codec.encode(base))
    # Execute: an inflated claim is refused by the contract; the free rider's base model is refused by `node
    # submit` (it would be excluded), so it registers through the ABI directly; the scaled update goes in
    inflated = devnet.invoke(
        "node",
        "submit",
        str(scaled_file),
        "--task",
        task,
        "--samples",
        str(10**9),
        "--account",
        "3",
        check=False,
    )
    refused_free_ride = devnet.invoke(
        "node", "submit", str(base_file), "--task", task, "--samples", "100", "--account", "4", check=False
    )
    ledger = ledger_of(devnet)
    free_rider = Signer(ledger.w3.eth.accounts[4])
    store = KuboStore(devnet.state["ipfs_api"])
    ledger.submit_update(
        free_rider, int(task), 1, codec.model_digest(codec.encode(base)), store.put(codec.encode(base)), 100
    )
    devnet.invoke_json(
        "node", "submit", str(scaled_file), "--task", task, "--samples", "1000", "--account", "3"
    )
    devnet.cli("node", "train", "--task", task, "--account", "5", *DATASET)
    # The aggregator censors participant 2's valid update, calling it malformed, and commits the mean of the rest
    owner = Signer(ledger.w3.eth.accounts[0])
    submissions = ledger.updates_submitted(int(task), 1)
    outcomes = [
        "included" if s.participant != ledger.w3.eth.accounts[2] else "malformed" for s in submissions
    ]
    outcomes = [
        "unchanged" if s.participant == free_rider.address else o
        for s, o in zip(submissions, outcomes, strict=True)
    ]
    kept = [
        codec.decode(store.get(s.cid)) for s, o in zip(submissions, outcomes, strict=True) if o == "included"
    ]
    forged = codec.encode({k: np.mean([m[k] for m in kept], axis=0).astype(np.float32) for k in base})
    ledger.finalize_round(
        owner,
        int(task),
        1,
        global_digest=codec.model_digest(forged),
        global_cid=store.put(forged),
        reasons=encode_outcomes(outcomes),
    )
    audit = devnet.cli("audit", "verify", "--task", task, "--json", check=False)
    history = devnet.cli_json("audit", "history", "--task", task)
    # Assert
    assert inflated.returncode == 1 and "at most 1000 samples" in inflated.stderr, inflated.stderr
    assert refused_free_ride.returncode == 1 and "unchanged" in refused_free_ride.stderr, (
        refused_free_ride.stderr
    )
    report = json.loads(audit.stdout)
    assert audit.returncode == 1 and report["status"] == "mismatch"
    checks = {c["participant"]: c for c in report["tasks"][0]["rounds"][0]["submissions"]}
    censored = checks[ledger.w3.eth.accounts[2]]
    assert (
        censored["status"] == "mismatch"
        and censored["recorded"] == "malformed"
        and censored["recomputed"] == "included"
    )
    assert (
        checks[free_rider.address]["status"] == "ok" and checks[free_rider.address]["recorded"] == "unchanged"
    )
    rows = {s["participant"]: s for s in history["tasks"][0]["rounds"][0]["submissions"]}
    assert rows[free_rider.address]["outcome"] == "unchanged" and rows[free_rider.address]["weight"] == 0.0
    assert (
        rows[ledger.w3.eth.accounts[3]]["num_samples"] == 1000
        and rows[ledger.w3.eth.accounts[3]]["cap"] == 1000
    )


def test_a_participant_refuses_to_train_on_a_forged_global_model(devnet: Devnet) -> None:
    # Prepare: an honest round 1, then an aggregator commits a model of its own choosing
    task = create(devnet, "1,2", 2)
    submit_nudged(devnet, task, [1, 2])
    ledger = ledger_of(devnet)
    store = KuboStore(devnet.state["ipfs_api"])
    forged = codec.encode({k: v + 1 for k, v in base_model(devnet, task).items()})
    ledger.finalize_round(
        Signer(ledger.w3.eth.accounts[0]),
        int(task),
        1,
        global_digest=codec.model_digest(forged),
        global_cid=store.put(forged),
        reasons=bytes(2),
    )
    # Execute
    refused = devnet.cli("node", "train", "--task", task, "--account", "1", *DATASET, check=False)
    anyway = devnet.cli_json("node", "train", "--task", task, "--account", "1", *DATASET, "--no-verify-base")
    # Assert
    assert refused.returncode == 1 and "its lineage breaks at round 1" in refused.stderr
    assert "MISMATCH" in refused.stderr and "different result" in refused.stderr
    assert anyway["round"] == 2


def test_node_submit_refuses_an_update_the_aggregator_would_exclude(devnet: Devnet, tmp_path: Path) -> None:
    task = create(devnet, "1,2", 2)
    wrong = {k: np.zeros((2, 2), np.float32) for k in base_model(devnet, task)}
    update = tmp_path / "wrong.safetensors"
    update.write_bytes(codec.encode(wrong))
    refused = devnet.invoke(
        "node", "submit", str(update), "--task", task, "--samples", "10", "--account", "1", check=False
    )
    assert refused.returncode == 1 and "would exclude this update as shape_mismatch" in refused.stderr
    assert ledger_of(devnet).get_task(int(task)).submissions == 0

"""`fedledger devnet up|status|down` against the real daemons: health, double start, taken ports, a chain that
survives `down`/`up` and a crash, `--fresh`, stale PIDs, and content kept through IPFS garbage collection."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from devnet_fixtures import Devnet, free_port
from test_workflow import create_task, submit_nudged

from fedledger.devnet import processes
from fedledger.ledger import connect

pytestmark = pytest.mark.integration


def test_status_reports_both_daemons_and_the_contract_healthy(devnet: Devnet) -> None:
    report = devnet.cli_json("devnet", "status")
    assert report["healthy"] is True
    assert report["chain"]["chain_id"] == 31337 and report["ipfs"]["version"]
    assert report["chain"]["block_height"] >= 1 and report["chain"]["state"].endswith("chain/state.json")
    assert report["contract"]["address"] == devnet.state["contract_address"]
    assert set(devnet.state) >= {"rpc_url", "chain_id", "contract_address", "ipfs_api", "pids"}
    assert devnet.state["rpc_url"].startswith("http://127.0.0.1:")
    assert devnet.state["ipfs_api"].startswith("http://127.0.0.1:")


def test_the_devnet_has_hardhats_twenty_funded_dev_accounts(devnet: Devnet) -> None:
    w3 = connect(devnet.state["rpc_url"])
    accounts = w3.eth.accounts
    assert len(accounts) == 20  # anvil's default is 10; `--account 19` must work as it did on Hardhat's node
    assert accounts[0] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # the standard test mnemonic
    assert w3.eth.get_balance(accounts[19]) >= 10**21


def test_starting_twice_is_refused_and_leaves_the_running_devnet_alone(devnet: Devnet) -> None:
    again = devnet.cli(
        "devnet", "up", "--rpc-port", str(free_port()), "--ipfs-port", str(free_port()), check=False
    )
    assert again.returncode == 1 and "already running" in again.stderr
    assert json.loads(devnet.state_file.read_text())["pids"] == devnet.state["pids"]
    assert devnet.cli_json("devnet", "status")["healthy"] is True


def test_a_taken_port_is_a_clear_error_before_anything_starts(devnet: Devnet, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        taken = devnet.cli(
            "devnet",
            "up",
            "--rpc-port",
            str(port),
            "--ipfs-port",
            str(free_port()),
            check=False,
            FEDLEDGER_STATE=str(tmp_path / "other.json"),
        )
    assert taken.returncode == 1 and f"port {port}" in taken.stderr and "already in use" in taken.stderr
    assert not (tmp_path / "other.json").exists()


def test_commands_without_a_devnet_say_how_to_get_one(devnet: Devnet, tmp_path: Path) -> None:
    missing = devnet.invoke(
        "task", "show", "--task", "1", check=False, FEDLEDGER_STATE=str(tmp_path / "none.json")
    )
    assert missing.returncode == 2 and "fedledger devnet up" in missing.stderr


def test_a_dead_chain_endpoint_is_a_clear_error(devnet: Devnet, tmp_path: Path) -> None:
    dead = devnet.invoke(
        "audit",
        "history",
        "--rpc-url",
        f"http://127.0.0.1:{free_port()}",
        "--contract",
        devnet.state["contract_address"],
        check=False,
        FEDLEDGER_STATE=str(tmp_path / "none.json"),
    )
    assert dead.returncode == 1 and "no Ethereum JSON-RPC node answers" in dead.stderr


def _restart(net: Devnet) -> dict[str, object]:
    """`devnet up` again on the same state folder and fresh ports; return its --json report."""
    done = net.cli(
        "devnet", "up", "--rpc-port", str(free_port()), "--ipfs-port", str(free_port()), "--json", timeout=180
    )
    net.state = json.loads(done.stdout)
    return net.state


def test_down_then_up_keeps_the_chain_and_rounds_continue(own_devnet: Devnet) -> None:
    # Prepare: a finalized round
    net = own_devnet
    task = create_task(net, "1,2", quorum=2)
    submit_nudged(net, task, [1, 2])
    first = net.invoke_json("aggregate", "--task", task)
    contract = net.state["contract_address"]
    # Execute
    stopped = net.cli_json("devnet", "down")
    state = _restart(net)
    # Assert: same contract, old rounds still verify, round 2 continues where it stopped
    assert stopped["stopped"] == {"chain": "stopped", "ipfs": "stopped"}
    assert state["contract_address"] == contract
    assert state["recovered"]["tasks"] >= 1 and state["recovered"]["block_height"] > 0
    verified = net.cli_json("audit", "verify", "--task", task, "--no-cache")
    assert verified["ok"] is True and verified["verified_rounds"] == 1
    assert verified["tasks"][0]["rounds"][0]["global_digest"] == first["global_digest"]
    assert {s["round"] for s in submit_nudged(net, task, [1, 2])} == {2}


def test_a_crash_of_every_devnet_process_loses_at_most_the_last_second(own_devnet: Devnet) -> None:
    # Prepare: a task, then wait past one state dump
    net = own_devnet
    task = create_task(net, "1,2", quorum=2)
    height = requests.post(
        net.state["rpc_url"],
        json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
        timeout=5,
    ).json()["result"]
    time.sleep(2.5)
    # Execute: power loss, simulated
    for pid in net.state["pids"].values():
        os.kill(int(pid), signal.SIGKILL)
    time.sleep(0.5)
    state = _restart(net)
    # Assert
    assert state["recovered"]["block_height"] >= int(height, 16)
    assert net.cli_json("task", "show", "--task", task)["participant_count"] == 2


def test_fresh_starts_a_new_chain(own_devnet: Devnet) -> None:
    net = own_devnet
    create_task(net, "1", quorum=1)
    net.cli("devnet", "down")
    done = net.cli(
        "devnet", "up", "--fresh", "--rpc-port", str(free_port()), "--ipfs-port", str(free_port()), "--json"
    )
    net.state = json.loads(done.stdout)
    assert net.state["recovered"] is None
    assert net.cli_json("audit", "history")["tasks"] == []


def test_down_never_signals_a_stale_pid_that_now_belongs_to_someone_else(own_devnet: Devnet) -> None:
    # Prepare: after a "reboot", the recorded chain PID belongs to an unrelated process
    net = own_devnet
    stranger = subprocess.Popen(["sleep", "1000"])
    try:
        state = json.loads(net.state_file.read_text())
        real_chain = state["pids"]["chain"]
        state["pids"]["chain"] = stranger.pid
        net.state_file.write_text(json.dumps(state))
        # Execute
        stopped = net.cli_json("devnet", "down")
        # Assert
        assert stopped["stopped"]["chain"] == "not ours"
        assert stranger.poll() is None, "devnet down killed a process that was not its own"
    finally:
        stranger.kill()
        processes.stop(real_chain)


def test_garbage_collection_keeps_every_update_and_model_the_audit_needs(own_devnet: Devnet) -> None:
    net = own_devnet
    task = create_task(net, "1,2", quorum=2)
    submit_nudged(net, task, [1, 2])
    net.invoke_json("aggregate", "--task", task)
    gc = requests.post(f"{net.state['ipfs_api']}/api/v0/repo/gc", timeout=120)
    assert gc.status_code == 200
    verified = net.cli_json("audit", "verify", "--task", task, "--no-cache")
    assert verified["ok"] is True
    assert verified["tasks"][0]["rounds"][0]["notes"] == []  # nothing had to come from elsewhere

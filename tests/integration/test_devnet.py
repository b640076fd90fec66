"""`fedledger devnet up|status|down` against the real daemons: health, double start, taken ports."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from devnet_fixtures import Devnet, free_port

pytestmark = pytest.mark.integration


def test_status_reports_both_daemons_and_the_contract_healthy(devnet: Devnet) -> None:
    report = devnet.cli_json("devnet", "status")
    assert report["healthy"] is True
    assert report["hardhat"]["chain_id"] == 31337 and report["ipfs"]["version"]
    assert report["contract"]["address"] == devnet.state["contract_address"]
    assert set(devnet.state) >= {"rpc_url", "chain_id", "contract_address", "ipfs_api", "pids"}
    assert devnet.state["rpc_url"].startswith("http://127.0.0.1:")
    assert devnet.state["ipfs_api"].startswith("http://127.0.0.1:")


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
    missing = devnet.cli(
        "task", "show", "--task", "1", check=False, FEDLEDGER_STATE=str(tmp_path / "none.json")
    )
    assert missing.returncode == 2 and "fedledger devnet up" in missing.stderr


def test_a_dead_chain_endpoint_is_a_clear_error(devnet: Devnet, tmp_path: Path) -> None:
    dead = devnet.cli(
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

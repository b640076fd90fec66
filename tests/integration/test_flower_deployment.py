"""Flower's Deployment Engine on the devnet: a SuperLink and one SuperNode per participant (separate processes, each
with its own key file), the example submitted with `flwr run`; then `fedledger audit verify` agrees from the chain
and IPFS alone. Also: fedledger finds the devnet from a subfolder of the folder that holds its state.

Every process started here runs in its own process group and is stopped at the end, even when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from devnet_fixtures import FEDLEDGER, ROOT, Devnet, free_port
from eth_account import Account
from flwr_cli import BIN, flwr

pytestmark = pytest.mark.integration
pytest.importorskip("flwr", reason="the [flower] extra (make test installs it)")

# Hardhat's and anvil's dev accounts (the devnet's): well-known keys, for tests only
DEV_MNEMONIC = "test test test test test test test test test test test junk"
NODES, ROUNDS = 2, 2


def dev_key(index: int) -> str:
    """The private key of the devnet's dev account ``index`` (public knowledge: never fund it on a real chain)."""
    Account.enable_unaudited_hdwallet_features()
    return str(Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}").key.hex())


class Processes:
    """Processes started in their own groups, logging to files; ``stop`` ends every group."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs, self.env = logs, env
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *argv: str, **env: str) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                argv,
                cwd=self.logs,
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append((name, proc))
        return proc

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def tail_all(self) -> str:
        return "\n".join(f"--- {name}\n{self.tail(name)}" for name, _ in self.started)

    def stop(self) -> None:
        for _, proc in reversed(self.started):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, proc in reversed(self.started):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # also the ServerApp/ClientApp children left in the group


@pytest.fixture
def flower_env(devnet: Devnet, tmp_path: Path) -> dict[str, str]:
    """An isolated FLWR_HOME whose SuperLink connection `fedledger-test` is filled in by the test."""
    home = tmp_path / "flwr-home"
    home.mkdir()
    return devnet.env(
        FLWR_HOME=str(home),
        FLWR_TELEMETRY_ENABLED="0",
        FLWR_DISABLE_UPDATE_CHECK="1",
        FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1",
        PYTHONPATH=str(ROOT),
        PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
    )


@pytest.fixture
def processes(tmp_path: Path, flower_env: dict[str, str]) -> Iterator[Processes]:
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = Processes(logs, flower_env)
    try:
        yield procs
    finally:
        procs.stop()


def wait_for(what: str, check: Callable[[], Any], timeout: float, logs: Callable[[], str]) -> Any:
    """Poll ``check`` until it answers; else fail showing the logs as they are then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answer := check():
            return answer
        time.sleep(1.0)
    pytest.fail(f"{what} within {timeout:g} s\n{logs()}")


def superlink_up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok
    except requests.RequestException:
        return False


def test_a_flower_deployment_with_one_supernode_per_participant_is_anchored_and_audits_ok(
    devnet: Devnet, tmp_path: Path, flower_env: dict[str, str], processes: Processes
) -> None:
    # Prepare: a SuperLink, and one SuperNode per participant with its own partition and its own key file
    link = free_port()
    Path(flower_env["FLWR_HOME"], "config.toml").write_text(
        f'[superlink]\ndefault = "fedledger-test"\n\n'
        f'[superlink.fedledger-test]\naddress = "127.0.0.1:{link}"\ninsecure = true\n'
    )
    owner = Account.from_key(dev_key(9))  # the ServerApp's signer, in the SuperLink host's environment only
    processes.start(
        "superlink",
        str(BIN / "flower-superlink"),
        "--insecure",
        "--host",
        "127.0.0.1",
        "--port",
        str(link),
        FEDLEDGER_PRIVATE_KEY=owner.key.hex(),
    )
    wait_for(
        "the SuperLink did not answer", lambda: superlink_up(link), 60, lambda: processes.tail("superlink")
    )
    keys = {}
    for node in range(NODES):
        key_file = tmp_path / f"participant-{node}.key"
        key_file.write_text(dev_key(5 + node))  # not the default participants (1..N)
        key_file.chmod(0o600)
        keys[node] = key_file
        config = f'partition-id={node} num-partitions={NODES} fedledger-key-file="{key_file}"'
        processes.start(
            f"supernode-{node}",
            str(BIN / "flower-supernode"),
            "--insecure",
            "--superlink",
            f"127.0.0.1:{link}",
            "--port",
            str(free_port()),
            "--node-config",
            config,
        )
    result = tmp_path / "result.json"
    addresses = [Account.from_key(keys[n].read_text()).address for n in range(NODES)]
    run_config = (
        f"num-clients={NODES} num-server-rounds={ROUNDS} local-epochs=1 fraction-evaluate=0.0 "
        f'rpc-url="{devnet.state["rpc_url"]}" contract="{devnet.state["contract_address"]}" '
        f'ipfs-api="{devnet.state["ipfs_api"]}" participants="{",".join(addresses)}" result-file="{result}"'
    )

    # Execute: `flwr run` against the SuperLink, then wait for the run to end
    started = flwr(flower_env, "run", ".", "fedledger-test", "--run-config", run_config)
    assert started.get("success"), started
    run_id = started["run-id"]

    def finished() -> str | None:
        (run,) = flwr(flower_env, "ls", "fedledger-test", "--run-id", run_id)["runs"]
        return str(run["status"]) if str(run["status"]).startswith("finished") else None

    status = wait_for("the Flower run did not finish", finished, 420, processes.tail_all)
    assert status == "finished:completed" and result.exists(), processes.tail_all()
    summary = json.loads(result.read_text())
    task = str(summary["task_id"])
    audited = devnet.cli_json("audit", "verify", "--task", task, "--no-cache")
    history = devnet.cli_json("audit", "history", "--task", task)

    # Assert: every round re-derived from the chain and IPFS, each update signed with its SuperNode's own key
    assert summary["contract"].lower() == devnet.state["contract_address"].lower()
    assert history["tasks"][0]["owner"].lower() == owner.address.lower()
    assert audited["ok"] is True and audited["verified_rounds"] == ROUNDS
    rounds = history["tasks"][0]["rounds"]
    signers = {str(s["participant"]).lower() for r in rounds[:ROUNDS] for s in r["submissions"]}
    assert signers == {a.lower() for a in addresses}
    assert [len(r["included"]) for r in rounds[:ROUNDS]] == [NODES] * ROUNDS


def test_fedledger_finds_the_devnet_from_a_subfolder_of_the_folder_that_holds_its_state(
    devnet: Devnet, tmp_path: Path
) -> None:
    # Prepare: the devnet's state in project/.fedledger/, and a command run in project/examples/flower
    project = tmp_path / "project"
    (project / ".fedledger").mkdir(parents=True)
    shutil.copy(devnet.state_file, project / ".fedledger" / "devnet.json")
    deeper = project / "examples" / "flower"
    deeper.mkdir(parents=True)
    env = devnet.env()
    env.pop("FEDLEDGER_STATE")
    # Execute
    done = subprocess.run(
        [*FEDLEDGER, "devnet", "status", "--json"],
        cwd=deeper,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Assert: the copy above was found, and through it the running devnet and its contract
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert Path(report["state_file"]) == (project / ".fedledger" / "devnet.json").resolve()
    assert report["healthy"] is True and report["contract"]["deployed"] is True
    assert report["chain"]["rpc_url"] == devnet.state["rpc_url"]

"""Fixtures for the integration tests: real daemons started on free loopback ports, stopped afterwards.

Which devnet to use (every one is started by `fedledger devnet up`, as users do):

* ``devnet`` (session): ONE devnet shared by every test of the session, or of one xdist worker under
  ``pytest -n``. Use it unless the test stops, kills or restarts a daemon for good. Tests on it must not assume a
  pristine chain: create your own task (``create_task(devnet, "1,2", quorum=2)`` in test_workflow.py) and assert
  on it, not on global counts (``task_count() == count`` before/after is fine: one worker runs one test at a time).
  A test that stops IPFS for a while uses ``with devnet.ipfs_stopped():`` (it restarts the daemon afterwards).
  Never move the shared chain's clock (``evm_increaseTime``): deadlines are checked against the wall clock on an
  idle chain, so a chain clock ahead of it breaks other tests; wait for a short deadline instead, or use
  ``own_devnet``. Run commands with ``devnet.cli`` (a real process) or ``devnet.invoke`` (in-process, for
  argument checks, error lines and set-up steps; see devnet_fixtures.py).
* ``empty_contract`` (function): the address of a freshly deployed round contract on the shared devnet, for a
  test that needs a ledger without any task (pass it with ``--contract``).
* ``own_devnet`` (function): a devnet of the test's own, for `devnet down`/`up`, crashes, ``--fresh`` and the
  like; ~10 s to start, so only where the test needs it.
* ``ipfs_daemon`` (session): a bare js-ipfs daemon, for tests of the store against the Kubo RPC API.

Each section is self-contained (its own constants, fixtures and skip rule; imports at the top) so other devnet
services can be added beside it without touching it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from devnet_fixtures import Devnet, start_devnet, stop_devnet

from fedledger.devnet.ipfs_daemon import IpfsDaemon, find_free_port, project_root  # IPFS section
from fedledger.ledger import Ledger, Signer, connect  # devnet section

# ==== IPFS: a js-ipfs daemon (Kubo RPC API) =====================================================================

JSIPFS = project_root() / "node_modules" / ".bin" / "jsipfs"


@pytest.fixture(scope="session")
def ipfs_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``jsipfs daemon --offline`` in a fresh repo for the whole session; yield its API URL."""
    if not JSIPFS.exists():
        pytest.skip(f"js-ipfs is not installed ({JSIPFS} is missing): run `make setup` (npm ci) to get it")
    workdir = tmp_path_factory.mktemp("ipfs")
    daemon = IpfsDaemon(workdir / "repo", api_port=find_free_port())
    daemon.init()
    pid = daemon.start(workdir / "daemon.log")
    try:
        daemon.wait_ready(timeout=60.0)
        yield daemon.api_url
    finally:
        daemon.stop(pid)


# ==== The whole devnet: `fedledger devnet up` (anvil + js-ipfs + deployed contract) =============================


@pytest.fixture(scope="session")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """One devnet for the session (per xdist worker), started and stopped through the CLI exactly as users do."""
    tmp = tmp_path_factory.mktemp("devnet")
    net = start_devnet(tmp)
    try:
        yield net
    finally:
        stop_devnet(net)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def empty_contract(devnet: Devnet) -> str:
    """A fresh round contract on the shared devnet, with no task yet; returns its address."""
    w3 = connect(devnet.state["rpc_url"])
    ledger, _ = Ledger.deploy(w3, Signer(w3.eth.accounts[0]))
    return str(ledger.address)


@pytest.fixture
def own_devnet(tmp_path: Path) -> Iterator[Devnet]:
    """A devnet of this test's own, for tests that stop, crash or restart it."""
    net = start_devnet(tmp_path)
    try:
        yield net
    finally:
        stop_devnet(net)

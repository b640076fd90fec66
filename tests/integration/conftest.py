"""Fixtures for the integration tests: real daemons started on free loopback ports, stopped afterwards.

Each section is self-contained (its own constants, fixtures and skip rule; imports at the top) so other devnet
services can be added beside it without touching it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from devnet_fixtures import Devnet, start_devnet

from fedledger.devnet.ipfs_daemon import IpfsDaemon, find_free_port, project_root  # IPFS section

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


# ==== The whole devnet: `fedledger devnet up` (Hardhat node + js-ipfs + deployed contract) ======================


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """A devnet per test module, started and stopped through the CLI exactly as users do."""
    tmp = tmp_path_factory.mktemp("devnet")
    net = start_devnet(tmp)
    try:
        yield net
    finally:
        net.cli("devnet", "down", check=False)
        shutil.rmtree(tmp, ignore_errors=True)

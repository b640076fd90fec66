"""KuboStore against a real daemon (js-ipfs over the Kubo RPC API): same CIDs as Kubo, clear failures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from fedledger.cid import CHUNK_SIZE, canonical_cid, compute_cid
from fedledger.devnet.ipfs_daemon import IpfsDaemon, find_free_port
from fedledger.exceptions import ContentNotFoundError, DevnetError, StoreUnavailableError
from fedledger.store import KuboStore, LocalStore

pytestmark = pytest.mark.integration


def _content(size: int) -> bytes:
    """Deterministic, non-repeating within a chunk, different per size."""
    return bytes((i * 7 + size) % 251 for i in range(size))


def _daemon_add(api: str, data: bytes) -> str:
    """The CID the daemon itself reports for ``add`` with Kubo's ``--cid-version=1 --raw-leaves`` settings."""
    params = {"cid-version": "1", "raw-leaves": "true", "chunker": f"size-{CHUNK_SIZE}", "pin": "false"}
    files = {"file": ("blob", data, "application/octet-stream")}
    answer = requests.post(f"{api}/api/v0/add", params=params, files=files, timeout=30)
    answer.raise_for_status()
    return str(json.loads(answer.text.splitlines()[-1])["Hash"])


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 1_000_000])
def test_daemon_local_store_and_compute_cid_agree(ipfs_daemon: str, tmp_path: Path, size: int) -> None:
    # Prepare
    data = _content(size)
    # Execute
    from_daemon = canonical_cid(_daemon_add(ipfs_daemon, data))
    from_kubo_store = KuboStore(ipfs_daemon).put(data)
    from_local_store = LocalStore(tmp_path).put(data)
    # Assert
    assert from_daemon == compute_cid(data) == from_kubo_store == from_local_store


def test_put_then_get_through_the_daemon(ipfs_daemon: str) -> None:
    store = KuboStore(ipfs_daemon)
    data = _content(100_000)
    cid = store.put(data)
    assert store.has(cid)
    assert store.get(cid, timeout=5.0) == data


def test_get_of_unknown_cid_times_out_into_not_found(ipfs_daemon: str) -> None:
    # Prepare
    store = KuboStore(ipfs_daemon)
    unknown = compute_cid(b"no participant ever uploaded this")
    # Execute
    began = time.monotonic()
    with pytest.raises(
        ContentNotFoundError, match=rf"content {unknown} is not in IPFS node .*uploaded/pinned"
    ):
        store.get(unknown, timeout=2.0)
    elapsed = time.monotonic() - began
    # Assert
    assert 1.5 < elapsed < 5.0
    assert not store.has(unknown)


def test_stopped_daemon_is_unavailable_and_leaves_caller_data_intact(
    tmp_path: Path, ipfs_daemon: str
) -> None:
    # Prepare: a daemon of our own (the session one stays up), used once, then stopped
    daemon = IpfsDaemon(tmp_path / "repo", api_port=find_free_port())
    daemon.init()
    pid = daemon.start(tmp_path / "daemon.log")
    daemon.wait_ready(timeout=60.0)
    store = KuboStore(daemon.api_url, timeout=5.0)
    kept = store.put(b"round 1 global model")
    daemon.stop(pid)
    data = bytearray(b"round 2 update")
    # Execute
    began = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=r"not answering.*Is it running\?"):
        store.put(bytes(data))
    with pytest.raises(StoreUnavailableError):
        store.get(kept, timeout=2.0)
    # Assert: nothing is lost: after a restart the earlier content is still there and the retried put works
    assert time.monotonic() - began < 2.0
    pid = daemon.start(tmp_path / "daemon-again.log")
    try:
        daemon.wait_ready(timeout=60.0)
        assert store.get(kept, timeout=5.0) == b"round 1 global model"
        assert store.get(store.put(bytes(data)), timeout=5.0) == b"round 2 update"
    finally:
        daemon.stop(pid)


def test_daemon_refuses_a_port_in_use(ipfs_daemon: str, tmp_path: Path) -> None:
    busy_port = int(ipfs_daemon.rsplit(":", 1)[1])
    daemon = IpfsDaemon(tmp_path / "repo", api_port=busy_port)
    daemon.init()
    with pytest.raises(DevnetError, match=rf"port {busy_port} on 127.0.0.1 is already in use"):
        daemon.start(tmp_path / "daemon.log")

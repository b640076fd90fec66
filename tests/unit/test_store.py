"""Content stores: round trips, verification on every read, clear errors; no daemon needed (a fake RPC server)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedledger.cid import CHUNK_SIZE, compute_cid
from fedledger.devnet.ipfs_daemon import find_free_port
from fedledger.exceptions import (
    ConfigurationError,
    ContentMismatchError,
    ContentNotFoundError,
    ContentTooLargeError,
    InvalidCIDError,
    StoreError,
    StoreUnavailableError,
)
from fedledger.store import ContentStore, KuboStore, LocalStore, api_url, open_store

MISSING = compute_cid(b"never stored anywhere")


# --- LocalStore ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 5])
def test_local_round_trip_keys_by_kubo_cid(tmp_path: Path, size: int) -> None:
    # Prepare
    store = LocalStore(tmp_path)
    data = bytes(i % 251 for i in range(size))
    # Execute
    cid = store.put(data)
    # Assert
    assert cid == compute_cid(data)
    assert store.has(cid)
    assert store.get(cid) == data


def test_local_put_is_idempotent_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    first = store.put(b"model bytes")
    second = store.put(b"model bytes")
    assert first == second
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [first]


def test_local_get_detects_a_tampered_file(tmp_path: Path) -> None:
    # Prepare
    store = LocalStore(tmp_path)
    cid = store.put(b"honest update")
    (path,) = list(tmp_path.rglob(cid))
    path.write_bytes(b"poisoned update")
    # Execute / Assert
    with pytest.raises(ContentMismatchError, match=cid):
        store.get(cid)


def test_local_get_of_missing_cid_says_where_and_what_to_check(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(
        ContentNotFoundError, match=rf"content {MISSING} is not in local store at .*uploaded/pinned"
    ):
        store.get(MISSING)
    assert not store.has(MISSING)


def test_local_accepts_other_spellings_of_the_same_cid(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put(b"")
    assert store.get("zb2rhmy65F3REf8SZp7De11gxtECBGgUKaLdiDj7MCGCHxbDW") == b""


def test_local_rejects_garbage_cid(tmp_path: Path) -> None:
    with pytest.raises(InvalidCIDError, match="not a CID"):
        LocalStore(tmp_path).get("../../etc/passwd")


def test_local_store_satisfies_the_protocol(tmp_path: Path) -> None:
    assert isinstance(LocalStore(tmp_path), ContentStore)
    assert str(tmp_path) in LocalStore(tmp_path).describe()


@pytest.fixture(scope="module")
def shared_local(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    return LocalStore(tmp_path_factory.mktemp("hypothesis-store"))


# Hypothesis draws big binaries slowly: build the sizes around the 256 KiB boundary from a short random seed.
near_boundary = st.builds(
    lambda seed, size: (seed * (size // len(seed) + 1))[:size],
    st.binary(min_size=1, max_size=64),
    st.integers(CHUNK_SIZE - 2, CHUNK_SIZE + 2),
)


@settings(max_examples=60, deadline=None)
@given(data=st.one_of(st.binary(max_size=2048), near_boundary))
def test_local_round_trip_property(shared_local: LocalStore, data: bytes) -> None:
    cid = shared_local.put(data)
    assert cid == compute_cid(data)
    assert shared_local.get(cid) == data


# --- KuboStore against nothing ----------------------------------------------------------------------------


def test_kubo_store_on_closed_port_is_unavailable_quickly() -> None:
    # Prepare
    store = KuboStore(f"/ip4/127.0.0.1/tcp/{find_free_port()}", timeout=5.0)
    data = b"precious update"
    # Execute
    began = time.monotonic()
    with pytest.raises(
        StoreUnavailableError, match=r"not answering \(connection refused\).*fedledger devnet up"
    ):
        store.put(data)
    # Assert: the failure is immediate and names where, and reading is refused the same way
    assert time.monotonic() - began < 2.0
    with pytest.raises(StoreUnavailableError, match=store.url):
        store.get(MISSING, timeout=1.0)


# --- KuboStore against a fake RPC server ------------------------------------------------------------------


class FakeRpc(BaseHTTPRequestHandler):
    """Answers like a Kubo RPC API from canned replies keyed by call name: ``(status, body)``."""

    replies: ClassVar[dict[str, tuple[int, bytes]]] = {}

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        call = self.path.split("?")[0].removeprefix("/api/v0/")
        status, body = self.replies.get(call, (404, b"404 page not found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake_rpc() -> Iterator[tuple[KuboStore, dict[str, tuple[int, bytes]]]]:
    replies: dict[str, tuple[int, bytes]] = {}
    handler = type("Handler", (FakeRpc,), {"replies": replies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield KuboStore(f"http://127.0.0.1:{server.server_address[1]}", timeout=5.0), replies
    server.shutdown()
    server.server_close()


def _error(message: str) -> tuple[int, bytes]:
    return 500, json.dumps({"Message": message, "Code": 0, "Type": "error"}).encode()


def test_kubo_put_refuses_a_node_that_chunks_differently(
    fake_rpc: tuple[KuboStore, dict[str, tuple[int, bytes]]],
) -> None:
    store, replies = fake_rpc
    replies["add"] = (200, json.dumps({"Name": "blob", "Hash": MISSING, "Size": "3"}).encode() + b"\n")
    with pytest.raises(ContentMismatchError, match="other import settings"):
        store.put(b"abc")


def test_kubo_put_accepts_the_base58_answer_of_js_ipfs(
    fake_rpc: tuple[KuboStore, dict[str, tuple[int, bytes]]],
) -> None:
    store, replies = fake_rpc
    replies["add"] = (
        200,
        b'{"Name":"blob","Hash":"zb2rhmy65F3REf8SZp7De11gxtECBGgUKaLdiDj7MCGCHxbDW","Size":0}\n',
    )
    assert store.put(b"") == compute_cid(b"")


def test_kubo_get_detects_tampered_bytes(fake_rpc: tuple[KuboStore, dict[str, tuple[int, bytes]]]) -> None:
    store, replies = fake_rpc
    replies["cat"] = (200, b"poisoned")
    with pytest.raises(ContentMismatchError, match=compute_cid(b"honest")):
        store.get(compute_cid(b"honest"))


@pytest.mark.parametrize("message", ["Failed to cat file: request timed out", "context deadline exceeded"])
def test_kubo_get_timeout_means_not_found(
    fake_rpc: tuple[KuboStore, dict[str, tuple[int, bytes]]], message: str
) -> None:
    store, replies = fake_rpc
    replies["cat"] = _error(message)
    with pytest.raises(
        ContentNotFoundError, match=rf"content {MISSING} is not in IPFS node at .*uploaded/pinned"
    ):
        store.get(MISSING, timeout=1.0)


def test_kubo_other_errors_stay_store_errors(
    fake_rpc: tuple[KuboStore, dict[str, tuple[int, bytes]]],
) -> None:
    store, replies = fake_rpc
    replies["cat"] = _error("repo is corrupt")
    with pytest.raises(StoreError, match="repo is corrupt") as info:
        store.get(MISSING)
    assert not isinstance(info.value, ContentNotFoundError)
    with pytest.raises(StoreError, match="is this an IPFS RPC API"):
        store.version()


def test_kubo_has_asks_pin_ls(fake_rpc: tuple[KuboStore, dict[str, tuple[int, bytes]]]) -> None:
    store, replies = fake_rpc
    replies["pin/ls"] = (200, json.dumps({"Keys": {MISSING: {"Type": "recursive"}}}).encode())
    assert store.has(MISSING)
    replies["pin/ls"] = _error(f"path '{MISSING}' is not pinned")
    assert not store.has(MISSING)


# --- addresses and dispatch ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "url"),
    [
        ("/ip4/127.0.0.1/tcp/5001", "http://127.0.0.1:5001"),
        ("/ip4/10.0.0.2/tcp/5001/http", "http://10.0.0.2:5001"),
        ("/ip6/::1/tcp/5001", "http://[::1]:5001"),
        ("/dns/ipfs.example.org/tcp/443/https", "https://ipfs.example.org:443"),
        ("http://127.0.0.1:5001/", "http://127.0.0.1:5001"),
        ("http://127.0.0.1:5001/api/v0", "http://127.0.0.1:5001"),
    ],
)
def test_api_url_accepts_multiaddrs_and_urls(api: str, url: str) -> None:
    assert api_url(api) == url


@pytest.mark.parametrize(
    "api", ["/ip4/127.0.0.1/udp/5001", "/ip4/127.0.0.1/tcp/port", "ipfs.local:5001", "http://"]
)
def test_api_url_rejects_what_it_cannot_read(api: str) -> None:
    with pytest.raises(ConfigurationError, match="IPFS API"):
        api_url(api)


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("local:/tmp/fl-store", LocalStore),
        ("/tmp/fl-store", LocalStore),
        ("relative/store", LocalStore),
        ("/ip4/127.0.0.1/tcp/5001", KuboStore),
        ("/dns4/ipfs/tcp/5001", KuboStore),
        ("http://127.0.0.1:5001", KuboStore),
        ("https://ipfs.example.org", KuboStore),
    ],
)
def test_open_store_dispatches_on_the_spec(spec: str, kind: type) -> None:
    assert isinstance(open_store(spec), kind)


def test_open_store_local_prefix_wins_over_multiaddr_look() -> None:
    store = open_store("local:/ip4/dir")
    assert isinstance(store, LocalStore) and store.root == Path("/ip4/dir")


def test_open_store_rejects_empty_spec() -> None:
    with pytest.raises(ConfigurationError, match="empty store spec"):
        open_store("  ")


class EndlessCat(BaseHTTPRequestHandler):
    """A hostile node: answers `cat` with a body that never ends (chunked, 64 KiB at a time)."""

    sent: ClassVar[list[int]] = [0]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"\x00" * 65536
        try:
            while self.sent[0] < 1 << 30:  # stop by itself after 1 GiB, whatever happens
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.sent[0] += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_kubo_get_stops_an_endless_answer_at_the_byte_limit() -> None:
    # Prepare: a node that would stream forever (a registered CID of "several GB")
    handler = type("Handler", (EndlessCat,), {"sent": [0]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    store = KuboStore(f"http://127.0.0.1:{server.server_address[1]}", timeout=10.0)
    try:
        # Execute / Assert
        with pytest.raises(ContentTooLargeError, match="larger than the limit of 1048576 bytes"):
            store.get(MISSING, max_bytes=1 << 20)
    finally:
        server.shutdown()
        server.server_close()
    assert handler.sent[0] < 64 << 20  # the reader hung up long before the node would have stopped


def test_local_get_refuses_a_file_over_the_limit_before_reading_it(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = store.put(b"x" * 1000)
    with pytest.raises(ContentTooLargeError):
        store.get(cid, max_bytes=999)
    assert store.get(cid, max_bytes=1000) == b"x" * 1000


def test_local_store_pins_everything_it_holds(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cid = store.put(b"kept")
    store.pin(cid)
    assert store.is_pinned(cid) and not store.is_pinned(MISSING)
    with pytest.raises(ContentNotFoundError):
        store.pin(MISSING)


def test_local_store_in_an_unwritable_place_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(StoreError, match="cannot write"):
        LocalStore(blocker / "store").put(b"update")

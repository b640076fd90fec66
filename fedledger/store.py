"""Content store: one interface, two backends (an embedded directory and an IPFS node over the Kubo RPC API).

Every backend keys content by the CID that ``fedledger.cid.compute_cid`` gives (Kubo's ``ipfs add
--cid-version=1 --raw-leaves``), and every ``get`` re-derives that CID from the bytes before returning them: a
store that is corrupt or lying raises ``ContentMismatchError`` instead of handing a wrong model to the audit.

Why a thin client over ``requests`` rather than ``ipfshttpclient``: that library is unmaintained since 2021; its
``connect()`` refuses (0.7) or warns about (0.8a2) every daemon from 0.8 on, which is all current Kubo releases;
and its ``add()`` sends ``raw-leaves=false`` unless told otherwise, which yields different CIDs. The RPC calls we
need are five POSTs (``add``, ``cat``, ``pin/add``, ``pin/ls``, ``version``), so owning them keeps every import setting, every
timeout and every error message in view. The same client talks to Kubo and to js-ipfs (the devnet daemon).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import requests

from fedledger.cid import CHUNK_SIZE, canonical_cid, compute_cid
from fedledger.exceptions import (
    ConfigurationError,
    ContentMismatchError,
    ContentNotFoundError,
    ContentTooLargeError,
    StoreError,
    StoreUnavailableError,
)
from fedledger.files import write_atomic

__all__ = ["ContentStore", "KuboStore", "LocalStore", "api_url", "open_store", "verify_content"]


@runtime_checkable
class ContentStore(Protocol):
    """Where models and updates live, addressed by CID; the chain only records the CIDs."""

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its base32 CIDv1."""
        ...

    def get(self, cid: str, *, timeout: float | None = None, max_bytes: int | None = None) -> bytes:
        """Return the bytes for ``cid``, verified to hash to it.

        ``max_bytes`` stops the transfer as soon as more bytes arrive (``ContentTooLargeError``): a registered CID
        of several GB must not exhaust the reader's memory.
        """
        ...

    def has(self, cid: str) -> bool:
        """Say whether this store holds ``cid`` (without fetching it from elsewhere)."""
        ...

    def pin(self, cid: str) -> None:
        """Keep ``cid`` through garbage collection (the audit needs every included update and global model)."""
        ...

    def is_pinned(self, cid: str) -> bool:
        """Whether ``cid`` is pinned here (content an auditor fetched unpinned may vanish)."""
        ...

    def describe(self) -> str:
        """A short human description for messages, e.g. ``IPFS node at http://127.0.0.1:5001``."""
        ...


def verify_content(cid: str, data: bytes, where: str) -> bytes:
    """Return ``data`` if it hashes to ``cid``, else raise ``ContentMismatchError`` naming the CID and the store.

    Parameters
    ----------
    cid:
        The CID that was asked for (any spelling ``canonical_cid`` accepts).
    data:
        The bytes a store returned for it.
    where:
        The store's ``describe()``, so the message says whom not to trust.
    """
    actual = compute_cid(data)
    if actual != canonical_cid(cid):
        raise ContentMismatchError(
            f"content for {cid} from {where} does not match its CID: the {len(data)} bytes returned hash to "
            f"{actual} (corrupt store, truncated transfer, or other import settings)"
        )
    return data


def _too_large(cid: str, where: str, limit: int) -> ContentTooLargeError:
    return ContentTooLargeError(
        f"content {cid} from {where} is larger than the limit of {limit} bytes; not read further"
    )


def _not_found(cid: str, where: str) -> ContentNotFoundError:
    """The one wording for missing content, shared by the backends."""
    return ContentNotFoundError(f"content {cid} is not in {where}; was it uploaded/pinned?")


class LocalStore:
    """The embedded default: a directory of files named by CID, verified on every read.

    Files are sharded like Kubo's flatfs (``next-to-last/2``: the two characters before the last one, because the
    last base32 character of a CID carries only a few bits) so no directory grows past about a thousand entries.
    Writes go to a temporary file in the same directory and are moved into place with ``os.replace``, so a
    crash leaves either the old state or the complete new file, never a torn one.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser()

    def put(self, data: bytes) -> str:
        """Store ``data`` under its CID (idempotent) and return the CID."""
        cid = compute_cid(data)
        path = self._path(cid)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot write to {self.describe()}: {exc.strerror or exc}") from None
        write_atomic(path, data, error=StoreError)
        return cid

    def get(self, cid: str, *, timeout: float | None = None, max_bytes: int | None = None) -> bytes:
        """Read and verify ``cid``; ``timeout`` is accepted for the protocol and ignored (disk reads do not hang)."""
        path = self._path(canonical_cid(cid))
        try:
            size = path.stat().st_size
            if max_bytes is not None and size > max_bytes:
                raise _too_large(cid, self.describe(), max_bytes)
            data = path.read_bytes()
        except FileNotFoundError:
            raise _not_found(cid, self.describe()) from None
        except OSError as exc:
            raise StoreError(f"cannot read {path} from {self.describe()}: {exc}") from exc
        return verify_content(cid, data, self.describe())

    def has(self, cid: str) -> bool:
        """True when a file for ``cid`` exists; its contents are verified only by ``get``."""
        return self._path(canonical_cid(cid)).is_file()

    def pin(self, cid: str) -> None:
        """Nothing to do: a local store never garbage-collects, so everything it holds stays."""
        if not self.has(cid):
            raise _not_found(cid, self.describe())

    def is_pinned(self, cid: str) -> bool:
        """Everything a local store holds is kept (it has no garbage collector)."""
        return self.has(cid)

    def describe(self) -> str:
        """E.g. ``local store at /home/me/.fedledger/store``."""
        return f"local store at {self.root}"

    def _path(self, canonical: str) -> Path:
        """Where the file for a canonical (base32 v1) CID lives."""
        return self.root / canonical[-3:-1] / canonical


class KuboStore:
    """An IPFS node over the Kubo RPC API (Kubo itself, or js-ipfs on the devnet).

    ``put`` passes every import setting explicitly (CIDv1, raw leaves, sha2-256, 256 KiB chunks, pin) and then
    checks the node's CID against ``compute_cid``: a node that chunks differently would otherwise record CIDs that
    no other store can verify. ``get`` always sends a timeout twice, as the API's ``timeout=`` argument and as the
    HTTP read timeout, because ``cat`` of a CID the node lacks otherwise waits forever for the network.
    """

    def __init__(self, api: str, timeout: float = 30.0) -> None:
        self.url = api_url(api)
        self.timeout = timeout

    def put(self, data: bytes) -> str:
        """Add and pin ``data``; return its CID after checking the node agrees with ``compute_cid``."""
        params = {
            "cid-version": "1",
            "raw-leaves": "true",
            "hash": "sha2-256",
            "chunker": f"size-{CHUNK_SIZE}",
            "pin": "true",
            "cid-base": "base32",
            "quieter": "true",
        }
        # js-ipfs rejects a multipart part without a Content-Type ("No content-type in multipart part").
        files = {"file": ("blob", data, "application/octet-stream")}
        response = self._post("add", params, files=files)
        answer = _last_json_line(response.text, "add")
        expected = compute_cid(data)
        if canonical_cid(str(answer.get("Hash", ""))) != expected:
            raise ContentMismatchError(
                f"{self.describe()} stored {len(data)} bytes as {answer.get('Hash')} but fedledger computes "
                f"{expected}: the node uses other import settings (chunker, raw leaves, hash), so other stores "
                "could not verify this CID"
            )
        return expected

    def get(self, cid: str, *, timeout: float | None = None, max_bytes: int | None = None) -> bytes:
        """Fetch ``cid`` with ``cat`` within ``timeout`` seconds (default: the store's) and verify it.

        The answer is streamed: past ``max_bytes`` the transfer is cut (``ContentTooLargeError``), and a node that
        trickles bytes is cut at the deadline, so neither memory nor time is the sender's to choose.
        """
        canonical = canonical_cid(cid)
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait + 2.0
        try:
            response = self._post(
                "cat", {"arg": canonical, "timeout": _duration(wait)}, read_timeout=wait + 2.0, stream=True
            )
        except _ReadTimeout:
            raise _not_found(cid, f"{self.describe()} (no answer within {wait:g} s)") from None
        except _RpcError as exc:
            if exc.means_missing():
                raise _not_found(cid, f"{self.describe()} (within {wait:g} s)") from exc
            raise
        with response:
            data = self._read_bounded(response, cid, max_bytes, deadline, wait)
        return verify_content(cid, data, self.describe())

    def _read_bounded(
        self, response: requests.Response, cid: str, max_bytes: int | None, deadline: float, wait: float
    ) -> bytes:
        """The body of a streamed answer, refusing more than ``max_bytes`` or a transfer past ``deadline``."""
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(chunk_size=1 << 20):
                chunks.append(chunk)
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise _too_large(cid, self.describe(), max_bytes)
                if time.monotonic() > deadline:
                    raise _not_found(cid, f"{self.describe()} (transfer not finished within {wait:g} s)")
        except requests.RequestException as exc:
            raise _not_found(cid, f"{self.describe()} (transfer broke off: {type(exc).__name__})") from None
        return b"".join(chunks)

    def has(self, cid: str) -> bool:
        """True when the node pins ``cid``; ``put`` always pins, and ``pin/ls`` answers at once on both daemons.

        ``block/stat`` would also see unpinned blocks, but on js-ipfs it waits out its timeout for a missing one.
        """
        canonical = canonical_cid(cid)
        try:
            self._post("pin/ls", {"arg": canonical, "timeout": _duration(5.0)}, read_timeout=7.0)
        except (_RpcError, _ReadTimeout):
            return False
        return True

    def pin(self, cid: str) -> None:
        """Pin ``cid`` recursively on the node (fetching it first if the node lacks it, within the timeout)."""
        canonical = canonical_cid(cid)
        try:
            self._post(
                "pin/add",
                {"arg": canonical, "timeout": _duration(self.timeout)},
                read_timeout=self.timeout + 2,
            )
        except _ReadTimeout:
            raise _not_found(cid, f"{self.describe()} (could not pin within {self.timeout:g} s)") from None

    def is_pinned(self, cid: str) -> bool:
        """Whether the node pins ``cid`` (``pin/ls``)."""
        return self.has(cid)

    def version(self) -> str:
        """The daemon's version string (``0.18.1`` for js-ipfs 0.66): a cheap liveness check."""
        return str(_last_json_line(self._post("version", {}).text, "version").get("Version", "unknown"))

    def describe(self) -> str:
        """E.g. ``IPFS node at http://127.0.0.1:5001``."""
        return f"IPFS node at {self.url}"

    def _post(
        self,
        call: str,
        params: dict[str, str],
        *,
        files: Any = None,
        read_timeout: float | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """POST one RPC call; map transport failures to ``StoreUnavailableError``, error bodies to ``_RpcError``."""
        endpoint = f"{self.url}/api/v0/{call}"
        read = self.timeout if read_timeout is None else read_timeout
        try:
            response = requests.post(
                endpoint, params=params, files=files, timeout=(min(self.timeout, 5.0), read), stream=stream
            )
        except requests.exceptions.ReadTimeout as exc:
            if read_timeout is not None:
                raise _ReadTimeout(call) from exc
            raise self._unavailable(f"no answer to {call} within {read:g} s") from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise self._unavailable(_transport_reason(exc)) from exc
        if response.status_code != 200:
            raise _RpcError(self.describe(), call, response.status_code, _error_message(response))
        return response

    def _unavailable(self, why: str) -> StoreUnavailableError:
        """The one wording for an unreachable daemon."""
        return StoreUnavailableError(
            f"IPFS daemon at {self.url} is not answering ({why}). Is it running? "
            "Start it with `fedledger devnet up` or point --ipfs-api at your node."
        )


class _ReadTimeout(Exception):
    """The daemon accepted the call but sent nothing back in time (private: callers decide what it means)."""


class _RpcError(StoreError):
    """The daemon answered a call with an error body; ``get`` and ``has`` map it further, others raise it as is."""

    def __init__(self, where: str, call: str, status: int, message: str) -> None:
        hint = " (is this an IPFS RPC API?)" if status == 404 else ""
        super().__init__(f"{where} answered {call} with HTTP {status}: {message}{hint}")
        self.message = message

    def means_missing(self) -> bool:
        """Whether the message is one of the ways Kubo or js-ipfs say 'I do not have it (in time)'."""
        text = self.message.lower()
        return any(hint in text for hint in ("timed out", "deadline exceeded", "not found", "no link named"))


def api_url(api: str) -> str:
    """Turn ``/ip4/127.0.0.1/tcp/5001`` (also ``/ip6``, ``/dns*``, ``.../https``) or an http(s) URL into a base URL.

    Raises ``ConfigurationError`` naming the accepted forms for anything else.
    """
    spec = api.strip()
    if spec.startswith(("http://", "https://")):
        parts = urlsplit(spec)
        if not parts.hostname:
            raise ConfigurationError(f"IPFS API URL {api!r} has no host")
        path = parts.path.rstrip("/").removesuffix("/api/v0")
        return f"{parts.scheme}://{parts.netloc}{path}"
    parts_list = spec.strip("/").split("/")
    if (
        len(parts_list) >= 4
        and parts_list[0] in ("ip4", "ip6", "dns", "dns4", "dns6")
        and parts_list[2] == "tcp"
    ):
        proto, host, port = parts_list[0], parts_list[1], parts_list[3]
        scheme = "https" if parts_list[4:5] == ["https"] else "http"
        if port.isdigit() and host:
            return f"{scheme}://{f'[{host}]' if proto == 'ip6' else host}:{port}"
    raise ConfigurationError(
        f"cannot read IPFS API address {api!r}: expected a multiaddr such as /ip4/127.0.0.1/tcp/5001 "
        "or a URL such as http://127.0.0.1:5001"
    )


def open_store(spec: str) -> ContentStore:
    """Open the store a CLI flag or config names.

    ``local:PATH`` or a plain path gives a ``LocalStore``; a multiaddr (``/ip4/...``, ``/ip6/...``, ``/dns...``)
    or an ``http(s)://`` URL gives a ``KuboStore``. A directory whose path starts with ``/ip4/`` must be written
    ``local:/ip4/...``.
    """
    text = spec.strip()
    if not text:
        raise ConfigurationError(
            "empty store spec: give local:PATH, a directory, a multiaddr or an http(s) URL"
        )
    if text.startswith("local:"):
        return LocalStore(Path(text.removeprefix("local:")))
    if text.startswith(("http://", "https://", "/ip4/", "/ip6/", "/dns/", "/dns4/", "/dns6/")):
        return KuboStore(text)
    return LocalStore(Path(text))


def _transport_reason(exc: requests.exceptions.RequestException) -> str:
    """A few words for why the connection failed, e.g. ``connection refused``."""
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if isinstance(exc, requests.exceptions.Timeout):
        return "connection timed out"
    return f"{type(exc).__name__}: {str(exc)[:160]}"


def _duration(seconds: float) -> str:
    """A duration both Go (Kubo) and parse-duration (js-ipfs) read: whole milliseconds."""
    return f"{max(1, round(seconds * 1000))}ms"


def _error_message(response: requests.Response) -> str:
    """The ``Message`` of a Kubo RPC error body, or the raw body when it is not JSON."""
    try:
        return str(json.loads(response.text).get("Message", response.text))
    except (ValueError, AttributeError):
        return response.text.strip()[:200] or response.reason


def _last_json_line(body: str, call: str) -> dict[str, Any]:
    """The last JSON object of a (possibly newline-delimited) RPC answer."""
    lines = [line for line in body.splitlines() if line.strip()]
    try:
        value = json.loads(lines[-1])
    except (IndexError, ValueError) as exc:
        raise StoreError(f"unexpected answer to {call}: {body[:200]!r}") from exc
    if not isinstance(value, dict):
        raise StoreError(f"unexpected answer to {call}: {body[:200]!r}")
    return value

"""Fetch a model by CID and check it against its on-chain digest before trusting a byte of it."""

from __future__ import annotations

from fedledger import codec
from fedledger.exceptions import ContentMismatchError
from fedledger.store import ContentStore


def fetch_model(
    store: ContentStore,
    cid: str,
    digest: bytes,
    timeout: float | None = None,
    *,
    max_bytes: int | None = None,
) -> codec.Tensors:
    """Return the decoded model stored under ``cid``.

    Raises ``ContentNotFoundError``/``StoreUnavailableError`` from the store, ``ContentTooLargeError`` past
    ``max_bytes`` (the task's limit; the fetch stops there), ``ContentMismatchError`` when the bytes are not the
    model the chain committed to, and ``CodecError`` when they are not a canonical model.
    """
    data = store.get(cid, timeout=timeout, max_bytes=max_bytes)
    if codec.model_digest(data) != digest:
        raise ContentMismatchError(
            f"model {cid} hashes to {codec.digest_hex(codec.model_digest(data))}, "
            f"but the chain committed {codec.digest_hex(digest)}"
        )
    return codec.decode(data, max_bytes=max_bytes) if max_bytes else codec.decode(data)

"""The IPFS CID of a byte string, computed in pure Python exactly as Kubo's importer computes it.

Why by hand: the embedded ``LocalStore`` must key content by the very CID a real IPFS node would give, so that a
model uploaded to the local store today is still found under the same CID on a Kubo node later, and so that every
store can verify on read that the bytes it returns hash to the CID that was asked for. No daemon is needed.

What is reproduced is ``ipfs add --cid-version=1 --raw-leaves`` with Kubo's defaults (the settings ``KuboStore``
passes explicitly):

* content of at most 256 KiB is a single ``raw`` block (codec 0x55): the CID is sha2-256 of the bytes;
* larger content is cut into 256 KiB ``raw`` leaves joined by a *balanced* UnixFS DAG: each dag-pb node (codec
  0x70) holds at most 174 links, levels are filled left to right, and each internal node's UnixFS ``Data`` says
  ``Type=File``, the ``filesize`` below it and one ``blocksizes`` entry per child (no ``Data`` bytes: those live
  in the raw leaves).

The dag-pb and UnixFS protobufs are encoded by hand (a varint and a length-delimited field are all they need) so
the byte layout is explicit: links (field 2) before data (field 1), each link with ``Hash``, an empty ``Name`` and
``Tsize`` (the total bytes of the child's subtree, encoded nodes included). The known answers in
``../shared/fixtures/kubo_cids.tsv`` pin all this down (0 B to 45.6 MB, both boundaries).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from multiformats import CID

from fedledger.exceptions import InvalidCIDError

__all__ = ["CHUNK_SIZE", "MAX_CID_LENGTH", "MAX_LINKS", "canonical_cid", "compute_cid", "parse_cid"]

CHUNK_SIZE = 262_144
"""Kubo's default chunker, ``size-262144``: the size of each raw leaf."""

MAX_LINKS = 174
"""Kubo's ``DefaultLinksPerBlock`` for the balanced layout: links per dag-pb node."""

MAX_CID_LENGTH = 128
"""The longest CID text fedledger parses (a base32 CIDv1 sha2-256 is 59 characters, base58btc 49): the multibase
decoder is quadratic in the length, so longer text is refused by its length alone, before any parsing."""

_UNIXFS_FILE = 2


@dataclass(frozen=True)
class _Child:
    """A finished subtree as its parent's link sees it."""

    cid: bytes  # the binary CID (what a dag-pb link holds)
    filesize: int  # file bytes below this child (UnixFS ``blocksizes`` entry)
    tsize: int  # encoded bytes of the whole subtree (dag-pb ``Tsize``)


def compute_cid(data: bytes) -> str:
    """Return the base32 CIDv1 that ``ipfs add --cid-version=1 --raw-leaves`` gives for ``data``.

    Parameters
    ----------
    data:
        The complete content, e.g. a serialised model.

    Returns
    -------
    str
        ``bafk...`` (a single raw block) for content up to 256 KiB, ``bafy...`` (a dag-pb root) above.
    """
    view = memoryview(data)
    if len(view) <= CHUNK_SIZE:
        return _base32_cid(_raw_cid(view))
    level = [_leaf(view[i : i + CHUNK_SIZE]) for i in range(0, len(view), CHUNK_SIZE)]
    while len(level) > 1:
        level = [_branch(level[i : i + MAX_LINKS]) for i in range(0, len(level), MAX_LINKS)]
    return _base32_cid(level[0].cid)


def parse_cid(text: str) -> CID:
    """Parse a CID given as text, raising ``InvalidCIDError`` that says what is wrong with it.

    Garbage is a ``StoreError`` (and a ``ValueError``) rather than a configuration error because CIDs reach the
    store from the chain and from other participants as often as from the command line.

    Parameters
    ----------
    text:
        A CID in any multibase (``bafy...``, ``zb2...``) or a CIDv0 (``Qm...``).

    Returns
    -------
    CID
        The parsed CID, as written (no change of version or base).
    """
    if isinstance(text, str) and len(text) > MAX_CID_LENGTH:  # before anything else reads the text
        raise InvalidCIDError(
            f"not a CID: {len(text)} characters ({text[:20]!r}…), at most {MAX_CID_LENGTH} are accepted"
        )
    if not isinstance(text, str) or not text.strip():
        raise InvalidCIDError(f"not a CID: expected a non-empty string, got {text!r}")
    try:
        return CID.decode(text.strip())
    except Exception as exc:  # multiformats raises assorted KeyError/ValueError subclasses
        raise InvalidCIDError(f"not a CID: {text!r} ({type(exc).__name__}: {exc})") from exc


def canonical_cid(text: str) -> str:
    """Return ``text`` as the base32 CIDv1 that ``compute_cid`` would print, for keys and comparisons.

    ``zb2rh...`` (js-ipfs answers in base58btc) and ``bafk...`` name the same content and must compare equal.
    CIDs that ``compute_cid`` can never produce (CIDv0, other codecs or hashes) are refused here, because no store
    could verify the bytes it returns for them.
    """
    if isinstance(text, str) and _is_canonical(text):
        return text
    cid = parse_cid(text)
    if cid.version != 1 or cid.codec.name not in ("raw", "dag-pb") or cid.hashfun.name != "sha2-256":
        raise InvalidCIDError(
            f"cannot verify content for CID {text!r} (version {cid.version}, codec {cid.codec.name}, "
            f"hash {cid.hashfun.name}): fedledger stores content under CIDv1 sha2-256 with raw leaves"
        )
    return str(cid.set(base="base32"))


# The binary prefix of a CIDv1 sha2-256 (version 1, codec, multihash sha2-256 of 32 bytes) for each codec fedledger
# stores; with the 32-byte digest, 36 bytes, which base32 spells in 58 characters after the multibase "b".
_RAW_SHA256 = bytes([0x01, 0x55, 0x12, 0x20])
_DAG_PB_SHA256 = bytes([0x01, 0x70, 0x12, 0x20])
_CANONICAL_TEXT = re.compile(r"b[a-z2-7]{58}")


def _base32_cid(binary: bytes) -> str:
    """Multibase base32 (lowercase, unpadded, prefix "b") of a binary CID: how Kubo prints a CIDv1."""
    return "b" + base64.b32encode(binary).decode("ascii").rstrip("=").lower()


def _is_canonical(text: str) -> bool:
    """True when ``text`` already is a base32 CIDv1 sha2-256 of a raw or dag-pb block, spelled canonically.

    The common case (every CID fedledger writes) without the generic multiformats parser, whose validation layers
    dominated a store read; anything else, including a look-alike with stray trailing bits, goes through the full
    parse.
    """
    if not _CANONICAL_TEXT.fullmatch(text):
        return False
    binary = base64.b32decode(text[1:].upper() + "======")
    return binary[:4] in (_RAW_SHA256, _DAG_PB_SHA256) and _base32_cid(binary) == text


def _raw_cid(chunk: memoryview) -> bytes:
    """Binary CIDv1 of a ``raw`` block: codec 0x55 over sha2-256 of the bytes."""
    return _RAW_SHA256 + hashlib.sha256(chunk).digest()


def _leaf(chunk: memoryview) -> _Child:
    """A 256 KiB (or shorter, last) raw leaf as a child link."""
    return _Child(_raw_cid(chunk), filesize=len(chunk), tsize=len(chunk))


def _branch(children: list[_Child]) -> _Child:
    """Encode one dag-pb UnixFS File node over ``children`` and return it as a child link."""
    filesize = sum(c.filesize for c in children)
    unixfs = _field_varint(1, _UNIXFS_FILE) + _field_varint(3, filesize)
    unixfs += b"".join(_field_varint(4, c.filesize) for c in children)
    links = b"".join(_field_bytes(2, _pb_link(c)) for c in children)
    node = links + _field_bytes(1, unixfs)
    cid = _DAG_PB_SHA256 + hashlib.sha256(node).digest()
    return _Child(cid, filesize=filesize, tsize=len(node) + sum(c.tsize for c in children))


def _pb_link(child: _Child) -> bytes:
    """A dag-pb ``PBLink``: Hash (binary CID), Name (empty, but present as Kubo writes it), Tsize."""
    return _field_bytes(1, child.cid) + _field_bytes(2, b"") + _field_varint(3, child.tsize)


def _varint(value: int) -> bytes:
    """Unsigned LEB128, the protobuf varint."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_varint(number: int, value: int) -> bytes:
    """Protobuf field of wire type 0 (varint)."""
    return _varint(number << 3) + _varint(value)


def _field_bytes(number: int, payload: bytes) -> bytes:
    """Protobuf field of wire type 2 (length-delimited)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload

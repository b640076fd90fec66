"""CIDs computed in pure Python must be exactly the ones Kubo gives (``ipfs add --cid-version=1 --raw-leaves``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from multiformats import CID, multihash

from fedledger.cid import CHUNK_SIZE, MAX_LINKS, canonical_cid, compute_cid, parse_cid
from fedledger.exceptions import InvalidCIDError, StoreError

# Known answers from Kubo-compatible code (copied from the shared fixtures, so a clean clone has them).
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kubo_cids.tsv"


def fixture_content(size: int) -> bytes:
    """Byte i of the fixture file of ``size`` bytes is (i*7 + 3) % 251 (period 251, so tile one period)."""
    period = ((np.arange(251, dtype=np.int64) * 7 + 3) % 251).astype(np.uint8)
    return np.resize(period, size).tobytes()


def fixture_rows() -> list[Any]:
    """One pytest param per row of kubo_cids.tsv; a missing fixture is a failure, never a silent skip."""
    if not FIXTURE.exists():
        return [pytest.param(-1, f"known-answer fixture {FIXTURE} is missing", id="missing-fixture")]
    rows: list[Any] = []
    for line in FIXTURE.read_text().splitlines():
        if line and line[0].isdigit():
            size, cidv1, _cidv0 = line.split("\t")
            rows.append(pytest.param(int(size), cidv1, id=f"{size}B"))
    return rows


@pytest.mark.parametrize(("size", "expected"), fixture_rows())
def test_matches_kubo_for_every_fixture_row(size: int, expected: str) -> None:
    assert size >= 0, expected
    # Prepare
    data = fixture_content(size)
    # Execute
    cid = compute_cid(data)
    # Assert
    assert cid == expected


def test_fixture_covers_both_dag_boundaries() -> None:
    assert FIXTURE.exists(), f"known-answer fixture {FIXTURE} is missing"
    sizes = {int(line.split("\t")[0]) for line in FIXTURE.read_text().splitlines() if line[:1].isdigit()}
    assert {CHUNK_SIZE, CHUNK_SIZE + 1, MAX_LINKS * CHUNK_SIZE, MAX_LINKS * CHUNK_SIZE + 1} <= sizes


@given(st.binary(max_size=4096))
def test_small_content_is_one_raw_block(data: bytes) -> None:
    # Prepare: the CID built independently through multiformats' own hashing
    expected = CID("base32", 1, "raw", multihash.digest(data, "sha2-256"))
    # Execute / Assert
    assert compute_cid(data) == str(expected)


def test_large_content_is_a_dag_pb_root() -> None:
    cid = parse_cid(compute_cid(b"\x00" * (CHUNK_SIZE + 1)))
    assert cid.codec.name == "dag-pb"
    assert cid.hashfun.name == "sha2-256"


def test_one_flipped_byte_changes_the_cid() -> None:
    data = bytearray(fixture_content(3 * CHUNK_SIZE))
    before = compute_cid(bytes(data))
    data[2 * CHUNK_SIZE + 17] ^= 1
    assert compute_cid(bytes(data)) != before


def test_base58_and_base32_spellings_are_the_same_cid() -> None:
    # js-ipfs answers ``add`` with base58btc CIDv1s such as this one for the empty file
    assert canonical_cid("zb2rhmy65F3REf8SZp7De11gxtECBGgUKaLdiDj7MCGCHxbDW") == compute_cid(b"")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "non-empty"),
        ("garbage", "multibase"),
        ("bafkreiaij7wqrolyv5gx2glkordkq22yacpgg23bdwyweenwlknk37zj", "digest"),
    ],
)
def test_parse_cid_rejects_garbage_and_says_why(text: str, says: str) -> None:
    with pytest.raises(InvalidCIDError, match=says) as info:
        parse_cid(text)
    assert isinstance(info.value, StoreError) and isinstance(info.value, ValueError)


def test_canonical_cid_refuses_cids_it_cannot_verify() -> None:
    cidv0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    sha512 = CID("base32", 1, "raw", multihash.wrap(hashlib.sha512(b"x").digest(), "sha2-512"))
    for text in (cidv0, str(sha512)):
        with pytest.raises(InvalidCIDError, match="cannot verify"):
            canonical_cid(text)


class _NoParser:
    """Stands in for ``multiformats.CID``: any use means the text reached the (quadratic) parser."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"CID.{name} was called: long text must be refused by its length alone")


def test_cid_text_longer_than_the_maximum_is_refused_by_its_length_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: 200,000 base32 characters (the multibase decoder takes seconds on these); no parser available
    from fedledger import cid as cid_module
    from fedledger.cid import MAX_CID_LENGTH
    from fedledger.store import LocalStore

    store = LocalStore(tmp_path)
    long_text = "b" + "a" * 199_999
    monkeypatch.setattr(cid_module, "CID", _NoParser())

    # Execute / Assert: parse, canonicalise and fetch all refuse it before parsing, saying why
    for refuse in (parse_cid, canonical_cid, lambda text: store.get(text, timeout=1.0)):
        with pytest.raises(InvalidCIDError, match=f"200000 characters.*at most {MAX_CID_LENGTH}"):
            refuse(long_text)


@given(digest=st.binary(min_size=32, max_size=32), codec=st.sampled_from(["raw", "dag-pb"]))
def test_the_fast_path_for_canonical_text_agrees_with_multiformats(digest: bytes, codec: str) -> None:
    # Prepare: a canonical CID as multiformats spells it
    text = str(CID("base32", 1, codec, multihash.wrap(digest, "sha2-256")))
    # Execute / Assert: accepted unchanged, and equal to the generic parse's canonical form
    assert canonical_cid(text) == text == str(parse_cid(text).set(base="base32"))


@given(digest=st.binary(min_size=32, max_size=32), last=st.sampled_from("bcdfghjklmnopqrstuvwxyz"))
def test_look_alikes_of_canonical_text_take_the_full_parse(digest: bytes, last: str) -> None:
    # Prepare: a canonical raw CID whose last character is replaced (stray trailing bits, or another digest)
    text = str(CID("base32", 1, "raw", multihash.wrap(digest, "sha2-256")))
    stray = text[:-1] + last
    # Execute: what the full parser says (accepted as some other CID, or refused)
    try:
        expected: str | None = str(parse_cid(stray).set(base="base32"))
    except InvalidCIDError:
        expected = None
    # Assert: the fast path never accepts text the full parse would spell differently
    if expected is None:
        with pytest.raises(InvalidCIDError):
            canonical_cid(stray)
    else:
        assert canonical_cid(stray) == expected

"""The PRG of private rounds: RFC test vectors, the documented HKDF info layout, chunking and refusals."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pytest

from fedledger.privacy import prg
from fedledger.privacy.errors import PrivacyParameterError

# RFC 8439 appendix A.1, test vector #1: key and nonce all zero, block counter 0.
CHACHA20_ZERO_BLOCK = bytes.fromhex(
    "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
    "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"
)


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 written out with the standard library, as an auditor in another language would write it."""
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    okm, block = b"", b""
    for i in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


def test_reference_hkdf_matches_rfc5869_test_case_1() -> None:
    okm = hkdf_sha256(
        bytes.fromhex("0b" * 22),
        bytes.fromhex("000102030405060708090a0b0c"),
        bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"),
        42,
    )

    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_derive_key_follows_the_documented_info_layout() -> None:
    # Prepare: the INFO string exactly as the module docstring specifies it
    info = (
        b"fedledger/secagg/v1\x00"
        + (8).to_bytes(2, "big")
        + b"pairwise"
        + (7).to_bytes(32, "big")
        + (3).to_bytes(32, "big")
        + (2).to_bytes(2, "big")
        + b"\xaa\xbb"
    )

    # Execute
    key = prg.derive_key(b"secret", "pairwise", 7, 3, b"\xaa\xbb")

    # Assert
    assert key == hkdf_sha256(b"secret", b"", info, 32)


@pytest.mark.parametrize(
    "other",
    [("self", 7, 3, b""), ("pairwise", 8, 3, b""), ("pairwise", 7, 4, b""), ("pairwise", 7, 3, b"\x01")],
)
def test_every_binding_changes_the_key(other: tuple[str, int, int, bytes]) -> None:
    assert prg.derive_key(b"s", "pairwise", 7, 3, b"") != prg.derive_key(b"s", *other)


def test_keystream_matches_rfc8439_zero_key_block() -> None:
    words = prg.keystream_words(bytes(32), 16)

    assert words.dtype == np.uint32
    assert words.astype("<u4").tobytes() == CHACHA20_ZERO_BLOCK


def test_keystream_is_one_stream_across_chunks_and_prefixes() -> None:
    # Prepare
    key = prg.derive_key(b"k", "test", 1, 1)
    count = prg.CHUNK_WORDS + 37

    # Execute
    long = prg.keystream_words(key, count)
    short = prg.keystream_words(key, 100)

    # Assert: a prefix of a longer draw is the shorter draw, and chunk borders leave no seam
    assert np.array_equal(long[:100], short)
    assert len(long) == count
    assert np.array_equal(long[prg.CHUNK_WORDS : prg.CHUNK_WORDS + 5], long[-37:-32])


@pytest.mark.parametrize("sign", [1, -1])
def test_add_keystream_adds_or_subtracts_modulo_2_32(sign: int) -> None:
    # Prepare
    key = prg.derive_key(b"k", "test", 1, 2)
    count = prg.CHUNK_WORDS + 3
    start = np.arange(count, dtype=np.uint32) * np.uint32(2654435761)
    expected = (start.astype(np.int64) + sign * prg.keystream_words(key, count).astype(np.int64)) % (1 << 32)

    # Execute
    acc = start.copy()
    prg.add_keystream(acc, key, sign)

    # Assert
    assert np.array_equal(acc, expected.astype(np.uint32))


def test_keystream_is_deterministic_and_keyed() -> None:
    a = prg.keystream_words(bytes(range(32)), 1000)

    assert a.tobytes() == prg.keystream_words(bytes(range(32)), 1000).tobytes()
    assert np.count_nonzero(a == prg.keystream_words(bytes(range(1, 33)), 1000)) < 5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: prg.keystream_words(bytes(31), 4), "32 bytes"),
        (lambda: prg.keystream_words(bytes(32), -1), "cannot draw"),
        (lambda: prg.add_keystream(np.zeros(4, np.uint32), bytes(32), 2), "sign"),
        (lambda: prg.add_keystream(np.zeros(4, np.int64), bytes(32), 1), "uint32"),  # type: ignore[arg-type]
        (lambda: prg.derive_key(b"s", "x" * 70000, 1, 1), "too long"),
        (lambda: prg.derive_key(b"s", "x", -1, 1), "uint256"),
        (lambda: prg.derive_key(b"s", "x", 1, 1 << 256), "uint256"),
    ],
)
def test_refuses_bad_requests_with_one_clear_error(call: object, message: str) -> None:
    with pytest.raises(PrivacyParameterError, match=message):
        call()  # type: ignore[operator]

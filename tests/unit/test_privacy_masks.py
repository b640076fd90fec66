"""Pairwise and self masks: agreement, exact cancellation, and what an outsider holding the uploads sees."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from hypothesis import given, settings
from hypothesis import strategies as st
from privacy_round import REF, masked_uploads, members, random_words, registry

from fedledger.privacy import masks
from fedledger.privacy.errors import KeyAgreementError
from fedledger.privacy.prg import keystream_words


def test_both_sides_of_a_pair_derive_the_same_mask_key() -> None:
    u, v = members(2)

    key_u = masks.pairwise_key(u.keys.private, u.address, v.keys.public, v.address, REF)
    key_v = masks.pairwise_key(
        v.keys.private, v.address.upper().replace("0X", "0x"), u.keys.public, u.address, REF
    )

    assert key_u == key_v
    assert masks.pairwise_sign(u.address, v.address) == -masks.pairwise_sign(v.address, u.address)


def test_lower_address_adds_and_higher_subtracts() -> None:
    # Prepare: one pair, a zero update, the self mask taken back out by hand
    low, high = sorted(members(2), key=lambda m: m.address)
    zero = np.zeros(64, np.uint32)
    pair = keystream_words(
        masks.pairwise_key(low.keys.private, low.address, high.keys.public, high.address, REF), 64
    )

    # Execute
    uploads = masked_uploads([low, high], [zero, zero])

    # Assert
    own_low = keystream_words(masks.self_key(low.seed, low.address, REF), 64)
    own_high = keystream_words(masks.self_key(high.seed, high.address, REF), 64)
    assert np.array_equal(uploads[low.address] - own_low, pair)
    assert np.array_equal(uploads[high.address] - own_high, np.uint32(0) - pair)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 7), length=st.integers(1, 200), seed=st.integers(0, 2**32 - 1))
def test_pairwise_masks_cancel_exactly_in_the_sum(n: int, length: int, seed: int) -> None:
    # Prepare
    group = members(n, salt=str(seed))
    words = random_words(np.random.default_rng(seed), n, length)

    # Execute: everyone's upload, less everyone's self mask
    uploads = masked_uploads(group, words)
    total = np.zeros(length, np.uint32)
    for m in group:
        total += uploads[m.address] - keystream_words(masks.self_key(m.seed, m.address, REF), length)

    # Assert
    assert np.array_equal(total, sum(words, np.zeros(length, np.uint32)))


def test_masking_is_deterministic_and_leaves_the_input_alone() -> None:
    group = members(4)
    words = random_words(np.random.default_rng(1), 4, 500)
    before = [w.copy() for w in words]

    first = masked_uploads(group, words)
    second = masked_uploads(group, words)

    assert all(first[a].tobytes() == second[a].tobytes() for a in first)
    assert all(np.array_equal(w, b) for w, b in zip(words, before, strict=True))


def test_masks_are_bound_to_the_round() -> None:
    group = members(3)
    words = [np.zeros(256, np.uint32)] * 3

    this = masked_uploads(group, words)
    other = masked_uploads(group, words, masks.RoundRef(REF.task_id, REF.round_id + 1))

    assert all(np.count_nonzero(this[a] == other[a]) < 3 for a in this)


def top_nibble_chi2(words: np.ndarray) -> float:
    """Pearson's chi-square of the top 4 bits against uniform (15 degrees of freedom)."""
    counts = np.bincount(words >> np.uint32(28), minlength=16)
    expected = len(words) / 16
    return float(((counts - expected) ** 2 / expected).sum())


def test_an_outsider_sees_uniform_words_whatever_the_update() -> None:
    # Prepare: two rounds of the same group with very different inputs for member 0 (all zero vs. all extreme)
    length = 1 << 16
    group = members(5)
    zeros = [np.zeros(length, np.uint32)] * 5
    extreme = [np.full(length, 0x7FFFFFFF, np.uint32)] + zeros[1:]

    # Execute
    masked_zero = masked_uploads(group, zeros)[group[0].address]
    masked_extreme = masked_uploads(group, extreme, masks.RoundRef(REF.task_id, REF.round_id + 1))[
        group[0].address
    ]

    # Assert: both pass a uniformity test (chi-square 15 df: 99.9999 % quantile ~ 52), neither keeps the input
    # in more than a handful of coordinates, and neither correlates with its input
    for masked, words in ((masked_zero, zeros[0]), (masked_extreme, extreme[0])):
        assert top_nibble_chi2(masked) < 52
        assert np.count_nonzero(masked == words) <= 2
        assert abs(masked.astype(np.float64).mean() / 2**32 - 0.5) < 0.01
    two = np.concatenate([masked_zero, masked_extreme]).astype(np.float64)
    label = np.r_[np.zeros(length), np.ones(length)]
    assert abs(np.corrcoef(two, label)[0, 1]) < 0.02


def test_the_sum_of_all_uploads_still_hides_the_updates_without_the_self_seeds() -> None:
    group = members(4)
    words = random_words(np.random.default_rng(2), 4, 4096)

    uploads = masked_uploads(group, words)
    total = sum(uploads.values(), np.zeros(4096, np.uint32))

    assert np.count_nonzero(total == sum(words, np.zeros(4096, np.uint32))) <= 2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: masks.canonical_address("0x1234"), "20-byte hex address"),
        (lambda: masks.pairwise_sign("0x" + "1" * 40, "0x" + "1" * 40), "against itself"),
        (lambda: masks.shared_secret(bytes(32), bytes(32), "0xabc"), "low-order point"),
        (lambda: masks.shared_secret(bytes(32), bytes(31), "0xabc"), "not 32 raw bytes"),
        (lambda: masks.public_key_of(bytes(16)), "32 raw bytes"),
        (lambda: masks.self_key(bytes(8), "0x" + "1" * 40, REF), "seed is 32 bytes"),
    ],
)
def test_refuses_malformed_keys_and_addresses(call: object, message: str) -> None:
    with pytest.raises(KeyAgreementError, match=message):
        call()  # type: ignore[operator]


def test_refuses_self_among_peers_twice_named_peers_and_non_word_input() -> None:
    me, peer = members(2)
    public = registry([me, peer])
    words = np.zeros(8, np.uint32)

    with pytest.raises(KeyAgreementError, match="among its own peers"):
        masks.mask_update(words, me.address, me.keys, public, me.seed, REF)
    with pytest.raises(KeyAgreementError, match="twice"):
        masks.mask_update(
            words,
            me.address,
            me.keys,
            {peer.address: peer.keys.public, peer.address.upper().replace("0X", "0x"): b""},
            me.seed,
            REF,
        )
    with pytest.raises(KeyAgreementError, match="flat uint32"):
        masks.mask_update(words.astype(np.int64), me.address, me.keys, {}, me.seed, REF)


def test_fresh_keys_and_seeds_come_from_the_os_csprng() -> None:
    a, b = masks.generate_keypair(), masks.generate_keypair()

    assert a.private != b.private and len(a.public) == 32
    assert masks.public_key_of(a.private) == a.public
    assert masks.new_self_seed() != masks.new_self_seed()


def test_masks_follow_the_documented_derivation_written_out_independently() -> None:
    # Prepare: the spec of prg and masks, rebuilt from stdlib HMAC and the raw X25519 / ChaCha20 primitives
    def hkdf(ikm: bytes, label: bytes, context: bytes) -> bytes:
        info = (
            b"fedledger/secagg/v1\x00"
            + len(label).to_bytes(2, "big")
            + label
            + REF.task_id.to_bytes(32, "big")
            + REF.round_id.to_bytes(32, "big")
            + len(context).to_bytes(2, "big")
            + context
        )
        prk = hmac.new(bytes(32), ikm, hashlib.sha256).digest()
        return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()

    def words(key: bytes, n: int) -> np.ndarray:
        stream = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor().update(bytes(4 * n))
        return np.frombuffer(stream, "<u4").astype(np.uint32)

    low, high = sorted(members(2, salt="spec"), key=lambda m: m.address)
    secret = X25519PrivateKey.from_private_bytes(high.keys.private).exchange(
        X25519PublicKey.from_public_bytes(low.keys.public)
    )
    pair = words(hkdf(secret, b"pairwise", bytes.fromhex(low.address[2:] + high.address[2:])), 8)
    own = words(hkdf(high.seed, b"self", bytes.fromhex(high.address[2:])), 8)
    update = np.arange(8, dtype=np.uint32)

    # Execute
    masked = masks.mask_update(
        update, high.address, high.keys, {low.address: low.keys.public}, high.seed, REF
    )

    # Assert: the higher address subtracts the pair's words
    assert np.array_equal(masked, update + own - pair)

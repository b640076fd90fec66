"""Bonawitz-style masking: pairwise masks from X25519 key agreement that cancel in the sum, plus a self mask.

Bonawitz et al. 2017 ("Practical Secure Aggregation for Privacy-Preserving Machine Learning", CCS, eprint
2017/281, section 4): every pair (u, v) of a round agrees on a secret s_uv by Diffie-Hellman (here X25519,
RFC 7748); both expand it with the same PRG into p_uv; the lower address adds p_uv and the higher subtracts it,
so the pairwise masks cancel in the sum of everyone's upload. A self mask PRG(b_u) from a fresh per-participant
seed covers the case where u's pairwise masks get revealed because u was (wrongly) thought to have dropped:

    masked_u = word_u + PRG(b_u) + Σ_{v > u} p_uv - Σ_{v < u} p_uv   (mod 2^32)

Addresses are Ethereum addresses, compared as 20-byte numbers (canonical lowercase hex). The pairwise stream is
bound to the round and to both addresses (lower first), the self stream to the round and its owner (``prg``).
The X25519 key pair of the masks must be fresh for every round: once a dropped participant's key is rebuilt, every
mask ever derived from it is public.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from fedledger.privacy.errors import KeyAgreementError
from fedledger.privacy.prg import add_keystream, derive_key

U32 = npt.NDArray[np.uint32]
KEY_BYTES = 32
SEED_BYTES = 32
PAIRWISE = "pairwise"
SELF = "self"
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


@dataclass(frozen=True)
class RoundRef:
    """The on-chain round a mask belongs to: every PRG stream is bound to it."""

    task_id: int
    round_id: int


@dataclass(frozen=True)
class KeyPair:
    """A raw X25519 key pair (32 bytes each), fresh for one round."""

    private: bytes
    public: bytes


def canonical_address(address: str) -> str:
    """An Ethereum address as "0x" + 40 lowercase hex digits, the form masks are ordered and bound by."""
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
        raise KeyAgreementError(f"{address!r} is not a 0x-prefixed 20-byte hex address")
    return address.lower()


def generate_keypair() -> KeyPair:
    """A fresh X25519 key pair from the operating system's CSPRNG."""
    key = X25519PrivateKey.generate()
    return KeyPair(key.private_bytes_raw(), key.public_key().public_bytes_raw())


def public_key_of(private: bytes) -> bytes:
    """The raw X25519 public key of a raw private key (used to check a rebuilt key against the registered one)."""
    return _private(private).public_key().public_bytes_raw()


def new_self_seed() -> bytes:
    """A fresh 32-byte self-mask seed b_u from the operating system's CSPRNG."""
    return secrets.token_bytes(SEED_BYTES)


def seed_commitment(seed: bytes, me: str, ref: RoundRef) -> bytes:
    """sha256(b"fedledger/secagg/v1 seed" | task (32 bytes) | round (32 bytes) | address (20 bytes) | seed).

    Published with the round keys, it lets anyone check a rebuilt self seed (and so name a holder who revealed a
    false share) without learning the seed: a 32-byte uniform seed cannot be guessed from its hash.
    """
    if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
        raise KeyAgreementError(f"a self-mask seed is {SEED_BYTES} bytes")
    owner = bytes.fromhex(canonical_address(me)[2:])
    data = b"fedledger/secagg/v1 seed" + ref.task_id.to_bytes(32, "big") + ref.round_id.to_bytes(32, "big")
    return hashlib.sha256(data + owner + seed).digest()


def _private(private: bytes) -> X25519PrivateKey:
    if not isinstance(private, bytes) or len(private) != KEY_BYTES:
        raise KeyAgreementError(f"an X25519 private key is {KEY_BYTES} raw bytes")
    return X25519PrivateKey.from_private_bytes(private)


def shared_secret(private: bytes, peer_public: bytes, peer: str = "peer") -> bytes:
    """X25519(private, peer_public); a low-order public key (all-zero secret) is refused, naming ``peer``."""
    if not isinstance(peer_public, bytes) or len(peer_public) != KEY_BYTES:
        raise KeyAgreementError(f"public key of {peer} is not {KEY_BYTES} raw bytes")
    try:
        return _private(private).exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError as exc:
        raise KeyAgreementError(f"public key of {peer} yields no shared secret (low-order point)") from exc


def pairwise_sign(me: str, peer: str) -> int:
    """+1 when ``me`` is the lower address of the pair (it adds the pair's mask), -1 when it is the higher."""
    a, b = canonical_address(me), canonical_address(peer)
    if a == b:
        raise KeyAgreementError(f"{me} cannot mask against itself")
    return 1 if a < b else -1


def pairwise_key(private: bytes, me: str, peer_public: bytes, peer: str, ref: RoundRef) -> bytes:
    """The PRG key of the pair (me, peer): both sides derive the same one from their own private key."""
    low, high = sorted((canonical_address(me), canonical_address(peer)))
    context = bytes.fromhex(low[2:]) + bytes.fromhex(high[2:])
    secret = shared_secret(private, peer_public, peer)
    return derive_key(secret, PAIRWISE, ref.task_id, ref.round_id, context)


def self_key(seed: bytes, me: str, ref: RoundRef) -> bytes:
    """The PRG key of a participant's self mask, from its seed b_u."""
    if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
        raise KeyAgreementError(f"a self-mask seed is {SEED_BYTES} bytes")
    owner = bytes.fromhex(canonical_address(me)[2:])
    return derive_key(seed, SELF, ref.task_id, ref.round_id, owner)


def _words(vector: npt.ArrayLike) -> U32:
    arr = np.asarray(vector)
    if arr.dtype != np.uint32 or arr.ndim != 1:
        raise KeyAgreementError(f"masking needs a flat uint32 vector, got {arr.dtype} of shape {arr.shape}")
    return arr


def mask_update(
    words: npt.ArrayLike,
    me: str,
    keys: KeyPair,
    peers: Mapping[str, bytes],
    self_seed: bytes,
    ref: RoundRef,
) -> U32:
    """The upload of participant ``me``: its encoded update plus its self mask and its pairwise masks (mod 2^32).

    Parameters: ``words`` the output of ``quantize.encode_update``; ``me`` its address; ``keys`` its round key
    pair; ``peers`` every other participant of the round's key set, address -> raw X25519 public key; ``self_seed``
    its b_u; ``ref`` the round. Returns a new uint32 vector; ``words`` is not modified.
    """
    out = _words(words).copy()
    add_keystream(out, self_key(self_seed, me, ref), 1)
    mine = canonical_address(me)
    if len({canonical_address(peer) for peer in peers}) != len(peers):
        raise KeyAgreementError("the peer list names one address twice (in different letter case)")
    for peer, public in sorted(peers.items(), key=lambda item: canonical_address(item[0])):
        if canonical_address(peer) == mine:
            raise KeyAgreementError(f"{me} is listed among its own peers")
        sign = pairwise_sign(me, peer)
        add_keystream(out, pairwise_key(keys.private, me, public, peer, ref), sign)
    return out

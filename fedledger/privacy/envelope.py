"""Sealed share envelopes: how a participant's Shamir shares reach each peer through public storage (IPFS).

Bonawitz et al. 2017 (section 4, round 1) route every share through the server, encrypted for its recipient with
an authenticated cipher under a key agreed from a second key pair (c_u, separate from the mask key s_u), so the
server relays shares without reading them. On fedledger the relay is public storage under on-chain digests, so
the same holds for everyone. One envelope per (sender, recipient, round) carries both of the sender's shares for
that recipient: its self-seed share and its mask-key share.

key   = HKDF (``prg.derive_key``) over X25519(c_sender, c_recipient), label "envelope", context = sender | recipient
        (20 bytes each, in that order, so the two directions of a pair use different keys);
box   = ChaCha20-Poly1305 (RFC 8439) with a 12-byte zero nonce (each key seals exactly one envelope) and the same
        40 address bytes as associated data; plaintext = seed share (70 bytes) | key share (70 bytes).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from fedledger.privacy.errors import KeyAgreementError
from fedledger.privacy.masks import RoundRef, canonical_address, shared_secret
from fedledger.privacy.prg import derive_key
from fedledger.privacy.shamir import SHARE_BYTES, Share

ENVELOPE = "envelope"
SEALED_BYTES = 2 * SHARE_BYTES + 16  # two shares and the Poly1305 tag
_NONCE = bytes(12)


def _box(
    private: bytes, peer_public: bytes, peer: str, sender: str, recipient: str, ref: RoundRef
) -> tuple[ChaCha20Poly1305, bytes]:
    """The AEAD of one direction of a pair, and its route (sender | recipient) used as associated data."""
    route = bytes.fromhex(canonical_address(sender)[2:]) + bytes.fromhex(canonical_address(recipient)[2:])
    key = derive_key(shared_secret(private, peer_public, peer), ENVELOPE, ref.task_id, ref.round_id, route)
    return ChaCha20Poly1305(key), route


def seal_shares(
    sender_private: bytes,
    sender: str,
    recipient_public: bytes,
    recipient: str,
    ref: RoundRef,
    seed_share: Share,
    key_share: Share,
) -> bytes:
    """The envelope carrying ``sender``'s two shares for ``recipient`` (authenticated, bound to route and round).

    ``sender_private`` is the sender's envelope (c) private key, ``recipient_public`` the recipient's c public key.
    """
    box, route = _box(sender_private, recipient_public, recipient, sender, recipient, ref)
    return box.encrypt(_NONCE, seed_share.encode() + key_share.encode(), route)


def open_shares(
    recipient_private: bytes,
    recipient: str,
    sender_public: bytes,
    sender: str,
    ref: RoundRef,
    sealed: bytes,
) -> tuple[Share, Share]:
    """The (seed share, key share) that ``sender`` sealed for ``recipient``; anything tampered or misrouted fails.

    Raises ``KeyAgreementError`` naming the sender when the envelope does not open.
    """
    if len(sealed) != SEALED_BYTES:
        raise KeyAgreementError(f"envelope from {sender} is {len(sealed)} bytes, expected {SEALED_BYTES}")
    box, route = _box(recipient_private, sender_public, sender, sender, recipient, ref)
    try:
        plain = box.decrypt(_NONCE, sealed, route)
    except InvalidTag as exc:
        raise KeyAgreementError(
            f"envelope from {sender} does not open: tampered, misrouted or another round"
        ) from exc
    return Share.decode(plain[:SHARE_BYTES]), Share.decode(plain[SHARE_BYTES:])

"""Sealed share envelopes: the recipient opens what the sender sealed; nobody else, and nothing altered, does."""

from __future__ import annotations

import pytest
from privacy_round import REF, members

from fedledger.privacy import envelope, shamir
from fedledger.privacy.errors import KeyAgreementError
from fedledger.privacy.masks import RoundRef

SECRET = bytes(range(32))


def test_the_recipient_opens_the_senders_shares() -> None:
    # Prepare
    sender, recipient, _ = members(3, salt="envelope")
    seed_share, key_share = shamir.split(SECRET, 2, 3)[1], shamir.split(bytes(32), 2, 3)[1]

    # Execute
    sealed = envelope.seal_shares(
        sender.keys.private,
        sender.address,
        recipient.keys.public,
        recipient.address,
        REF,
        seed_share,
        key_share,
    )
    opened = envelope.open_shares(
        recipient.keys.private, recipient.address, sender.keys.public, sender.address, REF, sealed
    )

    # Assert
    assert len(sealed) == envelope.SEALED_BYTES
    assert seed_share.encode() not in sealed
    assert opened == (seed_share, key_share)


def test_tampered_misrouted_or_replayed_envelopes_do_not_open() -> None:
    sender, recipient, other = members(3, salt="envelope")
    share = shamir.split(SECRET, 2, 3)[0]
    sealed = envelope.seal_shares(
        sender.keys.private, sender.address, recipient.keys.public, recipient.address, REF, share, share
    )
    flipped = bytes([sealed[0] ^ 1]) + sealed[1:]
    attempts = [
        (recipient, sender, REF, flipped),  # one bit changed
        (other, sender, REF, sealed),  # someone else's envelope
        (recipient, other, REF, sealed),  # claimed to come from another sender
        (recipient, sender, RoundRef(REF.task_id, REF.round_id + 1), sealed),  # replayed in the next round
    ]

    for opener, claimed, ref, data in attempts:
        with pytest.raises(KeyAgreementError, match="does not open"):
            envelope.open_shares(
                opener.keys.private, opener.address, claimed.keys.public, claimed.address, ref, data
            )
    with pytest.raises(KeyAgreementError, match="expected 156"):
        envelope.open_shares(
            recipient.keys.private, recipient.address, sender.keys.public, sender.address, REF, sealed[:-1]
        )


def test_the_two_directions_of_a_pair_use_different_keys() -> None:
    a, b = members(2, salt="envelope")
    share = shamir.split(SECRET, 1, 1)[0]

    a_to_b = envelope.seal_shares(a.keys.private, a.address, b.keys.public, b.address, REF, share, share)
    b_to_a = envelope.seal_shares(b.keys.private, b.address, a.keys.public, a.address, REF, share, share)

    assert a_to_b != b_to_a

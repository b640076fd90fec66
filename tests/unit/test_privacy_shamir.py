"""Shamir t-of-n sharing of 32-byte secrets: any t rebuild, t - 1 do not, bad shares are named."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedledger.privacy import shamir
from fedledger.privacy.errors import SecretSharingError
from fedledger.privacy.shamir import PRIME, Share

SECRET = bytes(range(32))


def test_rebuilds_a_hand_made_line() -> None:
    # Prepare: f(x) = s + 5x, threshold 2
    s = int.from_bytes(SECRET, "big")
    shares = [Share(1, s + 5), Share(2, s + 10), Share(7, s + 35)]

    # Execute / Assert: any two points of the line give f(0)
    assert shamir.combine(shares[:2], 2) == SECRET
    assert shamir.combine(shares[1:], 2) == SECRET
    assert shamir.combine(shares, 2) == SECRET


def test_the_field_is_the_mersenne_prime_2_521_minus_1() -> None:
    assert PRIME == 2**521 - 1
    assert pow(3, PRIME - 1, PRIME) == 1  # Fermat witness (the primality itself is a known result)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), holders=st.integers(1, 12), secret=st.binary(min_size=32, max_size=32))
def test_any_threshold_subset_rebuilds_the_secret(data: st.DataObject, holders: int, secret: bytes) -> None:
    # Prepare
    threshold = data.draw(st.integers(1, holders))
    shares = shamir.split(secret, threshold, holders)
    subset = data.draw(st.lists(st.sampled_from(shares), min_size=threshold, unique=True))

    # Execute / Assert
    if len({s.x for s in subset}) >= threshold:
        assert shamir.combine(subset, threshold) == secret


@pytest.mark.parametrize(("threshold", "holders"), [(2, 3), (3, 5), (7, 10)])
def test_one_share_too_few_is_refused(threshold: int, holders: int) -> None:
    shares = shamir.split(SECRET, threshold, holders)

    with pytest.raises(SecretSharingError, match=f"cannot rebuild a {threshold}-of-n"):
        shamir.combine(shares[: threshold - 1], threshold)


def test_t_minus_1_shares_are_consistent_with_every_secret() -> None:
    # Prepare: t - 1 real shares of SECRET
    threshold = 4
    shares = shamir.split(SECRET, threshold, 6)[: threshold - 1]

    for candidate in (bytes(32), b"\xff" * 32, SECRET[::-1]):
        # Execute: the polynomial through (0, candidate) and the t - 1 shares gives a t-th share at x = 6 ...
        nodes = [(0, int.from_bytes(candidate, "big"))] + [(s.x, s.y) for s in shares]
        completed = [*shares, Share(6, _lagrange(nodes, 6))]

        # Assert: ... and with it the real t - 1 shares rebuild the candidate: they rule no secret out
        assert shamir.combine(completed, threshold) == candidate


def _lagrange(nodes: list[tuple[int, int]], x: int) -> int:
    """Value at x of the polynomial through ``nodes``, written out independently of the module."""
    total = 0
    for j, (xj, yj) in enumerate(nodes):
        num, den = 1, 1
        for m, (xm, _) in enumerate(nodes):
            if m != j:
                num, den = num * (x - xm) % PRIME, den * (xj - xm) % PRIME
        total = (total + yj * num * pow(den, -1, PRIME)) % PRIME
    return total


def test_understating_the_threshold_rebuilds_garbage_not_the_secret() -> None:
    shares = shamir.split(SECRET, 3, 5)

    with pytest.raises(SecretSharingError, match="inconsistent"):
        shamir.combine(shares[:3], 2)
    assert shamir.combine(shares[:3], 3) == SECRET


def test_a_tampered_share_is_named() -> None:
    shares = shamir.split(SECRET, 3, 5)
    bad = [*shares[:4], Share(5, (shares[4].y + 1) % PRIME)]

    with pytest.raises(SecretSharingError, match="x = 5 is inconsistent"):
        shamir.combine(bad, 3)


def test_two_different_shares_at_one_x_are_refused_and_a_repeated_one_counts_once() -> None:
    shares = shamir.split(SECRET, 3, 5)

    with pytest.raises(SecretSharingError, match="two different shares claim x = 1"):
        shamir.combine([shares[0], Share(1, shares[0].y + 1), shares[1], shares[2]], 3)
    with pytest.raises(SecretSharingError, match="2 distinct shares"):
        shamir.combine([shares[0], shares[0], shares[1]], 3)


def test_shares_round_trip_through_their_70_byte_encoding() -> None:
    shares = shamir.split(SECRET, 2, 3)

    encoded = [s.encode() for s in shares]

    assert {len(e) for e in encoded} == {70}
    assert [Share.decode(e) for e in encoded] == shares


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: Share.decode(bytes(69)), "70 bytes"),
        (lambda: Share.decode((1).to_bytes(4, "big") + PRIME.to_bytes(66, "big")), "not a field element"),
        (lambda: Share.decode(bytes(70)), "outside 1.."),
        (lambda: shamir.split(bytes(31), 2, 3), "32 bytes"),
        (lambda: shamir.split(SECRET, 4, 3), "threshold"),
        (lambda: shamir.split(SECRET, 0, 3), "threshold"),
        (lambda: shamir.combine([], 0), "at least 1"),
        (lambda: shamir.combine([Share(1, 1 << 300)], 1), "no 32-byte secret"),
    ],
)
def test_refuses_malformed_shares_and_requests(call: object, message: str) -> None:
    with pytest.raises(SecretSharingError, match=message):
        call()  # type: ignore[operator]

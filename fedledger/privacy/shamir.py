"""t-of-n Shamir secret sharing of 32-byte secrets over GF(2^521 - 1).

Bonawitz et al. 2017 (section 4) let a participant's peers rebuild either its self-mask seed (it survived) or its
mask private key (it dropped) from t shares, and never from fewer: Shamir 1979 ("How to Share a Secret", CACM 22)
gives exactly that, with t - 1 shares carrying no information about the secret.

Field: the integers modulo the Mersenne prime P = 2^521 - 1, far above any 32-byte secret (< 2^256), so a secret is
its own field element (big-endian) and a reconstruction >= 2^256 is proof of inconsistent shares. Share x
coordinates are 1..n (holder i of the round's sorted key set holds x = i + 1); y is the polynomial's value.
Encoding of a share: x as 4 bytes then y as 66 bytes, both big-endian (70 bytes).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from fedledger.privacy.errors import SecretSharingError

PRIME = (1 << 521) - 1
SECRET_BYTES = 32
X_BYTES = 4
Y_BYTES = 66
SHARE_BYTES = X_BYTES + Y_BYTES
MAX_HOLDERS = 1 << 16


@dataclass(frozen=True)
class Share:
    """One point (x, y) of a secret's polynomial; x in 1..n, y in [0, P)."""

    x: int
    y: int

    def encode(self) -> bytes:
        """x (4 bytes) then y (66 bytes), big-endian."""
        return self.x.to_bytes(X_BYTES, "big") + self.y.to_bytes(Y_BYTES, "big")

    @classmethod
    def decode(cls, data: bytes) -> Share:
        """The share encoded by ``encode``; anything else is a ``SecretSharingError``."""
        if len(data) != SHARE_BYTES:
            raise SecretSharingError(f"a share is {SHARE_BYTES} bytes, got {len(data)}")
        share = cls(int.from_bytes(data[:X_BYTES], "big"), int.from_bytes(data[X_BYTES:], "big"))
        _check_share(share)
        return share


def _check_share(share: Share) -> None:
    if not 1 <= share.x <= MAX_HOLDERS:
        raise SecretSharingError(f"share x = {share.x} is outside 1..{MAX_HOLDERS}")
    if not 0 <= share.y < PRIME:
        raise SecretSharingError(f"share y at x = {share.x} is not a field element")


def split(secret: bytes, threshold: int, holders: int) -> list[Share]:
    """Shares of ``secret`` for holders 1..``holders``; any ``threshold`` of them rebuild it, fewer reveal nothing.

    The polynomial's other coefficients are uniform in the field, drawn from the operating system's CSPRNG.
    """
    if len(secret) != SECRET_BYTES:
        raise SecretSharingError(f"a shared secret is {SECRET_BYTES} bytes, got {len(secret)}")
    if not 1 <= threshold <= holders <= MAX_HOLDERS:
        raise SecretSharingError(f"need 1 <= threshold ({threshold}) <= holders ({holders}) <= {MAX_HOLDERS}")
    coefficients = [int.from_bytes(secret, "big")] + [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    return [Share(x, _evaluate(coefficients, x)) for x in range(1, holders + 1)]


def _evaluate(coefficients: Sequence[int], x: int) -> int:
    """Horner's rule modulo P."""
    acc = 0
    for c in reversed(coefficients):
        acc = (acc * x + c) % PRIME
    return acc


@lru_cache(maxsize=4096)
def _weights(xs: tuple[int, ...], at: int) -> tuple[int, ...]:
    """The Lagrange weights of the points at ``xs`` for the value at ``at``: they depend on the x coordinates
    only, so one set serves every secret the same holders share (a round rebuilds one secret per participant)."""
    out = []
    for j, xj in enumerate(xs):
        num, den = 1, 1
        for m, xm in enumerate(xs):
            if m != j:
                num = num * (at - xm) % PRIME
                den = den * (xj - xm) % PRIME
        out.append(num * pow(den, -1, PRIME) % PRIME)
    return tuple(out)


def _interpolate(points: Sequence[Share], at: int) -> int:
    """The value at ``at`` of the unique polynomial of degree < len(points) through ``points`` (Lagrange)."""
    weights = _weights(tuple(p.x for p in points), at)
    return sum(p.y * w for p, w in zip(points, weights, strict=True)) % PRIME


def combine(shares: Sequence[Share], threshold: int) -> bytes:
    """The secret behind ``shares``: interpolated from the first ``threshold``, checked against all the others.

    Raises ``SecretSharingError`` for fewer than ``threshold`` distinct shares, two different shares at one x,
    shares not on one polynomial of degree < threshold, or a result that is no 32-byte secret.
    """
    if threshold < 1:
        raise SecretSharingError(f"threshold must be at least 1, got {threshold}")
    by_x: dict[int, Share] = {}
    for share in shares:
        _check_share(share)
        if by_x.setdefault(share.x, share).y != share.y:
            raise SecretSharingError(f"two different shares claim x = {share.x}")
    points = [by_x[x] for x in sorted(by_x)]
    if len(points) < threshold:
        raise SecretSharingError(f"{len(points)} distinct shares cannot rebuild a {threshold}-of-n secret")
    basis, extra = points[:threshold], points[threshold:]
    for point in extra:
        if _interpolate(basis, point.x) != point.y:
            raise SecretSharingError(f"share at x = {point.x} is inconsistent with the others")
    value = _interpolate(basis, 0)
    if value >= 1 << (8 * SECRET_BYTES):
        raise SecretSharingError("the shares rebuild no 32-byte secret: they are inconsistent or corrupt")
    return value.to_bytes(SECRET_BYTES, "big")

"""The outcome of every submission of a round, as the chain records it: one reason byte per submission.

Submission ``i`` of a round is the ``i``-th ``UpdateSubmitted`` event of that round in chain order (block number,
then log index), which every reader of the chain sees identically. When the aggregator finalizes (or fails) a
round it sends ``reasons``: byte ``i`` is 0 when submission ``i`` is in the global model, else the code of the
reason it was left out. The contract checks the length (one byte per submission) and that every code is known,
computes ``numIncluded`` (the zero bytes) and ``includedRoot = keccak256(reasons)``, and emits all three, so an
auditor learns from the chain alone exactly which submissions were used and why the others were not.

The codes are part of the protocol (README); their order here is the order the aggregator checks them in.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils.crypto import keccak

INCLUDED = "included"

# Reason name -> byte. Never renumber: the chain stores the bytes.
REASON_CODES: dict[str, int] = {
    INCLUDED: 0,
    "too_large": 1,
    "digest_mismatch": 2,
    "cid_mismatch": 3,
    "unavailable": 4,
    "malformed": 5,
    "names_mismatch": 6,
    "shape_mismatch": 7,
    "non_finite": 8,
    "duplicate": 9,
    "unchanged": 10,
    "over_cap": 11,
    "outlier": 12,
    "not_sampled": 13,
}
REASON_NAMES: dict[int, str] = {code: name for name, code in REASON_CODES.items()}
EXCLUSION_REASONS = tuple(name for name in REASON_CODES if name != INCLUDED)


def encode_outcomes(outcomes: Sequence[str]) -> bytes:
    """One byte per submission, in submission order: 0 for ``"included"``, else the reason's code."""
    try:
        return bytes(REASON_CODES[outcome] for outcome in outcomes)
    except KeyError as exc:
        raise ValueError(f"unknown outcome {exc.args[0]!r}; known: {', '.join(REASON_CODES)}") from None


def decode_outcomes(reasons: bytes) -> list[str]:
    """The outcome name of each submission; an unknown code (the contract refuses them) reads ``code_N``."""
    return [REASON_NAMES.get(byte, f"code_{byte}") for byte in reasons]


def included_indices(reasons: bytes) -> list[int]:
    """Submission indices whose outcome is ``included``, ascending."""
    return [i for i, byte in enumerate(reasons) if byte == 0]


def included_root(reasons: bytes) -> bytes:
    """keccak256 of the reason bytes: the ``includedRoot`` the contract emits."""
    return bytes(keccak(reasons))

"""The outcome of every submission of a round, as the chain records it: one reason byte per submission.

Submission ``i`` of a round is the ``i``-th ``UpdateSubmitted`` event of that round in chain order (block number,
then log index), which every reader of the chain sees identically. When the aggregator finalizes (or fails) a
round it sends ``reasons``: byte ``i`` is 0 when submission ``i`` is in the global model, else the code of the
reason it was left out. The contract checks the length (one byte per submission) and that every code is known,
computes ``numIncluded`` (the zero bytes) and ``includedRoot = keccak256(reasons)``, and emits all three, so an
auditor learns from the chain alone exactly which submissions were used and why the others were not.

The codes are part of the protocol (README) and are defined once, with their names, in ``fedledger.rules.reasons``.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils.crypto import keccak

from fedledger.rules.reasons import BY_CODE, Reason

INCLUDED = Reason.INCLUDED

# Reason name -> byte (``Reason.code``). Never renumber: the chain stores the bytes.
REASON_NAMES: dict[int, str] = {code: BY_CODE[code] for code in sorted(BY_CODE)}  # code -> Reason (a str)
REASON_CODES: dict[str, int] = {name: code for code, name in REASON_NAMES.items()}
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

"""The commitment to exactly which updates a global model includes: a bitmap over submission indices.

Submission ``i`` of a round is the ``i``-th ``UpdateSubmitted`` event of that round in chain order (block number,
then log index), which every reader of the chain sees identically. Bit ``i`` of the 256-bit ``includedRoot`` is set
when that submission went into the global model. The contract checks the bitmap on-chain (its population count must
equal ``numIncluded`` and no bit may point past the last submission), so unlike a Merkle root the chain itself
enforces it, finalize costs the same for any number of participants, and an auditor reads the included set directly
instead of guessing which subset the aggregator used. The price: at most 256 participants per task.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_SUBMISSIONS = 256


def encode_included(indices: Iterable[int]) -> bytes:
    """Return the 32-byte big-endian bitmap with bit ``i`` set for each submission index ``i``."""
    bitmap = 0
    for index in indices:
        if not 0 <= index < MAX_SUBMISSIONS:
            raise ValueError(f"submission index {index} is outside 0..{MAX_SUBMISSIONS - 1}")
        bitmap |= 1 << index
    return bitmap.to_bytes(32, "big")


def decode_included(root: bytes) -> list[int]:
    """Return the sorted submission indices whose bits are set in a 32-byte bitmap."""
    if len(root) != 32:
        raise ValueError(f"an inclusion bitmap is 32 bytes, got {len(root)}")
    bitmap = int.from_bytes(root, "big")
    return [i for i in range(MAX_SUBMISSIONS) if bitmap >> i & 1]

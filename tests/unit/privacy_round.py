"""A private round's participants, made deterministic for tests: keys and seeds from SHA-256 of labels."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fedledger.privacy.masks import KeyPair, RoundRef, mask_update, public_key_of

REF = RoundRef(task_id=7, round_id=3)


def fixed_bytes(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def address(i: int) -> str:
    """A participant address whose order differs from i's (so ordering is really exercised)."""
    return "0x" + fixed_bytes(f"address {i}")[:20].hex()


@dataclass(frozen=True)
class Member:
    address: str
    keys: KeyPair
    seed: bytes


def members(n: int, salt: str = "") -> list[Member]:
    out = []
    for i in range(n):
        private = fixed_bytes(f"key {salt} {i}")
        out.append(
            Member(address(i), KeyPair(private, public_key_of(private)), fixed_bytes(f"seed {salt} {i}"))
        )
    return out


def registry(group: list[Member]) -> dict[str, bytes]:
    return {m.address: m.keys.public for m in group}


def masked_uploads(
    group: list[Member], words: list[npt.NDArray[np.uint32]], ref: RoundRef = REF
) -> dict[str, npt.NDArray[np.uint32]]:
    """Every member's masked upload, each masked against all the others (the key set of the round)."""
    public = registry(group)
    return {
        m.address: mask_update(
            w, m.address, m.keys, {a: k for a, k in public.items() if a != m.address}, m.seed, ref
        )
        for m, w in zip(group, words, strict=True)
    }


def random_words(rng: np.random.Generator, n: int, length: int) -> list[npt.NDArray[np.uint32]]:
    return [rng.integers(0, 1 << 32, size=length, dtype=np.uint32) for _ in range(n)]

"""Unmasking: the exact integer sum of the survivors' updates from published material, for aggregator and auditor.

Bonawitz et al. 2017 (section 4, round 4): for each survivor u in U the server learns b_u and removes PRG(b_u);
for each dropped participant d in D it learns d's mask private key and removes the pairwise masks p_ud that the
survivors added or subtracted for d (those between two survivors cancel by themselves). Nobody may learn both
b_k and k's private key for one k: with both, masked_k minus its masks is k's own update. This module refuses such
material outright, so an honest auditor's recomputation can never be the step that exposes an update.

    Σ_{u in U} word_u = Σ_{u in U} masked_u - Σ_{u in U} PRG(b_u) - Σ_{u in U, d in D} sign(u, d) p_ud  (mod 2^32)

Sums modulo 2^32 are exact and order-free, so every machine gets the same words whatever order it adds in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fedledger.privacy.errors import KeyAgreementError, UnmaskError
from fedledger.privacy.masks import (
    RoundRef,
    canonical_address,
    pairwise_key,
    pairwise_sign,
    public_key_of,
    seed_commitment,
    self_key,
)
from fedledger.privacy.prg import add_keystream
from fedledger.privacy.quantize import QuantParams, apply_mean, capped_weight

U32 = npt.NDArray[np.uint32]


@dataclass(frozen=True)
class PrivateAggregate:
    """What a private round yields: the survivors' exact modular sum, their total weight and the next model."""

    survivors: tuple[str, ...]  # canonical addresses, sorted
    dropped: tuple[str, ...]  # canonical addresses, sorted
    total: U32  # Σ_{u in U} (w_u * q_u) mod 2^32
    total_weight: int  # W = Σ_{u in U} w_u
    model: npt.NDArray[np.float32]  # float32(base + signed(total) / (W * S))


def _canonical_keys(name: str, mapping: Mapping[str, object]) -> set[str]:
    keys = {canonical_address(address) for address in mapping}
    if len(keys) != len(mapping):
        raise UnmaskError(f"{name} names one address twice (in different letter case)")
    return keys


def _check_roles(
    registered: Mapping[str, bytes],
    masked: Mapping[str, object],
    self_seeds: Mapping[str, bytes],
    dropped_keys: Mapping[str, bytes],
) -> tuple[list[str], list[str]]:
    """Survivors and dropped, sorted, after checking that each kind of material covers exactly its role."""
    everyone = _canonical_keys("the key set", registered)
    survivors = _canonical_keys("the masked uploads", masked)
    seeds = _canonical_keys("the self-mask seeds", self_seeds)
    keys = _canonical_keys("the dropped participants' keys", dropped_keys)
    both = sorted(seeds & keys)
    if both:
        raise UnmaskError(
            f"both the self seed and the mask key of {both[0]} are revealed: that exposes its update"
        )
    if not survivors:
        raise UnmaskError("no masked upload: a private round needs at least one survivor")
    if survivors - everyone:
        raise UnmaskError(f"{min(survivors - everyone)} uploaded a masked update but registered no key")
    dropped = everyone - survivors
    if seeds != survivors:
        missing = sorted(survivors - seeds) or sorted(seeds - survivors)
        raise UnmaskError(f"self seeds must be revealed for exactly the survivors; {missing[0]} does not fit")
    if keys != dropped:
        missing = sorted(dropped - keys) or sorted(keys - dropped)
        raise UnmaskError(f"mask keys must be rebuilt for exactly the dropped; {missing[0]} does not fit")
    return sorted(survivors), sorted(dropped)


def unmask_sum(
    masked: Mapping[str, npt.ArrayLike],
    registered: Mapping[str, bytes],
    self_seeds: Mapping[str, bytes],
    dropped_keys: Mapping[str, bytes],
    ref: RoundRef,
    seed_commitments: Mapping[str, bytes] | None = None,
) -> U32:
    """Σ_{u in U} word_u mod 2^32 from the survivors' masked uploads and the revealed seeds and keys.

    Parameters: ``masked`` survivor address -> its masked uint32 upload (U is its key set); ``registered`` every
    participant of the round's key set, address -> raw X25519 mask public key (U and D together);
    ``self_seeds`` survivor -> b_u; ``dropped_keys`` dropped -> its rebuilt raw X25519 private key, which must
    match its registered public key; ``ref`` the round; ``seed_commitments`` (when the round published them)
    address -> ``masks.seed_commitment``, which every revealed seed must match. Returns the exact modular sum. Raises ``UnmaskError`` on
    material that does not fit (never both a seed and a key for one address; each role covered exactly).
    """
    survivors, dropped = _check_roles(registered, masked, self_seeds, dropped_keys)
    public = {canonical_address(a): k for a, k in registered.items()}
    seeds = {canonical_address(a): s for a, s in self_seeds.items()}
    secret = {canonical_address(a): k for a, k in dropped_keys.items()}
    uploads = {canonical_address(a): np.asarray(v) for a, v in masked.items()}
    length = _common_length(uploads)
    if seed_commitments is not None:
        _check_seeds(seeds, {canonical_address(a): c for a, c in seed_commitments.items()}, ref)
    total = np.zeros(length, np.uint32)
    for u in survivors:
        np.add(total, uploads[u], out=total)
        add_keystream(total, self_key(seeds[u], u, ref), -1)
    for d in dropped:
        try:
            matches = public_key_of(secret[d]) == public[d]
        except KeyAgreementError as exc:
            raise UnmaskError(f"the rebuilt mask key of {d} is malformed: {exc}") from exc
        if not matches:
            raise UnmaskError(f"the rebuilt mask key of {d} does not match its registered public key")
        for u in survivors:
            # u added sign(u, d) * p_ud; d's private key and u's public key give the same p_ud
            add_keystream(total, pairwise_key(secret[d], d, public[u], u, ref), -pairwise_sign(u, d))
    return total


def _check_seeds(seeds: Mapping[str, bytes], commitments: Mapping[str, bytes], ref: RoundRef) -> None:
    """Every revealed seed matches the commitment its owner published with its keys."""
    for address, seed in sorted(seeds.items()):
        if address not in commitments:
            raise UnmaskError(f"no seed commitment was published for {address}")
        try:
            matches = seed_commitment(seed, address, ref) == commitments[address]
        except KeyAgreementError as exc:
            raise UnmaskError(f"the rebuilt self seed of {address} is malformed: {exc}") from exc
        if not matches:
            raise UnmaskError(f"the rebuilt self seed of {address} does not match its published commitment")


def _common_length(uploads: Mapping[str, npt.NDArray[np.generic]]) -> int:
    lengths = set()
    for address, vector in sorted(uploads.items()):
        if vector.dtype != np.uint32 or vector.ndim != 1:
            raise UnmaskError(f"masked upload of {address} is not a flat uint32 vector")
        lengths.add(len(vector))
    if len(lengths) != 1:
        raise UnmaskError(f"masked uploads differ in length: {sorted(lengths)}")
    return lengths.pop()


def aggregate_private(
    base: npt.ArrayLike,
    masked: Mapping[str, npt.ArrayLike],
    num_samples: Mapping[str, int],
    registered: Mapping[str, bytes],
    self_seeds: Mapping[str, bytes],
    dropped_keys: Mapping[str, bytes],
    ref: RoundRef,
    params: QuantParams,
    seed_commitments: Mapping[str, bytes] | None = None,
) -> PrivateAggregate:
    """The next global model of a private round, as the aggregator computes it and an auditor recomputes it.

    ``num_samples`` is each survivor's declared sample count (capped here as the participant capped it); the
    other parameters are those of ``unmask_sum``; ``base`` is the round's flat float32 base model.
    """
    total = unmask_sum(masked, registered, self_seeds, dropped_keys, ref, seed_commitments)
    survivors, dropped = _check_roles(registered, masked, self_seeds, dropped_keys)
    counts = {canonical_address(a): n for a, n in num_samples.items()}
    if set(counts) != set(survivors):
        raise UnmaskError("sample counts must be given for exactly the survivors")
    if len(survivors) > params.max_participants:
        raise UnmaskError(
            f"{len(survivors)} survivors exceed the task's {params.max_participants} participants"
        )
    weight = sum(capped_weight(counts[u], params) for u in survivors)
    return PrivateAggregate(
        tuple(survivors), tuple(dropped), total, weight, apply_mean(base, total, weight, params)
    )

"""Unmasking: the survivors' exact sum from published material, with and without dropouts, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from privacy_round import REF, Member, masked_uploads, members, random_words, registry

from fedledger.privacy import quantize as qz
from fedledger.privacy import shamir
from fedledger.privacy.errors import UnmaskError
from fedledger.privacy.masks import seed_commitment
from fedledger.privacy.unmask import aggregate_private, unmask_sum


def reveal(group: list[Member], dropped: set[str]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Self seeds of the survivors, mask private keys of the dropped (what the unmasking round publishes)."""
    seeds = {m.address: m.seed for m in group if m.address not in dropped}
    keys = {m.address: m.keys.private for m in group if m.address in dropped}
    return seeds, keys


def survivors_sum(group: list[Member], words: list[np.ndarray], dropped: set[str]) -> np.ndarray:
    total = np.zeros(len(words[0]), np.uint32)
    for m, w in zip(group, words, strict=True):
        if m.address not in dropped:
            total += w
    return total


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 9),
    length=st.integers(1, 120),
    dropout=st.sampled_from(["none", "one", "thirty percent"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_unmasking_recovers_the_survivors_exact_sum(n: int, length: int, dropout: str, seed: int) -> None:
    # Prepare: everyone masks against the whole key set; some never upload
    rng = np.random.default_rng(seed)
    group = members(n, salt=str(seed))
    words = random_words(rng, n, length)
    uploads = masked_uploads(group, words)
    count = {"none": 0, "one": 1, "thirty percent": int(0.3 * n)}[dropout]
    dropped = {m.address for m in rng.permutation(np.array(group, dtype=object))[:count]}
    seeds, keys = reveal(group, dropped)

    # Execute
    total = unmask_sum(
        {a: v for a, v in uploads.items() if a not in dropped}, registry(group), seeds, keys, REF
    )

    # Assert
    assert np.array_equal(total, survivors_sum(group, words, dropped))


def test_a_whole_private_round_with_shared_secrets_gives_the_fedavg_model() -> None:
    # Prepare: 6 participants, threshold 4; each splits its self seed and its mask key among all 6
    params = qz.QuantParams(clip=1.0, scale_bits=16, weight_cap=100, max_participants=10)
    n, threshold, length = 6, 4, 300
    rng = np.random.default_rng(5)
    group = members(n)
    updates = [rng.normal(0, 0.05, length).astype(np.float32) for _ in range(n)]
    samples = [10, 250, 40, 40, 7, 90]
    words = [qz.encode_update(x, s, params) for x, s in zip(updates, samples, strict=True)]
    uploads = masked_uploads(group, words)
    seed_shares = {m.address: shamir.split(m.seed, threshold, n) for m in group}
    key_shares = {m.address: shamir.split(m.keys.private, threshold, n) for m in group}
    dropped = {group[2].address, group[4].address}
    alive = [i for i, m in enumerate(group) if m.address not in dropped]

    # Execute: the survivors hand in their shares; seeds of survivors and keys of the dropped are rebuilt
    seeds = {
        m.address: shamir.combine([seed_shares[m.address][i] for i in alive], threshold)
        for m in group
        if m.address not in dropped
    }
    keys = {a: shamir.combine([key_shares[a][i] for i in alive], threshold) for a in dropped}
    base = rng.normal(0, 1, length).astype(np.float32)
    result = aggregate_private(
        base,
        {a: v for a, v in uploads.items() if a not in dropped},
        {m.address: s for m, s in zip(group, samples, strict=True) if m.address not in dropped},
        registry(group),
        seeds,
        keys,
        REF,
        params,
        {m.address: seed_commitment(m.seed, m.address, REF) for m in group},
    )

    # Assert: the exact sum, the capped total weight, the model by the stated formula, near float FedAvg
    expected_total = survivors_sum(group, words, dropped)
    assert np.array_equal(result.total, expected_total)
    assert result.total_weight == 10 + 100 + 40 + 90  # 250 samples count as the cap, 100
    assert result.dropped == tuple(sorted(dropped))
    assert (
        result.model.tobytes() == qz.apply_mean(base, expected_total, result.total_weight, params).tobytes()
    )
    kept = [
        (x, min(s, 100)) for m, x, s in zip(group, updates, samples, strict=True) if m.address not in dropped
    ]
    fedavg = base + sum(w * x.astype(np.float64) for x, w in kept) / sum(w for _, w in kept)
    assert np.max(np.abs(result.model - fedavg)) <= 0.5 / params.scale + 1e-6


def test_unmasking_is_deterministic_and_order_free() -> None:
    group = members(5)
    words = random_words(np.random.default_rng(3), 5, 1000)
    uploads = masked_uploads(group, words)
    dropped = {group[2].address}
    seeds, keys = reveal(group, dropped)
    survivors = {a: v for a, v in uploads.items() if a not in dropped}

    first = unmask_sum(survivors, registry(group), seeds, keys, REF)
    again = unmask_sum(
        dict(reversed(survivors.items())), dict(reversed(registry(group).items())), seeds, keys, REF
    )

    assert first.tobytes() == again.tobytes()


@pytest.fixture
def round_material() -> tuple[list[Member], dict[str, np.ndarray]]:
    group = members(4)
    return group, masked_uploads(group, random_words(np.random.default_rng(4), 4, 16))


def test_refuses_to_reveal_both_the_seed_and_the_key_of_one_participant(
    round_material: tuple[list[Member], dict[str, np.ndarray]],
) -> None:
    # Prepare: member 0 survived, yet its mask key is offered too (with it, its own update would be exposed)
    group, uploads = round_material
    seeds, _ = reveal(group, set())
    keys = {group[0].address: group[0].keys.private}

    with pytest.raises(UnmaskError, match=f"both the self seed and the mask key of {group[0].address}"):
        unmask_sum(uploads, registry(group), seeds, keys, REF)


def test_refuses_material_that_does_not_fit_the_roles(
    round_material: tuple[list[Member], dict[str, np.ndarray]],
) -> None:
    group, uploads = round_material
    public = registry(group)
    gone = group[3].address
    survivors = {a: v for a, v in uploads.items() if a != gone}
    seeds, keys = reveal(group, {gone})

    cases = [
        (survivors, {a: s for a, s in seeds.items() if a != group[0].address}, keys, "exactly the survivors"),
        (survivors, seeds, {}, "exactly the dropped"),
        (survivors, seeds, {gone: group[2].keys.private}, "does not match its registered public key"),
        (survivors, seeds, {gone: b"short"}, "malformed"),
        ({}, {}, {}, "at least one survivor"),
        ({**survivors, "0x" + "e" * 40: uploads[gone]}, seeds, keys, "registered no key"),
        ({**survivors, group[0].address: np.zeros(3, np.uint32)}, seeds, keys, "differ in length"),
        ({**survivors, group[0].address: np.zeros(16, np.int64)}, seeds, keys, "not a flat uint32"),
    ]
    for masked, s, k, message in cases:
        with pytest.raises(UnmaskError, match=message):
            unmask_sum(masked, public, s, k, REF)


def test_refuses_twice_named_addresses_and_wrong_sample_counts(
    round_material: tuple[list[Member], dict[str, np.ndarray]],
) -> None:
    group, uploads = round_material
    seeds, keys = reveal(group, set())
    params = qz.QuantParams(clip=1.0, scale_bits=8, weight_cap=10, max_participants=3)
    upper = group[0].address.upper().replace("0X", "0x")

    with pytest.raises(UnmaskError, match="twice"):
        unmask_sum({**uploads, upper: uploads[group[0].address]}, registry(group), seeds, keys, REF)
    with pytest.raises(UnmaskError, match="sample counts"):
        aggregate_private(np.zeros(16, np.float32), uploads, {}, registry(group), seeds, keys, REF, params)
    with pytest.raises(UnmaskError, match="exceed the task's 3 participants"):
        counts = {m.address: 1 for m in group}
        aggregate_private(
            np.zeros(16, np.float32), uploads, counts, registry(group), seeds, keys, REF, params
        )


def test_a_false_rebuilt_seed_is_named_by_its_commitment(
    round_material: tuple[list[Member], dict[str, np.ndarray]],
) -> None:
    # Prepare: member 1's seed comes back wrong (a holder revealed a false share)
    group, uploads = round_material
    seeds, keys = reveal(group, set())
    commitments = {m.address: seed_commitment(m.seed, m.address, REF) for m in group}
    wrong = {**seeds, group[1].address: bytes(32)}

    # Execute / Assert
    with pytest.raises(UnmaskError, match=f"self seed of {group[1].address} does not match its published"):
        unmask_sum(uploads, registry(group), wrong, keys, REF, commitments)
    with pytest.raises(UnmaskError, match="no seed commitment was published"):
        unmask_sum(uploads, registry(group), seeds, keys, REF, {})
    assert np.array_equal(
        unmask_sum(uploads, registry(group), seeds, keys, REF, commitments),
        unmask_sum(uploads, registry(group), seeds, keys, REF),
    )

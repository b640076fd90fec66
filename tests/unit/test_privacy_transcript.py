"""A private round's transcript end to end, without a chain: keys, bundles, masked uploads, unmask material,
recovery and the global model, with a dropout, a false share, and material outside its role."""

from __future__ import annotations

import numpy as np
import pytest
from privacy_round import address

from fedledger.privacy.masks import RoundRef, generate_keypair, mask_update, new_self_seed, seed_commitment
from fedledger.privacy.quantize import QuantParams, encode_update
from fedledger.privacy.shamir import Share
from fedledger.privacy.transcript import (
    TranscriptError,
    decode_masked,
    encode_masked,
    flatten,
    open_bundle,
    private_global,
    read_unmask,
    recover,
    roles_of,
    seal_bundle,
    unflatten,
    unmask_material,
)

REF = RoundRef(task_id=5, round_id=2)
THRESHOLD = 3
BASE = {"w": np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), "b": np.zeros(5, np.float32)}
PARAMS = QuantParams(clip=10.0, scale_bits=16, weight_cap=100, max_participants=5)


class Party:
    def __init__(self, i: int) -> None:
        self.address = address(i)
        self.c, self.s, self.seed = generate_keypair(), generate_keypair(), new_self_seed()
        rng = np.random.default_rng(i)
        self.delta = {k: rng.normal(0, 0.1, np.shape(v)).astype(np.float32) for k, v in BASE.items()}
        self.samples = 10 * (i + 1)

    def keys(self) -> tuple[str, bytes, bytes, bytes]:
        return self.address, self.c.public, self.s.public, seed_commitment(self.seed, self.address, REF)


def run_round(parties: list[Party], share_posters: list[Party], uploaders: list[Party]):
    roles_k = roles_of(REF, [p.keys() for p in parties], [], [])
    bundles = {
        p.address.lower(): seal_bundle(roles_k, p.address, p.c.private, p.s.private, p.seed, THRESHOLD)
        for p in share_posters
    }
    roles2 = roles_of(REF, [p.keys() for p in parties], [p.address for p in share_posters], [])
    uploads = {}
    for p in uploaders:
        words = encode_update(flatten(p.delta), p.samples, PARAMS)
        peers = {a: k for a, k in roles2.masking_set.items() if a != p.address.lower()}
        uploads[p.address.lower()] = encode_masked(mask_update(words, p.address, p.s, peers, p.seed, REF))
    roles = roles_of(
        REF, [p.keys() for p in parties], [p.address for p in share_posters], [p.address for p in uploaders]
    )
    materials = {}
    for p in uploaders:
        opened = {d: open_bundle(b, roles, d, p.address, p.c.private) for d, b in bundles.items()}
        materials[p.address.lower()] = unmask_material(roles, p.address, opened)
    return roles, uploads, materials


def expected_model(uploaders: list[Party]) -> np.ndarray:
    weight = sum(min(p.samples, PARAMS.weight_cap) for p in uploaders)
    mean = (
        sum(flatten(p.delta).astype(np.float64) * min(p.samples, PARAMS.weight_cap) for p in uploaders)
        / weight
    )
    return flatten(BASE).astype(np.float64) + mean


def test_round_with_a_dropout_rebuilds_the_survivors_mean() -> None:
    parties = [Party(i) for i in range(5)]
    roles, uploads, materials = run_round(parties, parties[:4], parties[:3])  # 4 dealt shares, 1 dropped
    assert roles.dropped == (parties[3].address.lower(),)
    revealed = [read_unmask(materials[a], roles, a) for a in materials]
    recovery = recover(roles, revealed, THRESHOLD)
    assert recovery.complete and not recovery.false_shares
    assert set(recovery.keys) == {parties[3].address.lower()}
    masked = {a: decode_masked(b, 17) for a, b in uploads.items()}
    samples = {p.address: p.samples for p in parties[:3]}
    model, aggregate = private_global(BASE, masked, samples, roles, recovery, PARAMS)
    assert aggregate.total_weight == 60
    np.testing.assert_allclose(flatten(model), expected_model(parties[:3]), atol=2**-15)
    assert model["w"].shape == (3, 4)


def test_a_false_share_is_named_and_the_secret_still_rebuilt() -> None:
    parties = [Party(i) for i in range(5)]
    roles, _, materials = run_round(parties, parties, parties)
    liar = parties[0].address.lower()
    victim = parties[1].address.lower()
    revealed = [read_unmask(materials[a], roles, a) for a in materials]
    honest = revealed[[r.holder for r in revealed].index(liar)]
    forged = dict(honest.seed_shares)
    forged[victim] = Share(forged[victim].x, (forged[victim].y + 1))
    revealed = [r if r.holder != liar else type(r)(r.holder, forged, r.key_shares) for r in revealed]
    recovery = recover(roles, revealed, THRESHOLD)
    assert recovery.complete
    assert recovery.false_shares == (f"{liar} revealed a false share of {victim}'s seed",)


def test_too_few_shares_leave_a_secret_unrecoverable() -> None:
    parties = [Party(i) for i in range(4)]
    roles, _, materials = run_round(parties, parties, parties)
    revealed = [read_unmask(materials[a], roles, a) for a in list(materials)[: THRESHOLD - 1]]
    recovery = recover(roles, revealed, THRESHOLD)
    assert not recovery.complete
    assert "2 shares of its seed were revealed, 3 are needed" in set(recovery.unrecoverable.values())


def test_material_outside_its_role_is_left_out() -> None:
    parties = [Party(i) for i in range(5)]
    roles, _, materials = run_round(parties, parties[:4], parties[:3])
    holder = parties[0].address.lower()
    survivor = parties[1].address.lower()
    text = materials[holder].decode().replace('"key_shares":{', f'"key_shares":{{"{survivor}":"00",')
    revealed = read_unmask(text.encode(), roles, holder)
    assert parties[1].address.lower() not in revealed.key_shares  # a survivor's key: never used
    assert any("outside its role" in p for p in revealed.problems)


def test_a_bundle_for_someone_else_does_not_open() -> None:
    parties = [Party(i) for i in range(4)]
    roles = roles_of(REF, [p.keys() for p in parties], [], [])
    bundle = seal_bundle(
        roles, parties[0].address, parties[0].c.private, parties[0].s.private, parties[0].seed, 3
    )
    with pytest.raises(Exception, match=r"does not open|envelope"):
        open_bundle(bundle, roles, parties[0].address, parties[1].address, parties[2].c.private)
    with pytest.raises(TranscriptError, match="dealt by it"):
        open_bundle(bundle, roles, parties[2].address, parties[1].address, parties[1].c.private)


def test_masked_upload_length_and_layout_roundtrip() -> None:
    words = np.arange(17, dtype=np.uint32)
    assert (decode_masked(encode_masked(words), 17) == words).all()
    with pytest.raises(TranscriptError, match="68 bytes"):
        decode_masked(encode_masked(words)[:-1], 17)
    back = unflatten(flatten(BASE), [("b", (5,)), ("w", (3, 4))])
    assert (back["w"] == BASE["w"]).all()

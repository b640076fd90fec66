"""Private rounds on the embedded chain: the aggregator finalizes the unmasked sum, the audit re-derives it, and
tampered transcripts (a false revealed seed, a swapped masked upload, a wrong committed model) are named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from private_federation import PrivateFederation, base_model

from aggregator.coordinator import RoundNotReadyError
from fedledger import codec
from fedledger.explorer.data import report_data
from fedledger.explorer.page import render_html
from fedledger.history import task_history
from fedledger.privacy.accounting import PrivateTask
from fedledger.privacy.masks import pairwise_key, pairwise_sign, self_key
from fedledger.privacy.prg import add_keystream
from fedledger.privacy.quantize import to_signed
from fedledger.privacy.shamir import split
from fedledger.privacy.transcript import (
    decode_masked,
    flatten,
    open_bundle,
    read_unmask,
    recover,
    unmask_material,
)


def test_round_with_two_dropouts_finalizes_and_audits_ok(tmp_path: Path) -> None:
    fed = PrivateFederation(tmp_path, participants=5, quorum=2, threshold=2)
    fed.advertise([0, 1, 2, 3])  # 4 drops before keys
    fed.travel(101)  # the keys phase ends at its deadline
    fed.post_shares([0, 1, 2])  # 3 drops after keys: not in K2, costs nothing
    fed.travel(101)
    fed.upload([0, 1])  # 2 drops after sharing: its mask key is rebuilt
    fed.travel(400)  # past the upload deadline, inside the unmask period
    with pytest.raises(RoundNotReadyError, match="unmask phase"):
        fed.close()
    fed.unmask([0, 1])  # every survivor posted: the unmask phase ends early
    outcome = fed.close()
    assert not outcome.failed and len(outcome.included) == 2
    model = codec.decode(fed.store.get(outcome.global_cid))
    np.testing.assert_allclose(flatten(model), fed.expected_model([0, 1]), atol=2**-14)
    (verdict,) = fed.verdicts()
    assert verdict.verdict == "OK", verdict.reason
    assert "2 masked uploads (1 dropped" in verdict.reason


def test_all_in_round_closes_without_waiting(tmp_path: Path) -> None:
    fed = PrivateFederation(tmp_path, participants=3, quorum=3, threshold=2)
    fed.everyone_steps_in()
    outcome = fed.close()
    assert not outcome.failed
    assert fed.round == 2
    assert [v.verdict for v in fed.verdicts()] == ["OK"]


def test_false_revealed_seed_is_named_and_outvoted(tmp_path: Path) -> None:
    fed = PrivateFederation(tmp_path, participants=3, quorum=3, threshold=2)
    everyone = fed.everyone_steps_in(unmask=False)
    honest = fed.roles()
    liar = fed.members[0]
    bundles = {s.participant.lower(): fed.store.get(s.cid) for s in fed.record().shares}
    opened = {d: open_bundle(b, honest, d, liar.address, liar.c.private) for d, b in bundles.items()}
    material = json.loads(unmask_material(honest, liar.address, opened))
    victim = fed.members[1].address
    share = bytearray(bytes.fromhex(material["seed_shares"][victim]))
    share[-1] ^= 1
    material["seed_shares"][victim] = share.hex()
    forged = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    fed.unmask(everyone, rewrite={0: forged})
    outcome = fed.close()
    assert not outcome.failed  # two honest holders still rebuild the seed
    (verdict,) = fed.verdicts()
    assert verdict.verdict == "OK"
    assert any(f"revealed a false share of {victim}'s seed" in n for n in verdict.notes)


def test_swapped_masked_upload_fails_the_round_and_the_audit_agrees(tmp_path: Path) -> None:
    fed = PrivateFederation(tmp_path, participants=3, quorum=2, threshold=2)
    everyone = [0, 1, 2]
    fed.advertise(everyone)
    fed.post_shares(everyone)
    fed.upload(everyone, tamper={2: b"\x00" * 12})  # 3 words for a 9-parameter model
    fed.unmask(everyone)
    outcome = fed.close()
    assert outcome.failed
    assert [(e.participant.lower(), e.reason) for e in outcome.excluded] == [
        (fed.members[2].address, "malformed")
    ]
    (verdict,) = fed.verdicts()
    assert verdict.verdict == "FAILED", verdict.reason
    assert "masked upload of" in verdict.reason


def test_wrong_committed_model_is_a_mismatch(tmp_path: Path) -> None:
    fed = PrivateFederation(tmp_path, participants=3, quorum=2, threshold=2)
    fed.everyone_steps_in()
    wrong = codec.encode({k: v + 1 for k, v in codec.decode(codec.encode(fed.members[0].delta)).items()})
    fed.ledger.finalize_round(
        fed.owner, fed.task, fed.round, global_digest=codec.model_digest(wrong), global_cid=fed.store.put(wrong),
        reasons=bytes(3),
    )  # fmt: skip
    (verdict,) = fed.verdicts()
    assert verdict.verdict == "MISMATCH"
    assert "the unmasked sum gives" in verdict.reason


def test_aggregator_failing_an_unmaskable_round_is_a_mismatch(tmp_path: Path) -> None:
    fed = PrivateFederation(tmp_path, participants=3, quorum=2, threshold=2)
    fed.everyone_steps_in()
    fed.ledger.close_failed_round(fed.owner, fed.task, fed.round, reasons=bytes(3))  # names nobody
    (verdict,) = fed.verdicts()
    assert verdict.verdict == "MISMATCH"
    assert "although its transcript unmasks" in verdict.reason


def test_a_claimed_unavailable_upload_is_taken_as_given_and_noted(tmp_path: Path) -> None:
    fed = PrivateFederation(tmp_path, participants=3, quorum=2, threshold=2)
    fed.everyone_steps_in()
    fed.ledger.close_failed_round(fed.owner, fed.task, fed.round, reasons=bytes([0, 4, 0]))
    (verdict,) = fed.verdicts()
    assert verdict.verdict == "FAILED"
    assert any("available to this auditor now" in n for n in verdict.notes)


def test_aggregator_excluding_a_valid_upload_is_a_mismatch(tmp_path: Path) -> None:
    fed = PrivateFederation(tmp_path, participants=3, quorum=2, threshold=2)
    fed.everyone_steps_in()
    fed.ledger.close_failed_round(
        fed.owner, fed.task, fed.round, reasons=bytes([0, 5, 0])
    )  # a false malformed
    (verdict,) = fed.verdicts()
    assert verdict.verdict == "MISMATCH"
    assert "excluded as malformed, but the update is valid" in verdict.reason


def test_an_outsider_with_every_public_byte_cannot_recover_an_update(tmp_path: Path) -> None:
    """Everything public: events, bundles, uploads, unmask material, the global model. The outsider rebuilds every
    secret the protocol reveals (the survivors' seeds, the dropped member's mask key) and strips every mask it can;
    what is left of one survivor's upload is still hidden by the pairwise masks of the other survivors."""
    fed = PrivateFederation(tmp_path, participants=4, quorum=2, threshold=2)
    fed.advertise([0, 1, 2, 3])
    fed.post_shares([0, 1, 2, 3])
    fed.upload([0, 1, 2])  # 3 drops after sharing: its mask key becomes public
    fed.travel(600)
    fed.unmask([0, 1, 2])
    roles, record, ref = fed.roles(), fed.record(), fed.ref
    assert not fed.close().failed
    revealed = [read_unmask(fed.store.get(p.cid), roles, p.participant) for p in record.unmasks]
    recovery = recover(roles, revealed, fed.threshold)
    assert recovery.complete and set(recovery.keys) == {fed.members[3].address}
    victim = fed.members[0]
    upload = decode_masked(fed.store.get(record.submissions[0].cid), 9)
    stripped = upload.copy()
    add_keystream(stripped, self_key(recovery.seeds[victim.address], victim.address, ref), -1)
    dropped = fed.members[3].address
    pair = pairwise_key(recovery.keys[dropped], dropped, victim.s.public, victim.address, ref)
    add_keystream(stripped, pair, -pairwise_sign(victim.address, dropped))
    scale = 2**16 * min(victim.samples, 50)
    guess = to_signed(stripped).astype(np.float64) / scale
    truth = flatten(victim.delta).astype(np.float64)
    error = np.linalg.norm(guess - truth) / np.linalg.norm(truth)
    assert error > 1000, f"the outsider got within {error:.3g} of the update"
    # the same steps with the victim's own pairwise keys (which nobody else has) do recover it: the test can fail
    for peer in (fed.members[1], fed.members[2]):
        key = pairwise_key(victim.s.private, victim.address, peer.s.public, peer.address, ref)
        add_keystream(stripped, key, -pairwise_sign(victim.address, peer.address))
    insider = to_signed(stripped).astype(np.float64) / scale
    assert np.linalg.norm(insider - truth) / np.linalg.norm(truth) < 1e-3


def test_dp_round_with_noise_finalizes_and_audits_ok(tmp_path: Path) -> None:
    params = "secagg:clip=1.0,scale_bits=16,noise=0.5,delta=1e-05,dim=9"
    fed = PrivateFederation(tmp_path, participants=3, quorum=2, threshold=2, params=params)
    everyone = fed.everyone_steps_in()
    outcome = fed.close()
    assert not outcome.failed
    model = flatten(codec.decode(fed.store.get(outcome.global_cid)))
    noise = np.abs(model - fed.expected_model(everyone)).max()
    assert (
        noise > 2**-14
    )  # the participants' noise is in the sum (z = 0.5: about 0.5 × clip / W per coordinate)
    assert [v.verdict for v in fed.verdicts()] == ["OK"]


def test_round_beyond_the_epsilon_budget_is_a_mismatch(tmp_path: Path) -> None:
    params = (
        "secagg:clip=1.0,scale_bits=16,noise=1.0,delta=1e-05,dim=9,budget=1.0"  # one round costs about 4.7
    )
    fed = PrivateFederation(tmp_path, participants=3, quorum=2, threshold=2, params=params, max_rounds=1)
    fed.everyone_steps_in()
    assert not fed.close().failed
    (verdict,) = fed.verdicts()
    assert verdict.verdict == "MISMATCH"
    assert "over the task's budget 1.0" in verdict.reason
    assert fed.ledger.private_view(fed.task, fed.owner.address).finished  # maxRounds 1: no round 2


def test_audit_page_shows_the_privacy_loss(tmp_path: Path) -> None:
    params = "secagg:clip=1.0,scale_bits=16,noise=1.0,delta=1e-05,dim=9,budget=50.0"
    fed = PrivateFederation(tmp_path, participants=3, quorum=2, threshold=2, params=params, max_rounds=5)
    fed.everyone_steps_in()
    assert not fed.close().failed
    page = render_html(report_data(fed.ledger, fed.store, fed.task))
    expected = PrivateTask.from_event(task_history(fed.ledger, fed.task).privacy, 50).epsilon_after(2)  # type: ignore[arg-type]
    assert f"{expected:.3g} at δ = 1e-05 after 2 rounds (budget 50.0)" in page  # round 2 is open: charged
    assert "secure aggregation, threshold 2" in page


def _forge_victim_seed_shares(fed: PrivateFederation) -> str:
    """Every holder reveals a share of the all-zero seed for member 1 (the same polynomial, so the shares agree
    with each other): returns the victim's address."""
    everyone = fed.everyone_steps_in(unmask=False)
    roles = fed.roles()
    victim = fed.members[1].address
    fake = split(bytes(32), 2, 3)
    bundles = {s.participant.lower(): fed.store.get(s.cid) for s in fed.record().shares}
    forged = {}
    for i, m in enumerate(fed.members):
        opened = {d: open_bundle(b, roles, d, m.address, m.c.private) for d, b in bundles.items()}
        material = json.loads(unmask_material(roles, m.address, opened))
        material["seed_shares"][victim] = fake[roles.x_of(m.address) - 1].encode().hex()
        forged[i] = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    fed.unmask(everyone, rewrite=forged)
    return victim


def test_revealed_shares_of_a_wrong_seed_fail_the_round(tmp_path: Path) -> None:
    fed = PrivateFederation(tmp_path, participants=3, quorum=2, threshold=2)
    _forge_victim_seed_shares(fed)
    outcome = fed.close()
    assert outcome.failed  # the honest aggregator cannot unmask it, and says so
    (verdict,) = fed.verdicts()
    assert verdict.verdict == "FAILED" and "cannot be rebuilt" in verdict.reason


def test_finalizing_a_round_whose_seed_cannot_be_rebuilt_is_a_mismatch_naming_it(tmp_path: Path) -> None:
    fed = PrivateFederation(tmp_path, participants=3, quorum=2, threshold=2)
    victim = _forge_victim_seed_shares(fed)
    model = codec.encode(base_model())
    fed.ledger.finalize_round(
        fed.owner, fed.task, fed.round, global_digest=codec.model_digest(model), global_cid=fed.store.put(model),
        reasons=bytes(3),
    )  # fmt: skip
    (verdict,) = fed.verdicts()
    assert verdict.verdict == "MISMATCH"
    assert f"finalized, but the secret of {victim} cannot be rebuilt" in verdict.reason
    assert "matches its seed commitment" in verdict.reason

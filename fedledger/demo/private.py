"""The demo's private rounds: every participant takes the four steps of a round in lockstep, in one process.

On a real deployment each participant runs `fedledger node train`, which waits for each phase to end; in the
demo all participants are in one process, so each phase ends early as soon as the last of them has posted, and
the round takes no waiting at all. The steps are those of the README's "Private rounds": keys, share bundles,
masked uploads (after local training, clipped, quantized and, with DP, noised), unmask material.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fedledger.history import RoundHistory, task_history
from fedledger.ledger import Ledger, Signer
from fedledger.privacy.accounting import PrivateTask
from fedledger.privacy.dp import add_noise, noise_rng, participant_sigma
from fedledger.privacy.masks import (
    KeyPair,
    RoundRef,
    generate_keypair,
    mask_update,
    new_self_seed,
    seed_commitment,
)
from fedledger.privacy.quantize import encode_update
from fedledger.privacy.transcript import (
    Roles,
    encode_masked,
    open_bundle,
    roles_of,
    seal_bundle,
    sha256,
    unmask_material,
)
from fedledger.store import ContentStore

# A participant's training: (participant index) -> (flat float update, claimed samples).
Train = Callable[[int], tuple[npt.NDArray[np.float32], int]]


@dataclass
class _Secrets:
    signer: Signer
    address: str
    envelope_keys: KeyPair
    mask_keys: KeyPair
    seed: bytes


def _record(ledger: Ledger, task_id: int, round_: int) -> RoundHistory:
    history = task_history(ledger, task_id)
    return next(r for r in history.rounds if r.round == round_)


def _roles(ledger: Ledger, task_id: int, round_: int) -> Roles:
    r = _record(ledger, task_id, round_)
    return roles_of(
        RoundRef(task_id, round_),
        [(k.participant, k.encryption_key, k.mask_key, k.seed_commitment) for k in r.keys],
        [s.participant for s in r.shares],
        [u.participant for u in r.submissions],
    )


def run_private_round(
    ledger: Ledger,
    store: ContentStore,
    signers: list[Signer],
    task_id: int,
    task: PrivateTask,
    train: Train,
) -> dict[str, list[int]]:
    """Take every participant through one private round's four steps; returns the gas of each step's postings."""
    round_ = ledger.get_task(task_id).round
    ref = RoundRef(task_id, round_)
    members = [
        _Secrets(s, s.address.lower(), generate_keypair(), generate_keypair(), new_self_seed())
        for s in signers
    ]
    gas: dict[str, list[int]] = {"keys": [], "shares": [], "upload": [], "unmask": []}
    for m in members:
        tx = ledger.advertise_keys(
            m.signer,
            task_id,
            round_,
            encryption_key=m.envelope_keys.public,
            mask_key=m.mask_keys.public,
            seed_commitment=seed_commitment(m.seed, m.address, ref),
        )
        gas["keys"].append(tx.gas_used)
    roles = _roles(ledger, task_id, round_)
    for m in members:
        bundle = seal_bundle(
            roles, m.address, m.envelope_keys.private, m.mask_keys.private, m.seed, task.threshold
        )
        gas["shares"].append(
            ledger.post_shares(m.signer, task_id, round_, sha256(bundle), store.put(bundle)).gas_used
        )
    roles = _roles(ledger, task_id, round_)
    quant = task.quant_params(len(roles.key_set))
    dp = task.dp_params
    for k, m in enumerate(members):
        update, samples = train(k)
        words = encode_update(update, samples, quant)
        if dp is not None:
            words = add_noise(words, participant_sigma(dp, quant, len(update)), noise_rng())
        peers = {a: key for a, key in roles.masking_set.items() if a != m.address}
        data = encode_masked(mask_update(words, m.address, m.mask_keys, peers, m.seed, ref))
        gas["upload"].append(
            ledger.submit_update(m.signer, task_id, round_, sha256(data), store.put(data), samples).gas_used
        )
    roles = _roles(ledger, task_id, round_)
    bundles = {s.participant.lower(): store.get(s.cid) for s in _record(ledger, task_id, round_).shares}
    for m in members:
        opened = {d: open_bundle(b, roles, d, m.address, m.envelope_keys.private) for d, b in bundles.items()}
        material = unmask_material(roles, m.address, opened)
        gas["unmask"].append(
            ledger.post_unmask(m.signer, task_id, round_, sha256(material), store.put(material)).gas_used
        )
    return gas

"""A private task on the embedded chain, driven step by step with the transcript library (no training): for
tests of the aggregator's and the auditor's side of private rounds, dropouts and tampering included."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aggregator.coordinator import Coordinator, RoundOutcome
from fedledger import codec
from fedledger.audit import RoundVerdict, verify_task
from fedledger.embedded_chain import advance_time
from fedledger.history import RoundHistory, task_history
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect
from fedledger.privacy.accounting import PrivateTask
from fedledger.privacy.dp import DpParams, add_noise, noise_rng, participant_sigma
from fedledger.privacy.masks import (
    KeyPair,
    RoundRef,
    generate_keypair,
    mask_update,
    new_self_seed,
    seed_commitment,
)
from fedledger.privacy.quantize import QuantParams, encode_update
from fedledger.privacy.spec import parse_privacy_canonical
from fedledger.privacy.transcript import (
    encode_masked,
    flatten,
    open_bundle,
    roles_of,
    seal_bundle,
    sha256,
    unmask_material,
)
from fedledger.records import TaskLimits
from fedledger.store import LocalStore
from fedledger.tasks import launch_task

SHAPES = {"layer.weight": (3, 2), "layer.bias": (3,)}
CAP = 50
PARAMS = "secagg:clip=1.0,scale_bits=16"


def base_model() -> codec.Tensors:
    return {name: np.full(shape, 0.5, dtype=np.float32) for name, shape in SHAPES.items()}


class Member:
    """One participant's secrets for one round, and its plain update."""

    def __init__(self, signer: Signer, i: int) -> None:
        self.signer = signer
        self.address = signer.address.lower()
        self.c: KeyPair = generate_keypair()
        self.s: KeyPair = generate_keypair()
        self.seed = new_self_seed()
        rng = np.random.default_rng(100 + i)
        self.delta = {k: rng.normal(0, 0.1, v).astype(np.float32) for k, v in SHAPES.items()}
        self.samples = 10 + 5 * i


class PrivateFederation:
    """A deployed contract with one private task (owner = aggregator = account 0) and round 1 open."""

    def __init__(
        self,
        root: Path,
        *,
        participants: int = 4,
        quorum: int = 2,
        threshold: int = 2,
        params: str = PARAMS,
        max_rounds: int = 0,
    ) -> None:
        self.w3 = connect(EMBEDDED)
        self.owner = Signer(self.w3.eth.accounts[0])
        self.people = [Signer(a) for a in self.w3.eth.accounts[1 : 1 + participants]]
        self.store = LocalStore(root / "store")
        self.ledger, _ = Ledger.deploy(self.w3, self.owner)
        initial = codec.encode(base_model())
        self.threshold = threshold
        self.spec = parse_privacy_canonical(params)
        self.task = launch_task(
            self.ledger,
            self.owner,
            self.store,
            initial,
            participants=[p.address for p in self.people],
            quorum=quorum,
            round_duration=600,
            strategy="fedavg",
            limits=TaskLimits(max_samples=CAP, grace_period=600),
            privacy=PrivateTask(self.spec, threshold, max_rounds, 100, 100, 100, CAP),
        ).task_id
        self.coordinator = Coordinator(self.ledger, self.store, self.owner, fetch_budget=10.0)
        self.members: list[Member] = []

    # ---------------------------------------------------------------- steps

    @property
    def round(self) -> int:
        return self.ledger.get_task(self.task).round

    @property
    def ref(self) -> RoundRef:
        return RoundRef(self.task, self.round)

    def record(self) -> RoundHistory:
        history = task_history(self.ledger, self.task)
        return next(r for r in history.rounds if r.round == self.round)

    def roles(self):  # type: ignore[no-untyped-def]
        r = self.record()
        return roles_of(
            self.ref,
            [(k.participant, k.encryption_key, k.mask_key, k.seed_commitment) for k in r.keys],
            [s.participant for s in r.shares],
            [u.participant for u in r.submissions],
        )

    def advertise(self, who: list[int]) -> None:
        self.members = [Member(p, i) for i, p in enumerate(self.people)]
        for i in who:
            m = self.members[i]
            self.ledger.advertise_keys(
                m.signer, self.task, self.round, encryption_key=m.c.public, mask_key=m.s.public,
                seed_commitment=seed_commitment(m.seed, m.address, self.ref),
            )  # fmt: skip

    def post_shares(self, who: list[int]) -> None:
        roles = self.roles()
        for i in who:
            m = self.members[i]
            data = seal_bundle(roles, m.address, m.c.private, m.s.private, m.seed, self.threshold)
            self.ledger.post_shares(m.signer, self.task, self.round, sha256(data), self.store.put(data))

    def upload(self, who: list[int], *, tamper: dict[int, bytes] | None = None) -> None:
        roles = self.roles()
        quant = QuantParams(clip=1.0, scale_bits=16, weight_cap=CAP, max_participants=len(roles.key_set))
        for i in who:
            m = self.members[i]
            words = encode_update(flatten(m.delta), m.samples, quant)
            if self.spec.dp:
                dp = DpParams(self.spec.noise, self.spec.delta, self.threshold)
                words = add_noise(words, participant_sigma(dp, quant, self.spec.dim), noise_rng())
            peers = {a: k for a, k in roles.masking_set.items() if a != m.address}
            data = (tamper or {}).get(i) or encode_masked(
                mask_update(words, m.address, m.s, peers, m.seed, self.ref)
            )
            self.ledger.submit_update(
                m.signer, self.task, self.round, sha256(data), self.store.put(data), m.samples
            )

    def unmask(self, who: list[int], *, rewrite: dict[int, bytes] | None = None) -> None:
        roles = self.roles()
        record = self.record()
        bundles = {s.participant.lower(): self.store.get(s.cid) for s in record.shares}
        for i in who:
            m = self.members[i]
            opened = {d: open_bundle(b, roles, d, m.address, m.c.private) for d, b in bundles.items()}
            data = (rewrite or {}).get(i) or unmask_material(roles, m.address, opened)
            self.ledger.post_unmask(m.signer, self.task, self.round, sha256(data), self.store.put(data))

    def everyone_steps_in(self, *, unmask: bool = True) -> list[int]:
        """Every member advertises, shares and uploads (and unmasks): the round nobody drops out of."""
        everyone = list(range(len(self.people)))
        self.advertise(everyone)
        self.post_shares(everyone)
        self.upload(everyone)
        if unmask:
            self.unmask(everyone)
        return everyone

    def travel(self, seconds: int) -> None:
        advance_time(self.w3, self.ledger.block_timestamp() + seconds)

    def close(self) -> RoundOutcome:
        return self.coordinator.close_round(self.task)

    def verdicts(self) -> list[RoundVerdict]:
        history = task_history(self.ledger, self.task)
        return [v for v in verify_task(history, self.store) if v.verdict != "OPEN"]

    def expected_model(self, who: list[int]) -> np.ndarray:
        weight = sum(min(self.members[i].samples, CAP) for i in who)
        total = sum(
            flatten(self.members[i].delta).astype(np.float64) * min(self.members[i].samples, CAP) for i in who
        )
        return flatten(base_model()).astype(np.float64) + total / weight

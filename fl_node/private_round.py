"""The participant's side of a private round: keys, share bundle, masked upload, unmask material (README,
"Private rounds"), one transaction each, waiting for each phase to end in between.

A participant runs it from the start of the round (the keys phase) to the start of the unmask phase, a few
minutes with the default periods. Its secrets live in this process only: a participant that stops half way is a
dropout, which the others survive (its mask key is rebuilt from their shares if it had posted shares; nothing at
all is needed if it had not). Every wait is bounded by the phase's deadline on the chain, read with the wall
clock, since an idle devnet answers views at an old block time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fedledger.clock import describe
from fedledger.exceptions import ConfigurationError, FedLedgerError, StoreError, SubmissionRefusedError
from fedledger.fetch import fetch_model
from fedledger.history import RoundHistory, task_history
from fedledger.ledger import Ledger, Signer
from fedledger.privacy.accounting import PrivateTask, read_private_task
from fedledger.privacy.dp import add_noise, check_headroom, noise_rng, participant_sigma
from fedledger.privacy.errors import PrivacyError
from fedledger.privacy.masks import RoundRef, generate_keypair, mask_update, new_self_seed, seed_commitment
from fedledger.privacy.phases import KEYS, PHASE_NAMES, SETTLE, SHARES, UPLOADS, phase_at, phase_end
from fedledger.privacy.quantize import encode_update
from fedledger.privacy.transcript import (
    Roles,
    encode_masked,
    flatten,
    open_bundle,
    roles_of,
    seal_bundle,
    sha256,
    unmask_material,
)
from fedledger.records import TaskState
from fedledger.store import ContentStore
from fedledger.strategy_spec import parse_canonical
from fl_node.data import DatasetSplit
from fl_node.model import ModelConfig, model_config_for
from fl_node.participant import train_update
from fl_node.submit import check_participant
from fl_node.train import TrainConfig

DROP_POINTS = ("keys", "shares", "upload")  # where a test or demo participant may stop (a simulated dropout)
SLACK = 15.0  # seconds past a phase deadline a participant keeps polling for the block that ends it


@dataclass
class PrivateSubmission:
    """What a participant did in one private round (empty fields: the step it did not reach)."""

    task_id: int
    round: int
    participant: str
    num_samples: int = 0
    cid: str = ""  # the masked upload
    digest: bytes = b""
    shares_cid: str = ""
    unmask_cid: str = ""
    survivors: int = 0
    dropped: int = 0
    stopped_after: str = ""  # the drop point it stopped at, if any
    gas: dict[str, int] = field(default_factory=dict)


def private_task_of(ledger: Ledger, task_id: int) -> PrivateTask | None:
    """The task's private settings, None for a plain task; ConfigurationError when they are unusable."""
    history = task_history(ledger, task_id)
    if history.privacy is None:
        return None
    task = read_private_task(history.privacy, history.limits.max_samples)
    if isinstance(task, str):
        raise ConfigurationError(f"task {task_id} is private but its settings are unusable: {task}")
    return task


class PrivateSteps:
    """One participant in one private round: its secrets, each step's transaction, and the chain reads it needs
    between steps (``node train`` runs them with waits in between; the demo runs every participant's in lockstep)."""

    def __init__(
        self,
        ledger: Ledger,
        store: ContentStore,
        signer: Signer,
        task_id: int,
        private: PrivateTask,
        on_progress: Callable[[str], None],
        poll: float,
    ) -> None:
        self.ledger, self.store, self.signer, self.task_id = ledger, store, signer, task_id
        self.private, self.say, self.poll = private, on_progress, poll
        self.me = signer.address.lower()
        self.envelope_keys, self.mask_keys, self.seed = (
            generate_keypair(),
            generate_keypair(),
            new_self_seed(),
        )
        self.task = ledger.get_task(task_id)
        self.round = self.task.round
        self.ref = RoundRef(task_id, self.round)

    def record(self) -> RoundHistory:
        history = task_history(self.ledger, self.task_id)
        return next((r for r in history.rounds if r.round == self.round), RoundHistory(self.round))

    def roles(self) -> Roles:
        r = self.record()
        return roles_of(
            self.ref,
            [(k.participant, k.encryption_key, k.mask_key, k.seed_commitment) for k in r.keys],
            [s.participant for s in r.shares],
            [u.participant for u in r.submissions],
        )

    def wait_past(self, phase: int) -> None:
        """Wait until the round's phase is later than ``phase`` (bounded by that phase's deadline + SLACK).

        A phase that ends by its deadline is over for sure once the chain's own latest block is past it; on a
        chain that mines only on demand that block may never come, so the wall clock decides then, after
        ``SETTLE`` more seconds: a block stamped just before the deadline can still be published just after it,
        and every participant must read the same postings."""
        view = self.ledger.private_view(self.task_id, self.me)
        task = self.ledger.get_task(self.task_id)
        limit = phase_end(view, task, phase) + SLACK
        announced = False
        while phase_at(view, task, view.timestamp) <= phase:
            if phase_at(view, task, time.time() - SETTLE) > phase:
                return  # the wall clock, past the deadline by SETTLE seconds
            if task.round != self.round:
                raise FedLedgerError(f"round {self.round} of task {self.task_id} closed while it waited")
            if time.time() > limit:
                raise FedLedgerError(
                    f"the {PHASE_NAMES[phase]} phase of round {self.round} should have ended at "
                    f"{describe(phase_end(view, task, phase))}, but the chain still shows it; is the node mining?"
                )
            if not announced:
                self.say(
                    f"waiting for the {PHASE_NAMES[phase]} phase to end ({view.keys} keys, {view.shares} bundles, "
                    f"{task.submissions} uploads so far; at the latest {describe(phase_end(view, task, phase))})"
                )
                announced = True
            time.sleep(self.poll)
            view = self.ledger.private_view(self.task_id, self.me)
            task = self.ledger.get_task(self.task_id)

    def advertise(self) -> int:
        tx = self.ledger.advertise_keys(
            self.signer,
            self.task_id,
            self.round,
            encryption_key=self.envelope_keys.public,
            mask_key=self.mask_keys.public,
            seed_commitment=seed_commitment(self.seed, self.me, self.ref),
        )
        self.say(f"round {self.round}: keys advertised")
        return tx.gas_used

    def share(self) -> tuple[str, int]:
        roles = self.roles()
        if len(roles.key_set) < self.private.threshold:
            raise SubmissionRefusedError(
                f"only {len(roles.key_set)} participants advertised keys in round {self.round} of task "
                f"{self.task_id}, below its threshold {self.private.threshold}: the round cannot finish"
            )
        bundle = seal_bundle(
            roles,
            self.me,
            self.envelope_keys.private,
            self.mask_keys.private,
            self.seed,
            self.private.threshold,
        )
        cid = self.store.put(bundle)
        tx = self.ledger.post_shares(self.signer, self.task_id, self.round, sha256(bundle), cid)
        self.say(f"round {self.round}: share bundle for {len(roles.key_set)} key holders posted")
        return cid, tx.gas_used

    def upload(self, update: npt.NDArray[np.float32], num_samples: int) -> tuple[str, bytes, int]:
        roles = self.roles()
        if self.me not in roles.posted_shares:
            raise SubmissionRefusedError(f"{self.me} is not among round {self.round}'s share posters")
        try:
            quant = self.private.quant_params(len(roles.key_set))
            words = encode_update(update, num_samples, quant)
            dp = self.private.dp_params
            if dp is not None:
                check_headroom(dp, quant, len(update), len(roles.key_set))
                words = add_noise(words, participant_sigma(dp, quant, len(update)), noise_rng())
        except PrivacyError as exc:
            raise SubmissionRefusedError(f"round {self.round} cannot encode this update: {exc}") from None
        peers = {a: k for a, k in roles.masking_set.items() if a != self.me}
        data = encode_masked(mask_update(words, self.me, self.mask_keys, peers, self.seed, self.ref))
        digest = sha256(data)
        cid = self.store.put(data)
        tx = self.ledger.submit_update(self.signer, self.task_id, self.round, digest, cid, num_samples)
        self.say(f"round {self.round}: masked upload registered (masked against {len(peers)} peers)")
        return cid, digest, tx.gas_used

    def unmask(self, fetch_timeout: float | None) -> tuple[str, int, Roles]:
        roles = self.roles()
        opened = {}
        for posting in self.record().shares:
            dealer = posting.participant.lower()
            try:
                data = self.store.get(posting.cid, timeout=fetch_timeout)
                if sha256(data) != posting.digest:
                    raise PrivacyError("its bytes do not hash to the registered digest")
                opened[dealer] = open_bundle(data, roles, dealer, self.me, self.envelope_keys.private)
            except (PrivacyError, StoreError) as exc:
                self.say(f"the share bundle of {dealer} is left out: {exc}")
        material = unmask_material(roles, self.me, opened)
        cid = self.store.put(material)
        tx = self.ledger.post_unmask(self.signer, self.task_id, self.round, sha256(material), cid)
        self.say(
            f"round {self.round}: unmask material posted ({len(roles.survivors)} survivors, "
            f"{len(roles.dropped)} dropped)"
        )
        return cid, tx.gas_used, roles


def local_update(
    base: dict[str, np.ndarray],
    task: TaskState,
    split: DatasetSplit,
    data: tuple[np.ndarray, np.ndarray],
    train_config: TrainConfig,
    model_config: ModelConfig,
) -> npt.NDArray[np.float32]:
    """The flat update a private round sums: trained model − base (FedAvg), or −lr · gradient (FedSGD's step)."""
    trained = train_update(base, task, split, data, train_config, model_config)
    rule = parse_canonical(task.strategy)
    if rule.sends_gradients:
        lr = float(rule.get("lr") or 0.0)
        return (-lr * flatten(trained).astype(np.float64)).astype(np.float32)
    local = trained
    update = (flatten(local).astype(np.float64) - flatten(base)).astype(np.float32)
    if not np.isfinite(update).all():
        raise SubmissionRefusedError("the trained update has NaN or infinite values; nothing was uploaded")
    return update


def wait_for_keys_phase(
    ledger: Ledger,
    task_id: int,
    account: str,
    timeout: float,
    on_progress: Callable[[str], None] = lambda message: None,
    poll: float = 1.0,
) -> None:
    """Wait (at most ``timeout`` seconds) until the task has a round in its keys phase that ``account`` has not
    joined yet: a participant started before its round opens joins it as soon as it does."""
    stop = time.time() + timeout
    on_progress(f"waiting for a round of task {task_id} to open its keys phase (at most {timeout:g} s)")
    while True:
        view = ledger.participant_view(task_id, account)
        private = ledger.private_view(task_id, account)
        now = ledger.next_block_time(view.timestamp)
        if view.task.round_open and not private.posted_keys and phase_at(private, view.task, now) == KEYS:
            return
        if time.time() > stop:
            raise SubmissionRefusedError(
                f"no round of task {task_id} opened its keys phase within {timeout:g} s; run `node train` again "
                "when the owner or aggregator opens one"
            )
        time.sleep(poll)


def run_private_round(
    ledger: Ledger,
    store: ContentStore,
    signer: Signer,
    task_id: int,
    private: PrivateTask,
    split: DatasetSplit,
    data: tuple[np.ndarray, np.ndarray],
    train_config: TrainConfig,
    *,
    fetch_timeout: float | None = 30.0,
    verify_base: Callable[[TaskState], None] | None = None,
    on_progress: Callable[[str], None] = lambda message: None,
    model_config: ModelConfig | None = None,
    poll: float = 0.5,
    drop_after: str | None = None,
) -> PrivateSubmission:
    """Take ``signer`` through the open private round of ``task_id``, from its keys phase to its unmask posting.

    ``drop_after`` ("keys", "shares", "upload") stops after that step, as a participant that dies there would
    (tests and demos of dropouts). Raises SubmissionRefusedError when the round is past its keys phase.
    """
    if drop_after is not None and drop_after not in DROP_POINTS:
        raise ConfigurationError(f"--drop-after must be one of {', '.join(DROP_POINTS)}, not {drop_after!r}")
    view = check_participant(ledger, task_id, signer.address)
    task, cap = view.task, view.sample_cap
    pview = ledger.private_view(task_id, signer.address)
    phase = phase_at(pview, task, ledger.next_block_time(view.timestamp))
    if phase != KEYS or pview.posted_keys:
        raise SubmissionRefusedError(
            f"round {task.round} of task {task_id} is in its {PHASE_NAMES[phase]} phase: a participant joins a "
            "private round in its keys phase (it draws the round's keys there); run `node train` again when "
            "the next round opens"
        )
    x, _ = data
    num_samples = min(len(x), cap) if cap else len(x)
    step = PrivateSteps(ledger, store, signer, task_id, private, on_progress, poll)
    result = PrivateSubmission(task_id, step.round, signer.address, num_samples)
    result.gas["keys"] = step.advertise()
    if drop_after == "keys":
        result.stopped_after = "keys"
        return result
    step.wait_past(KEYS)
    result.shares_cid, result.gas["shares"] = step.share()
    if drop_after == "shares":
        result.stopped_after = "shares"
        return result
    if verify_base is not None:
        on_progress(f"verifying the global model of task {task_id} before building on it")
        verify_base(task)
    base = fetch_model(
        store, task.model_cid, task.model_digest, fetch_timeout, max_bytes=task.limits.max_update_bytes
    )
    on_progress(f"training round {task.round} on {len(x)} samples")
    update = local_update(base, task, split, data, train_config, model_config or model_config_for(split))
    step.wait_past(SHARES)
    result.cid, result.digest, result.gas["upload"] = step.upload(update, num_samples)
    if drop_after == "upload":
        result.stopped_after = "upload"
        return result
    step.wait_past(UPLOADS)
    result.unmask_cid, result.gas["unmask"], roles = step.unmask(fetch_timeout)
    result.survivors, result.dropped = len(roles.survivors), len(roles.dropped)
    return result

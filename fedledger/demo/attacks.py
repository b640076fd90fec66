"""Attacks by participants, run through the real protocol on the embedded default, to measure each rule's defence.

Honest participants train on their own slice (IID by default; ``iid=False`` gives the non-IID layout of
``fl_node.data.partition``: bikes by runs of months); attackers (the first ``fraction`` of participants) do one of:

``label_flip``   train on flipped targets (digits: y -> 9 - y; bikes: log-demand mirrored around its mean);
``sign_flip``    send the honest update's change reversed: base - (trained - base);
``noise``        send base + Gaussian noise (sigma 10), a finite but useless update;
``noise1e37``    send base + N(0, 1) x 1e37: finite in float32 (the largest is about 3.4e38), so it passes
                 validation, and so large that any mean it enters overflows;
``scaled10``     send base + 10 x (trained - base); ``scaled100`` the same x100;
``inflation``    send a label-flipped update and claim 10^9 samples (the contract caps the claim when the task
                 has a cap: the attacker then claims the cap);
``free_ride``    send the base model unchanged (excluded as ``unchanged``).

Every round goes through the contract, the coordinator and the audit, like the demo; only the participants'
behaviour differs. Used by ``benchmarks/attacks.py`` and by the tests that hold the rules to a margin.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from aggregator.coordinator import Coordinator, RoundNotReadyError
from fedledger import codec
from fedledger.audit import audit_summary, verify_task
from fedledger.embedded_chain import advance_time
from fedledger.history import task_history
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect, embedded_accounts
from fedledger.records import TaskLimits
from fedledger.rules.strategies import strategy_from_spec
from fedledger.store import LocalStore
from fedledger.tasks import launch_task
from fl_node.data import DatasetSplit, load_dataset, partition
from fl_node.model import initial_model, model_config_for
from fl_node.train import TrainConfig, evaluate, train_local

ATTACKS = ("label_flip", "sign_flip", "noise", "scaled10", "scaled100", "inflation", "free_ride")
EXTRA_ATTACKS = ("noise1e37",)  # not in the benchmark's full grid
INFLATED = 10**9
# Local training per dataset: 10 IID participants reach 0.92 accuracy (digits) and RMSE 46 (bikes) in 3 clean
# FedAvg rounds with these (the demo's defaults learn too slowly on 10 small slices to show an attack's harm).
TRAINING = {
    "digits": TrainConfig(epochs=5, lr=0.1, batch_size=32),
    "bikes": TrainConfig(epochs=5, lr=0.05, batch_size=32),
}


@dataclass(frozen=True)
class AttackRun:
    """One federation: dataset, size, rule, attack and the fraction of attackers."""

    dataset: str = "digits"
    participants: int = 10
    rounds: int = 3
    strategy: str = "fedavg"
    attack: str | None = None
    fraction: float = 0.0
    cap: int = 0  # per-submission sample cap of the task (0: none)
    seed: int = 0
    iid: bool = True  # False: the non-IID layout of ``fl_node.data.partition``
    training: TrainConfig | None = None  # local training (seeds aside); None: ``TRAINING[dataset]``


@dataclass(frozen=True)
class RoundTrace:
    """What one round saw, for diagnostics: the base, every submitted update (attackers first) and the result."""

    round_index: int
    base: codec.Tensors
    updates: list[codec.Tensors]
    attackers: int  # the first ``attackers`` of ``updates`` came from attackers
    model: codec.Tensors  # the round's global model (the base again when the round failed)


@dataclass
class AttackResult:
    run: AttackRun
    metric_name: str
    metric: float  # of the last global model on the held-out test set
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> count over all rounds
    audit_ok: bool = False
    failed_rounds: int = 0


def _flip(split: DatasetSplit, y: np.ndarray) -> np.ndarray:
    if split.task == "classification":
        return (split.num_classes - 1 - y).astype(np.float32)
    return (2 * float(np.mean(split.y_train)) - y).astype(np.float32)


def _attacker_update(
    attack: str, split: DatasetSplit, base: codec.Tensors, x: np.ndarray, y: np.ndarray, cfg: TrainConfig
) -> codec.Tensors:
    model_cfg = model_config_for(split)
    if attack in ("label_flip", "inflation"):
        return train_local(base, model_cfg, x, _flip(split, y), split.task, cfg)
    if attack == "free_ride":
        return base
    if attack in ("noise", "noise1e37"):
        rng = np.random.default_rng(cfg.seed)
        sigma = 10.0 if attack == "noise" else 1e37
        return {k: (v + sigma * rng.normal(0, 1.0, v.shape)).astype(np.float32) for k, v in base.items()}
    trained = train_local(base, model_cfg, x, y, split.task, cfg)
    factor = {"sign_flip": -1.0, "scaled10": 10.0, "scaled100": 100.0}[attack]
    return {k: (base[k] + factor * (trained[k] - base[k])).astype(np.float32) for k in base}


def run_attack(
    run: AttackRun,
    on_progress: Callable[[str], None] = lambda message: None,
    on_round: Callable[[RoundTrace], None] = lambda trace: None,
) -> AttackResult:
    """Run ``run.rounds`` rounds with attackers and return the final metric, exclusions and the audit verdict.

    ``on_round`` sees every round's base, updates and global model (``benchmarks/attacks.py --focus`` measures
    how far a rule moved from the honest updates with it).
    """
    with tempfile.TemporaryDirectory(prefix="fedledger-attack-") as scratch:
        return _run(run, Path(scratch), on_progress, on_round)


def _run(
    run: AttackRun,
    scratch: Path,
    on_progress: Callable[[str], None],
    on_round: Callable[[RoundTrace], None],
) -> AttackResult:
    split = load_dataset(run.dataset, seed=run.seed)  # type: ignore[arg-type]
    store = LocalStore(scratch)
    w3 = connect(EMBEDDED)
    owner = Signer(w3.eth.accounts[0])
    people = embedded_accounts(w3, run.participants + 1)[1:]
    ledger, _ = Ledger.deploy(w3, owner)
    initial = codec.encode(initial_model(split, seed=run.seed))
    task = launch_task(
        ledger,
        owner,
        store,
        initial,
        participants=[person.address for person in people],
        quorum=max(1, run.participants // 2, strategy_from_spec(run.strategy).min_updates()),
        round_duration=3600,
        strategy=run.strategy,
        limits=TaskLimits(max_samples=run.cap, grace_period=3600),
    ).task_id
    attackers = round(run.fraction * run.participants) if run.attack else 0
    shards = [
        partition(split, run.participants, k, iid=run.iid, seed=run.seed) for k in range(run.participants)
    ]
    coordinator = Coordinator(ledger, store, owner)
    excluded: dict[str, int] = {}
    failed = 0
    for round_index in range(1, run.rounds + 1):
        on_progress(f"{run.strategy} {run.attack or 'clean'} {run.fraction:.0%}: round {round_index}")
        state = ledger.get_task(task)
        base = codec.decode(store.get(state.model_cid))
        submitted: list[codec.Tensors] = []
        for k, person in enumerate(people):
            x, y = shards[k]
            cfg = replace(run.training or TRAINING[run.dataset], seed=run.seed * 1000 + round_index * 100 + k)
            if k < attackers and run.attack:
                update, samples = _attacker_update(run.attack, split, base, x, y, cfg), len(x)
                if run.attack == "inflation":
                    samples = min(INFLATED, run.cap) if run.cap else INFLATED
            else:
                update, samples = train_local(base, model_config_for(split), x, y, split.task, cfg), len(x)
            submitted.append(update)
            data = codec.encode(update)
            ledger.submit_update(
                person, task, state.round, codec.model_digest(data), store.put(data), samples
            )
        try:
            outcome = coordinator.close_round(task)
        except RoundNotReadyError:  # too few valid updates: the round fails at its deadline
            advance_time(w3, state.deadline + 1)
            outcome = coordinator.close_round(task)
        failed += outcome.failed
        model = codec.decode(store.get(ledger.get_task(task).model_cid))
        on_round(RoundTrace(round_index, base, submitted, attackers, model))
        for exclusion in outcome.excluded:
            excluded[exclusion.reason] = excluded.get(exclusion.reason, 0) + 1
    final = ledger.get_task(task)
    metric = evaluate(codec.decode(store.get(final.model_cid)), split)
    verdicts = verify_task(task_history(ledger, task), store)
    return AttackResult(run, metric.name, metric.value, excluded, audit_summary(verdicts)["ok"], failed)

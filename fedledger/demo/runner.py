"""The zero-setup demo: one process plays owner, participants, aggregator and auditor on the embedded default.

An in-process chain (``fedledger.embedded_chain``) and a local content-addressed directory stand in for the devnet and IPFS; every
other line of code is the same the separate `fedledger node train`, `aggregate` and `audit verify` commands run.
Like the CLI, the demo is a face of the house: it reaches both sides, fl_node and aggregator.

The content store lives in a temporary folder removed at the end of the run, unless ``store_dir`` names one to
keep (the CLI's ``--report DIR`` keeps it as ``DIR/store``, so the report's CIDs can be checked later).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aggregator.coordinator import Coordinator
from fedledger import codec
from fedledger.audit import audit_summary, verify_task
from fedledger.demo.private import run_private_round
from fedledger.exceptions import ConfigurationError
from fedledger.explorer import report_data
from fedledger.explorer import write_report as write_page
from fedledger.history import task_history
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect, embedded_accounts
from fedledger.privacy.plan import PrivacyRequest, plan_privacy
from fedledger.records import TaskLimits
from fedledger.rules.strategies import strategy_from_spec
from fedledger.store import LocalStore
from fedledger.strategy_spec import parse_spec
from fedledger.tasks import launch_task
from fl_node.data import load_dataset, partition
from fl_node.model import initial_model
from fl_node.participant import train_and_submit
from fl_node.train import Metric, TrainConfig, centralised_baseline, evaluate

Progress = Callable[[str], None]
DEMO_ROUND_SECONDS = 3600
# With DP, the noise in the mean update grows with the clip and shrinks only with the number of participants: at
# the demo's handful of them, clip 1.0 noise wrecks the bikes model within two rounds (training on it overflows);
# at 0.1 the rounds run and audit, and the table shows what DP at four participants costs (no learning).
DEMO_DP_CLIP = 0.1


@dataclass(frozen=True)
class DemoConfig:
    participants: int = 4
    rounds: int = 5
    dataset: str = "bikes"
    strategy: str = "fedavg"
    seed: int = 0
    store_dir: Path | None = None
    page_dir: Path | None = None  # also write the audit page (index.html and index.json) here
    privacy: str | None = None  # "secagg": private rounds (secure aggregation with a public transcript)
    dp_epsilon: float | None = (
        None  # with privacy: distributed DP noise spending at most this over the rounds
    )


@dataclass
class RoundReport:
    round: int
    included: int
    excluded: list[dict[str, Any]]
    global_digest: str
    metric: dict[str, Any]
    gas: dict[str, int]
    seconds: float


@dataclass
class DemoReport:
    config: dict[str, Any]
    contract: str
    task_id: int
    initial_metric: dict[str, Any]
    baseline: dict[str, Any]
    rounds: list[RoundReport] = field(default_factory=list)
    privacy: dict[str, Any] | None = None  # the private task's settings (README, "Private rounds")
    audit: dict[str, Any] = field(default_factory=dict)
    gas: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    report_files: dict[str, str] = field(default_factory=dict)  # what --report wrote: name -> absolute path

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _metric(metric: Metric) -> dict[str, Any]:
    return {"name": metric.name, "value": round(metric.value, 6), "higher_is_better": metric.higher_is_better}


def run_demo(config: DemoConfig, on_progress: Progress = lambda message: None) -> DemoReport:
    """Deploy, create a task, run ``rounds`` rounds with ``participants`` participants, then audit every round."""
    if config.store_dir is not None:
        return _run(config, config.store_dir, on_progress)
    with tempfile.TemporaryDirectory(prefix="fedledger-demo-") as scratch:
        return _run(config, Path(scratch), on_progress)


def _run(config: DemoConfig, store_dir: Path, on_progress: Progress) -> DemoReport:
    started = time.perf_counter()
    rule = strategy_from_spec(parse_spec(config.strategy))  # fail before any training
    spec = rule.spec
    if rule.min_updates() > config.participants:
        raise ConfigurationError(
            f"{spec} needs at least {rule.min_updates()} valid updates per round: use --participants "
            f"{rule.min_updates()} or more"
        )
    split = load_dataset(config.dataset, seed=config.seed)  # type: ignore[arg-type]
    store = LocalStore(store_dir)
    w3 = connect(EMBEDDED)
    owner = Signer(w3.eth.accounts[0])
    participants = embedded_accounts(w3, config.participants + 1)[1:]

    on_progress("deploying the round contract")
    ledger, deploy_tx = Ledger.deploy(w3, owner)
    initial = initial_model(split, seed=config.seed)
    initial_bytes = codec.encode(initial)
    shards = [partition(split, config.participants, k, seed=config.seed) for k in range(config.participants)]
    quorum = max(1, config.participants // 2 + 1, rule.min_updates())
    limits = TaskLimits()
    plan = None
    if config.privacy is not None:
        limits = TaskLimits(max_samples=max(len(x) for x, _ in shards))
        request = PrivacyRequest(
            scheme=config.privacy,
            clip=DEMO_DP_CLIP if config.dp_epsilon is not None else None,
            dp_epsilon=config.dp_epsilon,
            max_rounds=config.rounds if config.dp_epsilon is not None else None,
        )
        dim = sum(int(np.asarray(v).size) for v in initial.values())
        plan = plan_privacy(
            request, rule=parse_spec(spec), limits=limits, members=config.participants, quorum=None,
            round_duration=DEMO_ROUND_SECONDS, dim=dim,
        )  # fmt: skip
        quorum = plan.quorum
    elif config.dp_epsilon is not None:
        raise ConfigurationError(
            "--dp-epsilon needs --privacy secagg: noise is added by participants under it"
        )
    created = launch_task(
        ledger, owner, store, initial_bytes, participants=[signer.address for signer in participants],
        quorum=quorum, round_duration=DEMO_ROUND_SECONDS, strategy=spec, limits=limits,
        privacy=plan.task if plan is not None else None,
    )  # fmt: skip
    task_id, create_tx = created.task_id, created.create_tx

    on_progress("training the centralised baseline")
    report = DemoReport(
        config={
            **asdict(config),
            "strategy": spec,
            "store_dir": str(config.store_dir or ""),
            "page_dir": str(config.page_dir or ""),
        },
        contract=ledger.address,
        task_id=task_id,
        initial_metric=_metric(evaluate(initial, split)),
        baseline=_metric(centralised_baseline(split)),
        gas={"deploy": deploy_tx.gas_used, "create_task": create_tx.gas_used},
    )
    if plan is not None:
        report.privacy = plan.json()
    coordinator = Coordinator(ledger, store, owner)
    train_config = TrainConfig(seed=config.seed)
    for round_index in range(1, config.rounds + 1):
        round_started = time.perf_counter()
        submit_gas = []
        private_gas: dict[str, int] = {}
        if plan is not None:
            on_progress(f"round {round_index}/{config.rounds}: keys, shares, masked uploads, unmask")
            steps = run_private_round(
                ledger, store, participants, task_id, plan.task, split, shards, train_config, on_progress
            )
            submit_gas = steps["upload"]
            private_gas = {f"{step}_mean": sum(g) // len(g) for step, g in steps.items()}
        for k, signer in enumerate(participants if plan is None else []):
            on_progress(
                f"round {round_index}/{config.rounds}: participant {k + 1}/{config.participants} trains"
            )
            submission = train_and_submit(ledger, store, signer, task_id, split, shards[k], train_config)
            submit_gas.append(submission.tx.gas_used)
        on_progress(f"round {round_index}/{config.rounds}: aggregating")
        outcome = coordinator.close_round(task_id)
        assert outcome.tx is not None
        global_model = codec.decode(store.get(outcome.global_cid))
        report.rounds.append(
            RoundReport(
                round=outcome.round,
                included=len(outcome.included),
                excluded=[asdict(e) for e in outcome.excluded],
                global_digest=codec.digest_hex(outcome.global_digest),
                metric=_metric(evaluate(global_model, split)),
                gas={
                    "submit_mean": sum(submit_gas) // len(submit_gas),
                    "submit_max": max(submit_gas),
                    "finalize": outcome.tx.gas_used,
                    **private_gas,
                },
                seconds=round(time.perf_counter() - round_started, 3),
            )
        )

    on_progress("auditing every round from the chain and the store")
    verdicts = verify_task(task_history(ledger, task_id), store)
    report.audit = audit_summary(verdicts)
    if config.page_dir is not None:
        on_progress("writing the audit page")

        def metric(tensors: codec.Tensors) -> tuple[str, float]:
            score = evaluate(tensors, split)
            return score.name, score.value

        page = report_data(ledger, store, task_id, evaluate=metric)
        page_json, page_html = write_page(page, config.page_dir)
        report.report_files.update(page=str(page_html.resolve()), page_json=str(page_json.resolve()))
    if config.store_dir is not None:
        report.report_files["store"] = str(config.store_dir.resolve())
    report.wall_seconds = round(time.perf_counter() - started, 3)
    return report

"""Where a round's time goes, phase by phase, on the embedded default and on the devnet, side by side in one run.

Each round: every participant pre-checks the contract (the views `node submit` makes), fetches the global model,
trains, encodes (digest and CID), uploads and registers; the aggregator reads the round's events, fetches the
updates, validates and aggregates them, uploads the global model and finalizes; at the end a fresh auditor reads
the history and re-derives every round. The aggregator runs the real ``Coordinator``: its steps are timed by
wrapping the functions it calls, so nothing here is a re-implementation of the protocol.

Embedded = the pyrevm chain and a local content store in this process. Devnet = `fedledger devnet up` (anvil over
JSON-RPC and js-ipfs over the Kubo RPC API, two local daemons started here on free ports and stopped at the end).

`python benchmarks/phases.py [--dataset digits|mnist] [--participants N] [--rounds R]`; rewrites the `phases`
section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from report import Stopwatch, machine, table, write_section  # type: ignore[import-not-found]

import aggregator.coordinator as coordinator_module
from aggregator.coordinator import Coordinator
from fedledger import codec
from fedledger.audit import audit_summary, verify_task
from fedledger.cid import compute_cid
from fedledger.devnet import manager
from fedledger.fetch import fetch_model
from fedledger.fetching import RoundFetcher
from fedledger.history import task_history
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect, embedded_accounts
from fedledger.records import TaskLimits
from fedledger.rules.judge import judge_round
from fedledger.store import ContentStore, KuboStore, LocalStore
from fedledger.tasks import launch_task
from fl_node.data import load_dataset, partition
from fl_node.model import initial_model, model_config_for
from fl_node.submit import check_can_submit
from fl_node.threads import configure_torch_threads
from fl_node.train import MNIST_2NN_TRAIN, TrainConfig, train_local

PHASES = [
    ("participant", "pre-checks (contract views)"),
    ("participant", "fetch the global model"),
    ("participant", "training"),
    ("participant", "encoding, digest and CID"),
    ("participant", "upload"),
    ("participant", "registration (transaction)"),
    ("aggregator", "event polling"),
    ("aggregator", "fetch updates"),
    ("aggregator", "validation and aggregation"),
    ("aggregator", "upload the global model"),
    ("aggregator", "finalization (transaction)"),
    ("auditor", "audit (history + re-derivation)"),
]


Phases = Stopwatch


@contextmanager
def timing_the_coordinator(phases: Phases) -> Iterator[None]:
    """Time the Coordinator's own steps by wrapping what it calls (restored afterwards)."""
    saved = (
        coordinator_module.task_history,
        coordinator_module.fetch_model,
        coordinator_module.judge_round,
        RoundFetcher.fetch_all,
    )
    coordinator_module.task_history = phases.wrap("event polling", task_history)  # type: ignore[assignment]
    coordinator_module.fetch_model = phases.wrap("fetch updates", fetch_model)
    coordinator_module.judge_round = phases.wrap("validation and aggregation", judge_round)
    RoundFetcher.fetch_all = phases.wrap("fetch updates", RoundFetcher.fetch_all)  # type: ignore[method-assign]
    try:
        yield
    finally:
        (
            coordinator_module.task_history,
            coordinator_module.fetch_model,
            coordinator_module.judge_round,
            RoundFetcher.fetch_all,
        ) = saved  # type: ignore[method-assign]


class TimedStore:
    """A content store whose ``put`` is timed as the phase named at the time of the call."""

    def __init__(self, inner: ContentStore, phases: Phases) -> None:
        self.inner, self.phases, self.put_phase = inner, phases, "upload"

    def put(self, data: bytes) -> str:
        with self.phases(self.put_phase):
            return self.inner.put(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class TimedLedger:
    """A ledger whose ``finalize_round`` is timed; everything else is the ledger itself."""

    def __init__(self, inner: Ledger, phases: Phases) -> None:
        self.inner, self.phases = inner, phases

    def finalize_round(self, *args: Any, **kwargs: Any) -> Any:
        with self.phases("finalization (transaction)"):
            return self.inner.finalize_round(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def run_rounds(
    w3: Any, store: ContentStore, people: list[Signer], dataset: str, rounds: int, seed: int = 0
) -> tuple[Phases, dict[str, Any]]:
    """Deploy, create a task for ``people[1:]`` and run ``rounds`` timed rounds, then a timed audit."""
    split = load_dataset(dataset, seed=seed)  # type: ignore[arg-type]
    model_cfg = model_config_for(split)
    train_cfg = MNIST_2NN_TRAIN if dataset == "mnist" else TrainConfig(seed=seed)
    owner, participants = people[0], people[1:]
    shards = [partition(split, len(participants), k, seed=seed) for k in range(len(participants))]
    phases = Phases()
    timed_store = TimedStore(store, phases)
    ledger, _ = Ledger.deploy(w3, owner)
    initial = codec.encode(initial_model(split, seed=seed))
    task = launch_task(
        ledger,
        owner,
        store,
        initial,
        participants=[person.address for person in participants],
        quorum=len(participants),
        round_duration=10**6,
        strategy="fedavg",
        limits=TaskLimits(grace_period=10**6),
    ).task_id
    coordinator = Coordinator(TimedLedger(ledger, phases), timed_store, owner)  # type: ignore[arg-type]
    x0, y0 = shards[0]
    # torch's first call warms up (allocations, kernels): do it untimed
    train_local(codec.decode(initial), model_cfg, x0, y0, split.task, train_cfg)
    started = time.perf_counter()
    with timing_the_coordinator(phases):
        for _ in range(rounds):
            for k, person in enumerate(participants):
                x, y = shards[k]
                with phases("pre-checks (contract views)"):
                    state = check_can_submit(ledger, task, person.address, len(x))
                with phases("fetch the global model"):
                    base = fetch_model(store, state.model_cid, state.model_digest, 30.0)
                with phases("training"):
                    update = train_local(base, model_cfg, x, y, split.task, train_cfg)
                with phases("encoding, digest and CID"):
                    data = codec.encode(update)
                    digest = codec.model_digest(data)
                    compute_cid(data)
                timed_store.put_phase = "upload"
                cid = timed_store.put(data)
                with phases("registration (transaction)"):
                    ledger.submit_update(person, task, state.round, digest, cid, len(x))
            timed_store.put_phase = "upload the global model"
            coordinator.close_round(task)
    wall = time.perf_counter() - started
    with phases("audit (history + re-derivation)"):
        fresh = Ledger(w3, ledger.address, from_block=ledger.from_block)
        summary = audit_summary(verify_task(task_history(fresh, task), store))
    return phases, {
        "audit": summary,
        "wall": wall,
        "params": sum(t.size for t in codec.decode(initial).values()),
    }


def embedded(participants: int, dataset: str, rounds: int) -> tuple[Phases, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="fedledger-phases-") as scratch:
        w3 = connect(EMBEDDED)
        return run_rounds(w3, LocalStore(scratch), embedded_accounts(w3, participants + 1), dataset, rounds)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def temporary_devnet() -> Iterator[dict[str, Any]]:
    """`fedledger devnet up` on free ports in a scratch folder; its state (rpc_url, ipfs_api, ...); then down."""
    with tempfile.TemporaryDirectory(prefix="fedledger-bench-devnet-") as scratch:
        config = manager.DevnetConfig(
            Path(scratch) / "devnet.json", rpc_port=_free_port(), ipfs_port=_free_port()
        )
        state = manager.up(config, on_progress=lambda message: print(f"  devnet: {message}", flush=True))
        try:
            yield state
        finally:
            manager.down(config.state_file)


def devnet(participants: int, dataset: str, rounds: int) -> tuple[Phases, dict[str, Any]]:
    with temporary_devnet() as state:
        w3 = connect(state["rpc_url"])
        accounts = w3.eth.accounts
        if len(accounts) < participants + 1:
            raise SystemExit(
                f"the devnet has {len(accounts)} accounts; use --participants {len(accounts) - 1}"
            )
        people = [Signer(a) for a in accounts[: participants + 1]]
        return run_rounds(w3, KuboStore(state["ipfs_api"]), people, dataset, rounds)


def section(
    dataset: str, participants: int, rounds: int, runs: dict[str, tuple[Phases, dict[str, Any]]]
) -> str:
    names = list(runs)
    rows = []
    for side, phase in PHASES:
        cells = [f"{runs[n][0].seconds.get(phase, 0.0) / rounds * 1000:.0f}" for n in names]
        rows.append([side, phase, *cells])
    totals = {n: sum(v for k, v in runs[n][0].seconds.items() if not k.startswith("audit")) for n in names}
    training = {n: runs[n][0].seconds["training"] for n in names}
    rows.append(
        ["", "**round (everything but the audit)**", *[f"**{totals[n] / rounds * 1000:.0f}**" for n in names]]
    )
    rows.append(
        [
            "",
            "protocol overhead (round - training), vs training",
            *[f"{(totals[n] - training[n]) / training[n] * 100:.0f}%" for n in names],
        ]
    )
    audits = ", ".join(
        f"{n}: {runs[n][1]['audit']['status']}, {runs[n][1]['audit']['verified_rounds']} rounds verified"
        for n in names
    )
    params = runs[names[0]][1]["params"]
    return (
        "## A round's time, phase by phase\n\n"
        f"`python benchmarks/phases.py --dataset {dataset} --participants {participants} --rounds {rounds}` "
        f"({machine()}). {participants} participants, FedAvg, a {params:,}-parameter model, {rounds} rounds, one "
        "process playing every role in turn (so the participants' phases add up; in a real federation they run in "
        "parallel on their own machines). Milliseconds per round, summed over the participants. Embedded = "
        "the pyrevm chain and a local store in-process; devnet = anvil (JSON-RPC) and js-ipfs (Kubo RPC API), the daemons "
        "of `fedledger devnet up`. Audit per round = a fresh auditor's whole audit divided by the rounds. "
        f"Audit verdicts: {audits}.\n\n" + table(["who", "phase", *[f"{n} ms/round" for n in names]], rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=["digits", "bikes", "mnist"])
    parser.add_argument("--participants", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-devnet", action="store_true", help="embedded only (no Node.js daemons)")
    args = parser.parse_args()
    configure_torch_threads()
    runs = {"embedded": embedded(args.participants, args.dataset, args.rounds)}
    if not args.no_devnet:
        runs["devnet"] = devnet(args.participants, args.dataset, args.rounds)
    body = section(args.dataset, args.participants, args.rounds, runs)
    print(body)
    write_section("phases", body)


if __name__ == "__main__":
    main()

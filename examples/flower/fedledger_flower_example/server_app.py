"""The ServerApp: a Flower FedAvg run whose every round is anchored on-chain, then audited.

The fedledger lines: `anchored_task(...)` (a task for this run, on the embedded default or a devnet) and
`Anchored(FedAvg(...), ...)` around the strategy. Everything else is Flower's own: sampling, configuration,
client evaluation, the central `evaluate_fn`, `start()` and its `Result`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from web3 import Web3

from fedledger.audit import audit_summary, verify_task
from fedledger.flower import Anchored
from fedledger.flower.setup import anchored_task
from fedledger.history import task_history
from fedledger.ledger import Signer
from fedledger_flower_example.task import accuracy, initial

app = ServerApp()


def _setting(context: Context, key: str, default: str = "") -> str:
    """The run_config value (`flwr run` passes every key of pyproject.toml, "" and 0 included), else
    FEDLEDGER_<KEY> from the environment (run_simulation passes no run_config), else ``default``."""
    if key in context.run_config:
        return str(context.run_config[key])
    return os.environ.get("FEDLEDGER_" + key.upper().replace("-", "_"), default)


def _timed(configure: Any, starts: list[float]) -> Any:
    """Wrap configure_train to note when each round starts (the benchmark's per-round clock)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        starts.append(time.monotonic())
        return configure(*args, **kwargs)

    return wrapper


def _wait_for_nodes(grid: Grid, count: int, timeout: float = 120.0, settle: float = 3.0) -> int:
    """The number of Flower nodes the task is made for; SuperNodes may connect after the ServerApp starts.

    ``count`` > 0 waits for that many nodes. ``count`` 0 takes the nodes connected when the run starts: it waits for
    the first one, then until their number has not changed for ``settle`` seconds (a simulation registers all its
    nodes at once; in a deployment start the SuperNodes first, or pass ``num-clients``).
    """
    deadline = time.monotonic() + timeout
    seen, since = -1, time.monotonic()
    while True:
        connected = len(list(grid.get_node_ids()))
        if connected != seen:
            seen, since = connected, time.monotonic()
        if count and connected >= count:
            return count
        if not count and connected and time.monotonic() - since >= settle:
            return connected
        if time.monotonic() > deadline:
            want = f"{count} Flower nodes" if count else "a Flower node"
            raise RuntimeError(
                f"{connected} Flower node(s) connected within {timeout:g} s, the run needs {want}: start more "
                "SuperNodes, or lower num-clients (`--run-config num-clients=N`; 0 = the nodes connected); in a "
                "local simulation, `--federation-config num-supernodes=N` sets how many nodes there are"
            )
        time.sleep(0.2)


def _owner() -> Signer | None:
    """The task owner's key from $FEDLEDGER_PRIVATE_KEY on the ServerApp's host (never run_config: every node
    sees that); None: the chain node's dev account 0."""
    key = os.environ.get("FEDLEDGER_PRIVATE_KEY", "").strip()
    return Signer.from_key(key) if key else None


@app.main()
def main(grid: Grid, context: Context) -> None:
    nodes = _wait_for_nodes(grid, int(_setting(context, "num-clients", "0")))
    rounds = int(_setting(context, "num-server-rounds", "3"))
    store_dir = _setting(context, "store-dir")
    starts: list[float] = []
    with anchored_task(
        nodes,
        initial(),
        "fedavg",
        rpc_url=_setting(context, "rpc-url", "embedded") or "",
        contract=_setting(context, "contract") or None,
        ipfs_api=_setting(context, "ipfs-api") or None,
        store_dir=Path(store_dir) if store_dir else None,
        owner=_owner(),
        participants=[
            Web3.to_checksum_address(a) for a in _setting(context, "participants").split(",") if a.strip()
        ],
    ) as anchor:
        strategy = Anchored(
            FedAvg(
                fraction_evaluate=float(_setting(context, "fraction-evaluate", "1.0")),
                min_train_nodes=nodes,
                min_evaluate_nodes=nodes,
                min_available_nodes=nodes,
            ),
            ledger=anchor.ledger,
            store=anchor.store,
            signer=anchor.signer,
            task_id=anchor.task_id,
            endpoints=anchor.endpoints,
        )
        strategy.configure_train = _timed(strategy.configure_train, starts)  # type: ignore[method-assign]
        result = strategy.start(
            grid=grid,
            initial_arrays=ArrayRecord({k: Array(v) for k, v in initial().items()}),
            num_rounds=rounds,
            train_config=ConfigRecord({"local-epochs": int(_setting(context, "local-epochs", "3"))}),
            evaluate_fn=lambda _round, arrays: MetricRecord(
                {"accuracy": accuracy({k: a.numpy() for k, a in arrays.items()})}
            ),
        )
        verdicts = verify_task(task_history(anchor.ledger, anchor.task_id), anchor.store)
        summary = {
            "task_id": anchor.task_id,
            "contract": anchor.ledger.address,
            "audit": {k: v for k, v in audit_summary(verdicts).items() if k != "rounds"},
            "verdicts": [(v.round, v.verdict, v.reason) for v in verdicts],
            "outcomes": {
                r: [(e.participant, e.reason) for e in o.excluded] for r, o in strategy.outcomes.items()
            },
            "reply_mismatches": strategy.reply_mismatches,
            "accuracy": {r: dict(m)["accuracy"] for r, m in result.evaluate_metrics_serverapp.items()},
            "client_accuracy": {
                r: dict(m).get("accuracy") for r, m in result.evaluate_metrics_clientapp.items()
            },
            "round_starts": starts,
            "finished": time.monotonic(),
        }
        print(
            f"fedledger: task {anchor.task_id} on {anchor.ledger.address}:",
            json.dumps(summary["audit"]),
            "accuracy",
            summary["accuracy"],
        )
        if out := _setting(context, "result-file"):
            Path(out).write_text(json.dumps(summary, indent=2, default=str))

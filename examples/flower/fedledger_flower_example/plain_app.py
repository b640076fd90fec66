"""The same Flower app without fedledger (no mod, plain FedAvg): the baseline of `benchmarks/flower.py`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from fedledger_flower_example.client_app import check, fit
from fedledger_flower_example.task import accuracy, initial

client = ClientApp()
client.train()(fit)
client.evaluate()(check)
server = ServerApp()


@server.main()
def main(grid: Grid, context: Context) -> None:
    nodes = int(os.environ.get("FEDLEDGER_NUM_CLIENTS", "4"))
    starts: list[float] = []
    strategy = FedAvg(min_train_nodes=nodes, min_evaluate_nodes=nodes, min_available_nodes=nodes)
    configure = strategy.configure_train

    def timed(*args: object, **kwargs: object) -> object:
        starts.append(time.monotonic())
        return configure(*args, **kwargs)  # type: ignore[arg-type]

    strategy.configure_train = timed  # type: ignore[method-assign,assignment]
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord({k: Array(v) for k, v in initial().items()}),
        num_rounds=int(os.environ.get("FEDLEDGER_NUM_SERVER_ROUNDS", "3")),
        train_config=ConfigRecord({"local-epochs": 3}),
        evaluate_fn=lambda _r, arrays: MetricRecord(
            {"accuracy": accuracy({k: a.numpy() for k, a in arrays.items()})}
        ),
    )
    if out := os.environ.get("FEDLEDGER_RESULT_FILE"):
        accuracy_by_round = {r: dict(m)["accuracy"] for r, m in result.evaluate_metrics_serverapp.items()}
        Path(out).write_text(
            json.dumps({"round_starts": starts, "finished": time.monotonic(), "accuracy": accuracy_by_round})
        )

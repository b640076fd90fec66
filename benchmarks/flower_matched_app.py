"""Flower 1.42 running exactly the workload of `fedledger demo --dataset digits`: the baseline of
`benchmarks/demo_vs_flower.py`.

Same data (`load_dataset("digits", seed)`), same split (`partition(split, N, k, seed=seed)`), same initial model,
same local training (`TrainConfig(seed=seed)`: the demo's settings), FedAvg weighted by sample counts, and the
global model evaluated after every round, as the demo does. No chain, no store, no audit: what Flower alone costs.
"""

from __future__ import annotations

import json
import os
import time
from functools import cache
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from fedledger.codec import Tensors
from fl_node.data import DatasetSplit, load_dataset, partition
from fl_node.model import initial_model, model_config_for
from fl_node.threads import configure_torch_threads
from fl_node.train import TrainConfig, evaluate, train_local

SEED = int(os.environ.get("FEDLEDGER_SEED", "0"))


@cache
def digits() -> DatasetSplit:
    configure_torch_threads()
    return load_dataset("digits", seed=SEED)


client = ClientApp()


@client.train()
def fit(msg: Message, context: Context) -> Message:
    split = digits()
    weights: Tensors = {name: array.numpy() for name, array in msg.content["arrays"].items()}
    x, y = partition(
        split, int(context.node_config["num-partitions"]), int(context.node_config["partition-id"]), seed=SEED
    )
    new = train_local(weights, model_config_for(split), x, y, split.task, TrainConfig(seed=SEED))
    content = RecordDict(
        {
            "arrays": ArrayRecord({k: Array(np.asarray(v)) for k, v in new.items()}),
            "metrics": MetricRecord({"num-examples": len(x)}),
        }
    )
    return Message(content, reply_to=msg)


server = ServerApp()


@server.main()
def main(grid: Grid, context: Context) -> None:
    nodes = int(os.environ["FEDLEDGER_NUM_CLIENTS"])
    starts: list[float] = []
    strategy = FedAvg(fraction_evaluate=0.0, min_train_nodes=nodes, min_available_nodes=nodes)
    configure = strategy.configure_train

    def timed(*args: object, **kwargs: object) -> object:
        starts.append(time.monotonic())
        return configure(*args, **kwargs)  # type: ignore[arg-type]

    strategy.configure_train = timed  # type: ignore[method-assign,assignment]
    split = digits()
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(
            {k: Array(np.asarray(v)) for k, v in initial_model(split, seed=SEED).items()}
        ),
        num_rounds=int(os.environ["FEDLEDGER_NUM_SERVER_ROUNDS"]),
        evaluate_fn=lambda _r, arrays: MetricRecord(
            {"accuracy": float(evaluate({k: a.numpy() for k, a in arrays.items()}, split).value)}
        ),
    )
    accuracy = {r: dict(m)["accuracy"] for r, m in result.evaluate_metrics_serverapp.items()}
    Path(os.environ["FEDLEDGER_RESULT_FILE"]).write_text(
        json.dumps({"round_starts": starts, "finished": time.monotonic(), "accuracy": accuracy})
    )

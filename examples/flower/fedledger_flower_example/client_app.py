"""The ClientApp: ordinary Flower training code; one line (`mods=[ledger_mod()]`) anchors every reply on-chain."""

from __future__ import annotations

from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedledger.flower import ledger_mod
from fedledger_flower_example.task import accuracy, train

app = ClientApp(mods=[ledger_mod()])  # <- the fedledger line: register each update with this node's own key


@app.train()
def fit(msg: Message, context: Context) -> Message:
    weights = {name: array.numpy() for name, array in msg.content["arrays"].items()}
    config = msg.content["config"]
    new, rows = train(
        weights,
        int(context.node_config["partition-id"]),
        int(context.node_config["num-partitions"]),
        int(config.get("local-epochs", 3)),  # type: ignore[arg-type]
        int(config.get("server-round", 1)),  # type: ignore[arg-type]
    )
    content = RecordDict(
        {
            "arrays": ArrayRecord({k: Array(v) for k, v in new.items()}),
            "metrics": MetricRecord({"num-examples": rows}),
        }
    )
    return Message(content, reply_to=msg)


@app.evaluate()
def check(msg: Message, context: Context) -> Message:
    weights = {name: array.numpy() for name, array in msg.content["arrays"].items()}
    metrics = MetricRecord({"accuracy": accuracy(weights), "num-examples": 1})
    return Message(RecordDict({"metrics": metrics}), reply_to=msg)

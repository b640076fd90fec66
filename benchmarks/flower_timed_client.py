"""The example's ClientApp with ``ledger_mod`` timed from inside the Ray actor: the baseline-free cost of anchoring
a reply (the pre-check before training, the upload and registration after). For `benchmarks/flower_work.py`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from fedledger_flower_example.client_app import check, fit
from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from fedledger.flower import ledger_mod

ANCHORED = ledger_mod()


def timed_mod(msg: Message, ctx: Context, call_next: Callable[[Message, Context], Message]) -> Message:
    """Run the real mod; append (seconds in the mod) - (seconds training) to $FEDLEDGER_CLIENT_TIMES."""
    started, trained = time.perf_counter(), [0.0]

    def train(m: Message, c: Context) -> Message:
        begun = time.perf_counter()
        reply = call_next(m, c)
        trained[0] = time.perf_counter() - begun
        return reply

    reply = ANCHORED(msg, ctx, train)
    if msg.metadata.message_type == "train":
        with Path(os.environ["FEDLEDGER_CLIENT_TIMES"]).open("a") as out:
            out.write(f"{time.perf_counter() - started - trained[0]}\n")
    return reply


app = ClientApp(mods=[timed_mod])
app.train()(fit)
app.evaluate()(check)

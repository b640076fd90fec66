"""A committee member that lies, run as its own process: `python cheating_aggregator.py TASK ACCOUNT INDEX`.

It is the library's own coordinator with a lying judge (`fedledger.demo.lies`): submission INDEX is declared
``unavailable`` (content it could fetch like everyone else), and the global model is aggregated without it, as a
consistent liar would. It waits until the round can close, attests once, and prints its outcome as JSON.
"""

from __future__ import annotations

import json
import sys
import time

from aggregator.coordinator import Coordinator, RoundNotReadyError
from fedledger.cli.aggregate import outcome_json
from fedledger.cli.options import Context
from fedledger.demo.lies import lying_judge


def main(task: int, account: str, index: int) -> None:
    ctx = Context(None, None, None, account, None)
    coordinator = Coordinator(ctx.ledger, ctx.store, ctx.signer, judge=lying_judge("unavailable", index))
    deadline = time.monotonic() + 120
    while True:
        try:
            outcome = coordinator.close_round(task)
            break
        except RoundNotReadyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    print(json.dumps(outcome_json(outcome)))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))

"""A tiny federation on the embedded chain for benchmarks: 3 participants, a 6-parameter model, one call per round."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field

import numpy as np

from aggregator.coordinator import Coordinator
from fedledger import codec
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect
from fedledger.records import TaskLimits
from fedledger.store import LocalStore
from fedledger.tasks import launch_task


@dataclass
class SmallFederation:
    w3: object
    ledger: Ledger
    store: LocalStore
    task: int
    owner: Signer
    people: list[Signer]
    coordinator: Coordinator
    count: int = field(default=0)

    def round(self) -> None:
        """Every participant submits a distinct update; the aggregator finalizes."""
        state = self.ledger.get_task(self.task)
        for k, person in enumerate(self.people):
            self.count += 1
            data = codec.encode({"w": np.full(6, float(self.count), np.float32)})
            self.ledger.submit_update(
                person, self.task, state.round, codec.model_digest(data), self.store.put(data), 10 + k
            )
        self.coordinator.close_round(self.task)


def small_federation() -> SmallFederation:
    w3 = connect(EMBEDDED)
    owner = Signer(w3.eth.accounts[0])
    people = [Signer(a) for a in w3.eth.accounts[1:4]]
    store = LocalStore(tempfile.mkdtemp(prefix="fedledger-bench-"))
    ledger, _ = Ledger.deploy(w3, owner)
    initial = codec.encode({"w": np.zeros(6, np.float32)})
    task = launch_task(
        ledger,
        owner,
        store,
        initial,
        participants=[person.address for person in people],
        quorum=3,
        round_duration=10**6,
        strategy="fedavg",
        limits=TaskLimits(),
    ).task_id
    return SmallFederation(w3, ledger, store, task, owner, people, Coordinator(ledger, store, owner))

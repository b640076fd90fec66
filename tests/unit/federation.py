"""A small federation on the embedded default (pyrevm chain + local store) for protocol tests.

Participant updates are tiny numpy models made by hand, not by training, so each test is about the protocol:
submission, validation and exclusion with a named reason, deterministic aggregation, outcomes on-chain, audit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aggregator.coordinator import Coordinator
from fedledger import codec
from fedledger.audit import RoundVerdict, verify_task
from fedledger.embedded_chain import advance_time
from fedledger.history import task_history
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect
from fedledger.records import TaskLimits
from fedledger.store import LocalStore
from fedledger.tasks import launch_task

SHAPES = {"layer.weight": (3, 2), "layer.bias": (3,)}


def model(value: float) -> codec.Tensors:
    """A model whose every weight is ``value``."""
    return {name: np.full(shape, value, dtype=np.float32) for name, shape in SHAPES.items()}


class Federation:
    """A deployed contract with one task (owner = aggregator = account 0) and round 1 open."""

    def __init__(
        self,
        root: Path,
        *,
        quorum: int = 2,
        duration: int = 3600,
        participants: int = 3,
        strategy: str = "fedavg",
        limits: TaskLimits | None = None,
        caps: dict[int, int] | None = None,
    ) -> None:
        self.w3 = connect(EMBEDDED)
        self.owner = Signer(self.w3.eth.accounts[0])
        self.people = [Signer(a) for a in self.w3.eth.accounts[1 : 1 + participants]]
        self.store = LocalStore(root / "store")
        self.ledger, _ = Ledger.deploy(self.w3, self.owner)
        self.initial = codec.encode(model(0.0))
        self.task = launch_task(
            self.ledger,
            self.owner,
            self.store,
            self.initial,
            participants=[person.address for person in self.people],
            max_samples=[(caps or {}).get(i, 0) for i in range(participants)],
            quorum=quorum,
            round_duration=duration,
            strategy=strategy,
            limits=limits or TaskLimits(grace_period=duration),
        ).task_id
        self.coordinator = Coordinator(self.ledger, self.store, self.owner, fetch_budget=10.0)

    @property
    def round(self) -> int:
        return self.ledger.get_task(self.task).round

    def submit(
        self, who: int, data: bytes, samples: int = 10, cid: str | None = None, digest: bytes | None = None
    ) -> str:
        """Participant ``who`` uploads ``data`` and registers it (or a forged ``cid``/``digest``)."""
        stored = self.store.put(data)
        self.ledger.submit_update(
            self.people[who],
            self.task,
            self.round,
            digest or codec.model_digest(data),
            cid or stored,
            samples,
        )
        return stored

    def verdicts(self) -> list[RoundVerdict]:
        history = task_history(self.ledger, self.task)
        return [v for v in verify_task(history, self.store) if v.verdict != "OPEN"]

    def verify(self) -> list[tuple[str, str]]:
        return [(v.verdict, v.reason) for v in self.verdicts()]

    def travel(self, seconds: int) -> None:
        advance_time(self.w3, self.ledger.block_timestamp() + seconds)

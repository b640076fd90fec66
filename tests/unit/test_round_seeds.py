"""Sampled rounds draw their seed from the hash of the block they opened in, at first use (issue 18): nobody who
sends the opening transaction knows it, and anyone re-derives it from the chain."""

from __future__ import annotations

from pathlib import Path

from federation import Federation, model

from fedledger import codec
from fedledger.history import task_history
from fedledger.records import RoundOpened, RoundSeeded, TaskLimits
from fedledger.sampling import drawn_seed, sample_clients


def test_first_submission_draws_the_seed_the_history_predicted(tmp_path: Path) -> None:
    fed = Federation(
        tmp_path, participants=4, quorum=2, limits=TaskLimits(clients_per_round=2, grace_period=60)
    )
    opened = next(e for e in fed.ledger.task_events(fed.task) if isinstance(e, RoundOpened))
    assert opened.seed == bytes(32)  # nothing chosen at opening
    predicted = task_history(fed.ledger, fed.task).rounds[0].sampled
    expected = drawn_seed(bytes.fromhex(opened.at.block_hash[2:]), fed.task, 1)
    assert predicted == sample_clients(expected, [p.address for p in fed.people], 2)
    sampled = next(i for i, p in enumerate(fed.people) if p.address in (predicted or []))
    fed.submit(sampled, codec.encode(model(0.5)))
    seeded = next(e for e in fed.ledger.task_events(fed.task) if isinstance(e, RoundSeeded))
    assert seeded.seed == expected and seeded.seed_block == opened.at.block_number
    assert task_history(fed.ledger, fed.task).rounds[0].sampled == predicted
    assert fed.ledger.round_seed(fed.task) == (1, opened.at.block_number, expected)

"""A global model is never non-finite: under FedSGD an update whose own step overflows float32 is ``non_finite``,
the judge refuses to produce a non-finite model, the audit refuses to pass one, and an honest node refuses to
register a non-finite update (issue 16, item 3)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from federation import Federation, model

from fedledger import codec
from fedledger.exceptions import NonFiniteModelError, SubmissionRefusedError
from fedledger.inclusion import encode_outcomes
from fedledger.rules.strategies import FedSGD

FLT_MAX = float(np.finfo(np.float32).max)


def _attack_round(fed: Federation) -> None:
    """Participant 0 registers an all-(-FLT_MAX) gradient claiming a million samples; 1 and 2 small honest ones."""
    fed.submit(0, codec.encode(model(-FLT_MAX)), samples=1_000_000)
    fed.submit(1, codec.encode(model(0.1)), samples=10)
    fed.submit(2, codec.encode(model(0.2)), samples=10)


def test_a_gradient_whose_own_step_overflows_is_excluded_as_non_finite_and_the_global_stays_finite(
    tmp_path: Path,
) -> None:
    # Prepare: round 1 takes the global model to about FLT_MAX (the attacker's step there is still finite)
    fed = Federation(tmp_path, strategy="fedsgd:lr=1.0")
    _attack_round(fed)
    first = fed.coordinator.close_round(fed.task)
    assert not first.excluded
    # Execute: round 2, the same attack, whose own step is now base + FLT_MAX = inf
    _attack_round(fed)
    second = fed.coordinator.close_round(fed.task)
    # Assert: the attacker is non_finite, the global model is finite, the audit agrees on both rounds
    assert [(e.participant, e.reason) for e in second.excluded] == [(fed.people[0].address, "non_finite")]
    assert "own step" in second.excluded[0].detail
    global_model = codec.decode(fed.store.get(second.global_cid))
    assert all(np.isfinite(t).all() for t in global_model.values())
    assert [verdict for verdict, _ in fed.verify()] == ["OK", "OK"]


def test_the_judge_refuses_to_produce_a_non_finite_global_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: without the step check (as if it were bypassed), round 2's mean step would overflow
    monkeypatch.setattr(FedSGD, "check_step", lambda self, base, gradient: None)
    fed = Federation(tmp_path, strategy="fedsgd:lr=1.0")
    _attack_round(fed)
    fed.coordinator.close_round(fed.task)
    _attack_round(fed)
    # Execute / Assert: a clear error, and nothing was committed (round 2 is still open)
    with pytest.raises(NonFiniteModelError, match="NaN or infinite values"):
        fed.coordinator.close_round(fed.task)
    assert fed.round == 2 and fed.ledger.get_task(fed.task).round_open


def test_a_committed_non_finite_global_model_is_a_mismatch(tmp_path: Path) -> None:
    # Prepare: three valid updates; a dishonest aggregator commits an infinite model as the global one
    fed = Federation(tmp_path)
    for who in range(3):
        fed.submit(who, codec.encode(model(float(who + 1))))
    forged = codec.encode(model(float("inf")))
    # Execute
    fed.ledger.finalize_round(
        fed.owner,
        fed.task,
        1,
        global_digest=codec.model_digest(forged),
        global_cid=fed.store.put(forged),
        reasons=encode_outcomes(["included"] * 3),
    )
    # Assert
    verdict, reason = fed.verify()[0]
    assert verdict == "MISMATCH"
    assert reason.startswith("global model is not finite")


def test_an_honest_node_refuses_to_register_a_non_finite_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: training on the task's global model gives an infinite gradient
    from fl_node import participant

    fed = Federation(tmp_path, strategy="fedsgd:lr=1.0")
    monkeypatch.setattr(participant, "compute_gradient", lambda *args: model(float("inf")))
    stored_before = sorted(p.name for p in fed.store.root.rglob("*") if p.is_file())
    x, y = np.zeros((4, 2), np.float32), np.zeros(4, np.float32)
    split = SimpleNamespace(name="toy", task="regression")
    # Execute / Assert: refused with a clear message; nothing uploaded, nothing registered
    with pytest.raises(SubmissionRefusedError, match="non_finite, so nothing was uploaded"):
        participant.train_and_submit(
            fed.ledger,
            fed.store,
            fed.people[0],
            fed.task,
            split,
            (x, y),
            None,  # type: ignore[arg-type]
            model_config=object(),  # type: ignore[arg-type]
        )
    assert sorted(p.name for p in fed.store.root.rglob("*") if p.is_file()) == stored_before
    assert fed.ledger.updates_submitted(fed.task, 1) == []

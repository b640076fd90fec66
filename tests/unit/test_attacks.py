"""Attacks by 30% of the participants, through the real protocol: margins, not exact numbers.

Scaled and noisy updates wreck FedAvg but not the robust rules; inflating the claimed sample count buys nothing
once the task caps it; free riders are excluded and change nothing. (The full grid is `benchmarks/attacks.py`.)
The 3-round margins are `slow` (`make test-all`); `make test` runs each attack for one round (`quick_` tests).
"""

from __future__ import annotations

import functools

import pytest

from fedledger.demo.attacks import AttackRun, run_attack

ROBUST = ("median", "trimmed_mean:beta=0.3", "multikrum:f=3")


@pytest.mark.parametrize("attack", ["noise", "label_flip", "inflation"])
def test_quick_each_attack_goes_through_the_protocol_and_the_audit_verifies(attack: str) -> None:
    result = run_attack(AttackRun(dataset="digits", participants=4, rounds=1, attack=attack, fraction=0.25))
    assert result.audit_ok and result.failed_rounds == 0
    assert result.excluded == {}  # well-formed attacks are not refused: the rule has to withstand them


def test_quick_one_scaled_round_wrecks_fedavg_but_not_the_median() -> None:
    runs = {
        rule: AttackRun(dataset="digits", strategy=rule, rounds=1, attack="scaled100", fraction=0.3)
        for rule in ("fedavg", "median")
    }
    fedavg, median = (run_attack(run) for run in runs.values())
    assert fedavg.audit_ok and median.audit_ok
    assert median.metric > fedavg.metric + 0.15


def test_quick_free_riders_are_excluded_as_unchanged() -> None:
    result = run_attack(
        AttackRun(dataset="digits", participants=4, rounds=1, attack="free_ride", fraction=0.25)
    )
    assert result.audit_ok and result.excluded == {"unchanged": 1}


@functools.cache
def accuracy(strategy: str, attack: str | None = None, cap: int = 0) -> float:
    result = run_attack(AttackRun(dataset="digits", strategy=strategy, attack=attack, fraction=0.3, cap=cap))
    assert result.audit_ok, f"{strategy} under {attack}: a round did not verify"
    return result.metric


@pytest.mark.slow
def test_the_clean_federation_learns() -> None:
    assert accuracy("fedavg") > 0.85


@pytest.mark.slow
@pytest.mark.parametrize("attack", ["scaled100", "noise"])
def test_fedavg_falls_far_below_the_clean_run(attack: str) -> None:
    assert accuracy("fedavg", attack) < accuracy("fedavg") - 0.4


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ROBUST)
def test_robust_rules_stay_close_to_the_clean_run_under_scaled_updates(strategy: str) -> None:
    assert accuracy(strategy, "scaled100") > accuracy("fedavg") - 0.1


@pytest.mark.slow
def test_median_shrugs_off_noise() -> None:
    assert accuracy("median", "noise") > accuracy("fedavg") - 0.1


@pytest.mark.slow
def test_inflated_sample_counts_buy_nothing_once_capped() -> None:
    # Uncapped, 10^9 claimed samples hand FedAvg to the attackers; capped, they weigh what any participant weighs,
    # so the harm is only that of their (label-flipped) updates.
    assert accuracy("fedavg", "inflation") < 0.3
    assert abs(accuracy("fedavg", "inflation", cap=150) - accuracy("fedavg", "label_flip")) < 0.05


@pytest.mark.slow
def test_free_riders_are_excluded_and_change_nothing() -> None:
    result = run_attack(AttackRun(dataset="digits", attack="free_ride", fraction=0.3))
    assert result.excluded == {"unchanged": 9}  # 3 free riders x 3 rounds
    assert result.metric > accuracy("fedavg") - 0.05


def test_on_round_sees_every_update_and_a_huge_noise_attacker_is_trimmed() -> None:
    # Prepare: 1 of 5 sends N(0, 1) x 1e37 (finite in float32); a trimmed mean that trims 1 of 5 per side
    traces = []
    run = AttackRun(
        dataset="digits",
        participants=5,
        rounds=1,
        strategy="trimmed_mean:beta=0.2",
        attack="noise1e37",
        fraction=0.2,
        iid=False,
    )
    # Execute
    result = run_attack(run, on_round=traces.append)
    # Assert: the hook saw the attacker first and the round's model, which stays finite and useful
    (trace,) = traces
    assert (trace.round_index, trace.attackers, len(trace.updates)) == (1, 1, 5)
    assert max(float(abs(v).max()) for v in trace.updates[0].values()) > 1e36
    assert all(float(abs(v).max()) < 1e3 for v in trace.model.values())
    assert result.audit_ok and result.failed_rounds == 0

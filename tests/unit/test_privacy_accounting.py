"""A private task's accounting: its parameters from TaskPrivacyConfigured, and the epsilon every opened round costs."""

from __future__ import annotations

import pytest

from fedledger.privacy.accounting import PrivateTask, _round_up, _step_down, noise_for_epsilon
from fedledger.privacy.dp import DpParams, epsilon_after
from fedledger.privacy.errors import PrivacyParameterError
from fedledger.privacy.quantize import QuantParams
from fedledger.records import ChainPosition, TaskPrivacyConfigured

DP = "secagg:clip=1.0,scale_bits=12,noise=2.0,delta=1e-05,dim=100"


def configured(params: str, threshold: int = 2, max_rounds: int = 5) -> TaskPrivacyConfigured:
    return TaskPrivacyConfigured(1, threshold, max_rounds, 10, 11, 12, params, ChainPosition(1, 0, "0x"))


def test_a_task_is_read_from_its_event_with_the_cap_as_weight_cap() -> None:
    task = PrivateTask.from_event(configured(DP), weight_cap=50)

    assert (task.threshold, task.max_rounds, task.weight_cap) == (2, 5, 50)
    assert (task.keys_period, task.shares_period, task.unmask_period) == (10, 11, 12)
    assert task.quant_params(3) == QuantParams(1.0, 12, 50, 3)
    assert task.dp_params == DpParams(2.0, 1e-5, 2)


def test_non_canonical_params_on_chain_are_refused() -> None:
    with pytest.raises(PrivacyParameterError):
        PrivateTask.from_event(configured("secagg:clip=1,scale_bits=12"), weight_cap=50)


def test_secure_aggregation_alone_spends_nothing() -> None:
    task = PrivateTask.from_event(configured("secagg:clip=1.0,scale_bits=12"), weight_cap=50)

    assert task.dp_params is None
    assert task.epsilon_after(7) == 0.0
    assert task.epsilon_schedule(3) == [0.0, 0.0, 0.0]
    assert task.budget_respected()


def test_the_schedule_is_cumulative_and_agrees_with_the_accountant() -> None:
    task = PrivateTask.from_event(configured(DP), weight_cap=50)

    schedule = task.epsilon_schedule(4)

    assert len(schedule) == 4
    assert schedule == sorted(schedule) and schedule[0] > 0 and schedule[3] > schedule[0]
    assert schedule[2] == epsilon_after(DpParams(2.0, 1e-5, 2), QuantParams(1.0, 12, 50, 1), 100, 3)
    assert task.epsilon_after(0) == 0.0


def test_a_budget_is_respected_only_by_a_round_cap_that_stays_within_it() -> None:
    spent = PrivateTask.from_event(configured(DP), weight_cap=50).epsilon_after(5)
    within = DP + f",budget={spent * 1.01!r}"
    beyond = DP + f",budget={spent * 0.99!r}"

    assert PrivateTask.from_event(configured(within, max_rounds=5), weight_cap=50).budget_respected()
    assert not PrivateTask.from_event(configured(beyond, max_rounds=5), weight_cap=50).budget_respected()
    assert not PrivateTask.from_event(configured(within, max_rounds=0), weight_cap=50).budget_respected()


def test_noise_for_epsilon_is_the_smallest_three_digit_multiplier_that_reaches_the_target() -> None:
    params = QuantParams(1.0, 12, 50, 1)

    noise = noise_for_epsilon(2.0, 8, quant_params=params, dim=100, delta=1e-5, threshold=3)

    assert float(f"{noise:.3g}") == noise
    assert epsilon_after(DpParams(noise, 1e-5, 3), params, 100, 8) <= 2.0
    assert epsilon_after(DpParams(_step_down(noise), 1e-5, 3), params, 100, 8) > 2.0


def test_more_rounds_need_more_noise_for_the_same_epsilon() -> None:
    params = QuantParams(1.0, 12, 50, 1)

    few = noise_for_epsilon(4.0, 2, quant_params=params, dim=100, delta=1e-5, threshold=2)
    many = noise_for_epsilon(4.0, 20, quant_params=params, dim=100, delta=1e-5, threshold=2)

    assert many > few


@pytest.mark.parametrize(("target", "rounds"), [(0.0, 5), (-1.0, 5), (float("inf"), 5), (1.0, 0)])
def test_noise_for_epsilon_refuses_targets_it_cannot_search(target: float, rounds: int) -> None:
    with pytest.raises(PrivacyParameterError):
        noise_for_epsilon(
            target, rounds, quant_params=QuantParams(1.0, 12, 50, 1), dim=10, delta=1e-5, threshold=1
        )


@pytest.mark.parametrize(
    ("value", "up", "down"),
    [
        (2.0, 2.0, 1.99),
        (0.01231, 0.0124, 0.0123),
        (9.9951, 10.0, 9.99),
        (1.0, 1.0, 0.999),
        (4567.8, 4570.0, 4560.0),
    ],
)
def test_three_significant_digits_round_up_and_step_down(value: float, up: float, down: float) -> None:
    assert _round_up(value) == up
    assert _step_down(up) == down

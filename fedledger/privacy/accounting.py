"""A private task's privacy bookkeeping: its parameters as the chain records them, and the epsilon it spends.

``PrivateTask`` joins what ``TaskPrivacyConfigured`` says (the canonical spec, threshold, ``maxRounds``, phase
periods) with the task's sample cap, and answers what `task create`, `task show` and `audit history` ask: the
quantization for a number of contributors, the DP noise, and epsilon after a number of rounds.

Every opened round is charged, failed ones included (conservative): once a round's unmask material is out, its
noisy sum is computable whether or not the round is finalized. The accountant is ``fedledger.privacy.dp``
(Kairouz et al. 2021's zCDP bound, composed with Google's ``dp-accounting``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fedledger.privacy.dp import DpParams, epsilon_after
from fedledger.privacy.errors import PrivacyError, PrivacyParameterError
from fedledger.privacy.quantize import QuantParams
from fedledger.privacy.spec import PrivacySpec, parse_privacy_canonical
from fedledger.records import TaskPrivacyConfigured

NOISE_DIGITS = 3  # significant digits of a noise multiplier that `noise_for_epsilon` proposes
MAX_NOISE = 1e6  # the largest noise multiplier `noise_for_epsilon` searches


@dataclass(frozen=True)
class PrivateTask:
    """A private task's settings: the parsed spec, threshold, round budget, phase periods and weight cap."""

    spec: PrivacySpec
    threshold: int
    max_rounds: int  # 0: no cap
    keys_period: int
    shares_period: int
    unmask_period: int
    weight_cap: int  # the task's maxSamples

    @classmethod
    def from_event(cls, event: TaskPrivacyConfigured, weight_cap: int) -> PrivateTask:
        """Read ``TaskPrivacyConfigured``; raises PrivacyParameterError if its params are not a canonical spec."""
        return cls(
            parse_privacy_canonical(event.params),
            event.threshold,
            event.max_rounds,
            event.keys_period,
            event.shares_period,
            event.unmask_period,
            weight_cap,
        )

    def quant_params(self, contributors: int) -> QuantParams:
        """The quantization for at most ``contributors`` participants (raises if their sum could wrap)."""
        return QuantParams(self.spec.clip, self.spec.scale_bits, self.weight_cap, contributors)

    @property
    def dp_params(self) -> DpParams | None:
        """The DP noise, or None for secure aggregation alone."""
        if not self.spec.dp:
            return None
        return DpParams(self.spec.noise, self.spec.delta, self.threshold)

    def epsilon_after(self, rounds: int) -> float:
        """Epsilon at the spec's delta after ``rounds`` opened rounds (0.0 without DP)."""
        dp = self.dp_params
        if dp is None or rounds == 0:
            return 0.0
        # The sensitivity does not depend on the number of contributors: one keeps QuantParams' own check mild.
        return epsilon_after(dp, self.quant_params(1), self.spec.dim, rounds)

    def epsilon_schedule(self, rounds: int) -> list[float]:
        """Cumulative epsilon after each of rounds 1..``rounds``."""
        return [self.epsilon_after(r) for r in range(1, rounds + 1)]

    def budget_respected(self) -> bool:
        """Whether ``max_rounds`` keeps epsilon within the spec's budget (always, when no budget is set)."""
        if not self.spec.budget:
            return True
        return self.max_rounds != 0 and self.epsilon_after(self.max_rounds) <= self.spec.budget


def read_private_task(event: TaskPrivacyConfigured, weight_cap: int) -> PrivateTask | str:
    """The task's privacy settings, or why they are unusable: the contract checks ranges but not the params
    string, and the accountant refuses some parameters (a weight cap of 0, too little noise). Never raises."""
    try:
        task = PrivateTask.from_event(event, weight_cap)
        task.epsilon_after(1)
    except PrivacyError as exc:
        return str(exc)
    return task


def _round_up(value: float, digits: int = NOISE_DIGITS) -> float:
    """``value`` rounded up to ``digits`` significant digits, as the float its decimal text reads as."""
    exponent = math.floor(math.log10(value)) - digits + 1
    units = math.ceil(value / 10.0**exponent)  # may land one step high: the caller steps down
    return float(f"{units}e{exponent}")


def _step_down(value: float, digits: int = NOISE_DIGITS) -> float:
    """The ``digits``-significant-digit value just below ``value`` (itself on that grid)."""
    exponent = math.floor(math.log10(value)) - digits + 1
    units = round(value / 10.0**exponent)
    if units == 10 ** (digits - 1):  # 1.00e-k steps down to 9.99e-(k+1)
        return float(f"{10**digits - 1}e{exponent - 1}")
    return float(f"{units - 1}e{exponent}")


def noise_for_epsilon(
    target: float, rounds: int, *, quant_params: QuantParams, dim: int, delta: float, threshold: int
) -> float:
    """The smallest noise multiplier (``NOISE_DIGITS`` significant digits, rounded up) whose epsilon after
    ``rounds`` rounds is at most ``target`` (binary search; epsilon falls as the noise grows).

    Raises PrivacyParameterError when ``target`` or ``rounds`` is not positive, or no multiplier up to
    ``MAX_NOISE`` reaches it.
    """
    if not (math.isfinite(target) and target > 0):
        raise PrivacyParameterError(f"the target epsilon must be a positive finite number, got {target!r}")
    if rounds < 1:
        raise PrivacyParameterError(f"the rounds to spend the budget over must be at least 1, got {rounds}")

    def reaches(z: float) -> bool:
        try:
            return epsilon_after(DpParams(z, delta, threshold), quant_params, dim, rounds) <= target
        except PrivacyParameterError:  # too little noise for the discrete Gaussian bound (sigma < 1/2)
            return False

    low, high = 0.0, 1.0
    while not reaches(high):
        low, high = high, high * 2
        if high > MAX_NOISE:
            raise PrivacyParameterError(
                f"no noise multiplier up to {MAX_NOISE:g} keeps epsilon within {target!r} over {rounds} rounds"
            )
    while high - low > high * 1e-6:  # invariant: reaches(high); not reaches(low) (or low == 0)
        middle = (low + high) / 2
        if reaches(middle):
            high = middle
        else:
            low = middle
    noise = _round_up(high)
    while True:  # the grid value below may still reach the target (the search stops short of exactness)
        lower = _step_down(noise)
        if lower <= 0 or not reaches(lower):
            return noise
        noise = lower

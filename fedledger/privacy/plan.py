"""A private task's settings from what its owner asks (`task create --privacy secagg`, the demo): the defaults,
and every refusal before a transaction.

Defaults (README, "Private rounds"; the flags' help says the same):

* ``--clip`` 1.0 (the L2 norm every participant clips its update to);
* ``--secagg-threshold`` n // 2 + 1 for n participants; ``--quorum`` defaults to the threshold for a private task;
* ``--scale-bits`` the largest b <= ``DEFAULT_MAX_SCALE_BITS`` (16) for which n participants' capped, clipped
  updates plus their DP noise cannot wrap the 32-bit sum (16 bits: a resolution of 1.5e-5 of the clip norm);
* ``--keys-period``/``--shares-period``/``--unmask-period`` the round duration // 5 each, at least 1 s;
* DP: ``--dp-delta`` 1e-5. ``--dp-epsilon E`` alone spends E over ``--max-rounds`` (default
  ``DEFAULT_DP_ROUNDS``, 10) rounds: the noise is the smallest 3-digit multiplier that keeps within E.
  ``--dp-noise Z --dp-epsilon E``: ``maxRounds`` is the most rounds E covers. E is recorded as the spec's budget.
  ``--dp-noise Z`` alone: no budget; ``--max-rounds`` (default 0: no cap) bounds the rounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fedledger.exceptions import ConfigurationError
from fedledger.privacy.accounting import PrivateTask, noise_for_epsilon
from fedledger.privacy.dp import DpParams, check_headroom, max_rounds_within
from fedledger.privacy.errors import PrivacyParameterError
from fedledger.privacy.quantize import MAX_SCALE_BITS, QuantParams
from fedledger.privacy.spec import SCHEME, PrivacySpec
from fedledger.records import TaskLimits
from fedledger.strategy_spec import StrategySpec

DEFAULT_CLIP = 1.0
DEFAULT_MAX_SCALE_BITS = 16
DEFAULT_DELTA = 1e-5
DEFAULT_DP_ROUNDS = 10
PERIOD_SHARE = 5  # each phase period defaults to the round duration // 5


@dataclass(frozen=True)
class PrivacyRequest:
    """The privacy flags of `task create` as given (None: left out)."""

    scheme: str | None = None
    clip: float | None = None
    scale_bits: int | None = None
    threshold: int | None = None
    keys_period: int | None = None
    shares_period: int | None = None
    unmask_period: int | None = None
    dp_noise: float | None = None
    dp_epsilon: float | None = None
    dp_delta: float | None = None
    max_rounds: int | None = None

    def stray_flags(self) -> list[str]:
        """The privacy flags given although --privacy was not."""
        names = (
            "clip",
            "scale_bits",
            "threshold",
            "keys_period",
            "shares_period",
            "unmask_period",
            "dp_noise",
            "dp_epsilon",
            "dp_delta",
            "max_rounds",
        )
        return ["--" + n.replace("_", "-") for n in names if getattr(self, n) is not None]


@dataclass(frozen=True)
class PrivacyPlan:
    """What `task create` sends in ``configurePrivacy``, and the quorum it settled on."""

    task: PrivateTask
    quorum: int

    def json(self) -> dict[str, Any]:
        """The "privacy" object of `task create --json`."""
        task, spec = self.task, self.task.spec
        per_round = task.epsilon_after(1)
        return {
            "params": spec.canonical,
            "threshold": task.threshold,
            "max_rounds": task.max_rounds,
            "keys_period": task.keys_period,
            "shares_period": task.shares_period,
            "unmask_period": task.unmask_period,
            "clip": spec.clip,
            "scale_bits": spec.scale_bits,
            "noise": spec.noise if spec.dp else None,
            "delta": spec.delta if spec.dp else None,
            "dim": spec.dim if spec.dp else None,
            "epsilon_budget": spec.budget or None,
            "epsilon_per_round": per_round if spec.dp else None,
            "epsilon_after_max_rounds": task.epsilon_after(task.max_rounds)
            if spec.dp and task.max_rounds
            else None,
        }


def _check_rule(rule: StrategySpec, limits: TaskLimits) -> None:
    if rule.name == "fedavg" and rule.get("clip") is not None:
        raise ConfigurationError(
            f"{rule.canonical} clips on the aggregator, which never sees a private update: pass --strategy fedavg "
            f"--clip {rule.get('clip')!r} (each participant clips its own update)"
        )
    if rule.name not in ("fedavg", "fedsgd"):
        raise ConfigurationError(
            f"a private task sums updates under masks: {rule.name} needs the individual updates, which a private "
            "round never shows (median/trimmed_mean/krum/multikrum); use --strategy fedavg or fedsgd"
        )
    if limits.clients_per_round:
        raise ConfigurationError(
            "a private task asks every participant every round: leave out --clients-per-round (or pass 0)"
        )
    if not limits.max_samples:
        raise ConfigurationError(
            "a private task must cap the samples one update weighs with (the 32-bit sum is sized for it): pass "
            "--max-samples N with N >= 1"
        )


def _periods(request: PrivacyRequest, round_duration: int) -> tuple[int, int, int]:
    default = max(1, round_duration // PERIOD_SHARE)
    keys, shares, unmask = (
        default if value is None else value
        for value in (request.keys_period, request.shares_period, request.unmask_period)
    )
    if keys + shares >= round_duration:
        raise ConfigurationError(
            f"keys period {keys} s + shares period {shares} s leave no time for uploads in rounds of "
            f"{round_duration} s: raise --round-duration above {keys + shares} or shorten the periods"
        )
    return keys, shares, unmask


def _threshold_and_quorum(request: PrivacyRequest, members: int, quorum: int | None) -> tuple[int, int]:
    if members == 0:
        raise ConfigurationError(
            "a private task sizes its threshold and its 32-bit headroom for its participants: pass --participants"
        )
    threshold = members // 2 + 1 if request.threshold is None else request.threshold
    if threshold > members:
        raise ConfigurationError(
            f"--secagg-threshold {threshold} is larger than the {members} participants given"
        )
    if quorum is None:
        return threshold, threshold
    if threshold > quorum:
        raise ConfigurationError(
            f"threshold {threshold} is above --quorum {quorum}: a round that finalizes with fewer than "
            f"{threshold} uploads could never be unmasked. Raise --quorum to {threshold}, lower --secagg-threshold, or "
            "leave --quorum out (it then equals the threshold)"
        )
    return threshold, quorum


class _Fitting:
    """Tries scale_bits for n participants: the quantization, the noise at that scale, and the headroom."""

    def __init__(self, request: PrivacyRequest, cap: int, members: int, threshold: int, dim: int) -> None:
        self.request, self.cap, self.members, self.threshold, self.dim = request, cap, members, threshold, dim
        self.clip = DEFAULT_CLIP if request.clip is None else request.clip
        self.delta = DEFAULT_DELTA if request.dp_delta is None else request.dp_delta
        self.rounds = request.max_rounds if request.max_rounds is not None else DEFAULT_DP_ROUNDS

    def noise(self, params: QuantParams) -> float:
        """The noise multiplier at this quantization: as given, or the one --dp-epsilon calls for (0: no DP)."""
        request = self.request
        if request.dp_noise is not None:
            return request.dp_noise
        if request.dp_epsilon is None:
            return 0.0
        return noise_for_epsilon(
            request.dp_epsilon,
            self.rounds,
            quant_params=params,
            dim=self.dim,
            delta=self.delta,
            threshold=self.threshold,
        )

    def fit(
        self, bits: int, noise: Callable[[QuantParams], float] | None = None
    ) -> tuple[QuantParams, float]:
        """(quantization, noise) at ``bits``; raises PrivacyParameterError if the sum could wrap."""
        params = QuantParams(self.clip, bits, self.cap, self.members)
        z = (noise or self.noise)(params)
        dp = DpParams(z, self.delta, self.threshold) if z else None
        check_headroom(dp, params, self.dim, self.members)
        return params, z

    def largest(
        self, top: int, noise: Callable[[QuantParams], float] | None = None
    ) -> tuple[int, float] | None:
        """The largest bits <= ``top`` that fits, with its noise, or None."""
        for bits in range(top, -1, -1):
            try:
                return bits, self.fit(bits, noise)[1]
            except PrivacyParameterError:
                continue
        return None


def _scale_and_noise(fitting: _Fitting) -> tuple[int, float]:
    request = fitting.request
    if request.scale_bits is None:
        found = fitting.largest(DEFAULT_MAX_SCALE_BITS)
        if found is None:
            raise ConfigurationError(
                f"no scale_bits fits {fitting.members} participants x --max-samples {fitting.cap} x --clip "
                f"{fitting.clip!r} (plus DP noise) in the 32-bit sum: lower --max-samples, --clip or the noise"
            )
        return found
    try:
        return request.scale_bits, fitting.fit(request.scale_bits)[1]
    except PrivacyParameterError as exc:
        try:  # the noise at the requested scale stands for all: it hardly depends on the scale
            z = fitting.noise(QuantParams(fitting.clip, request.scale_bits, fitting.cap, 1))
        except PrivacyParameterError:
            z = 0.0
        found = fitting.largest(MAX_SCALE_BITS, lambda _: z)
        advice = f"the largest --scale-bits that fits is {found[0]}" if found else "no --scale-bits fits"
        raise ConfigurationError(f"--scale-bits {request.scale_bits}: {exc} ({advice})") from None


def _max_rounds(request: PrivacyRequest, task: PrivateTask, fitting: _Fitting) -> int:
    """The round cap: as given, or what the budget allows; refuses a cap the budget cannot cover."""
    epsilon = request.dp_epsilon
    if epsilon is None or request.dp_noise is None:
        return fitting.rounds if epsilon is not None else (request.max_rounds or 0)
    dp = task.dp_params
    assert dp is not None
    within = max_rounds_within(dp, task.quant_params(1), task.spec.dim, epsilon)
    if within == 0:
        raise ConfigurationError(
            f"--dp-noise {request.dp_noise!r} spends more than epsilon {epsilon!r} in one round: raise --dp-noise "
            "or --dp-epsilon"
        )
    if request.max_rounds is None:
        return within
    if not 1 <= request.max_rounds <= within:
        raise ConfigurationError(
            f"--max-rounds {request.max_rounds} with --dp-noise {request.dp_noise!r} exceeds epsilon "
            f"{epsilon!r}: at most {within} rounds fit (or leave --max-rounds out)"
        )
    return request.max_rounds


def _check_dp_flags(request: PrivacyRequest) -> None:
    noise, epsilon = request.dp_noise, request.dp_epsilon
    if request.clip is not None and not (math.isfinite(request.clip) and request.clip > 0):
        raise ConfigurationError(f"--clip must be a positive L2 norm, got {request.clip!r}")
    if request.dp_delta is not None and noise is None and epsilon is None:
        raise ConfigurationError("--dp-delta needs differential privacy: pass --dp-noise or --dp-epsilon")
    if noise is not None and not (math.isfinite(noise) and noise > 0):
        raise ConfigurationError(f"--dp-noise must be a positive multiplier, got {noise!r}")
    if epsilon is not None and not (math.isfinite(epsilon) and epsilon > 0):
        raise ConfigurationError(f"--dp-epsilon must be a positive finite epsilon, got {epsilon!r}")
    if epsilon is not None and noise is None and request.max_rounds == 0:
        raise ConfigurationError("--dp-epsilon needs a round cap to spend it over: pass --max-rounds R >= 1")


def plan_privacy(
    request: PrivacyRequest,
    *,
    rule: StrategySpec,
    limits: TaskLimits,
    members: int,
    quorum: int | None,
    round_duration: int,
    dim: int,
) -> PrivacyPlan:
    """Check the privacy flags against the task and settle every default (raises ConfigurationError).

    Parameters: ``request`` the flags; ``rule`` the parsed aggregation rule; ``limits`` the task's limits;
    ``members`` the participants given; ``quorum`` --quorum as given (None: left out); ``round_duration`` in
    seconds; ``dim`` the initial model's parameter count. Returns what configurePrivacy sends, and the quorum.
    """
    if request.scheme != SCHEME:
        raise ConfigurationError(f"unknown --privacy {request.scheme!r}: the only scheme is {SCHEME!r}")
    _check_rule(rule, limits)
    _check_dp_flags(request)
    threshold, quorum = _threshold_and_quorum(request, members, quorum)
    periods = _periods(request, round_duration)
    fitting = _Fitting(request, limits.max_samples, members, threshold, dim)
    try:
        bits, noise = _scale_and_noise(fitting)
        dp = bool(noise)
        spec = PrivacySpec(
            fitting.clip,
            bits,
            noise,
            fitting.delta if dp else 0.0,
            dim if dp else 0,
            request.dp_epsilon or 0.0,
        )
        task = PrivateTask(spec, threshold, 0, *periods, limits.max_samples)
        task = PrivateTask(spec, threshold, _max_rounds(request, task, fitting), *periods, limits.max_samples)
        if not task.budget_respected():  # unreachable by construction; a last check before the chain
            raise ConfigurationError(f"{task.max_rounds} rounds would exceed epsilon {spec.budget!r}")
    except PrivacyParameterError as exc:
        raise ConfigurationError(str(exc)) from None
    return PrivacyPlan(task, quorum)

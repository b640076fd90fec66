"""The ONE parser of aggregation-rule specs: the strings recorded in ``TaskCreated.strategy``.

A spec names a rule and its parameters, e.g. ``fedavg``, ``fedsgd:lr=0.3``, ``trimmed_mean:beta=0.1``,
``multikrum:f=1,m=3``. The chain records the **canonical** form, so that every participant, aggregator and auditor
reads the same rule from the same bytes:

* lowercase, no spaces; parameters in the rule's fixed order, separated by ``,``;
* every parameter with a default is written out (``fedsgd`` is recorded as ``fedsgd:lr=0.3``);
* floats as Python's ``repr`` (``0.3``, ``1.0``, ``1e-05``), integers as decimal.

``parse_spec`` reads what a person types (lowercase, shorthand allowed) and is used by ``task create`` and the
demo; ``parse_canonical`` reads what is on-chain and accepts only the exact canonical form. The core knows the
grammar only; the arithmetic of each rule lives in ``fedledger.rules.strategies``.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

from fedledger.exceptions import ConfigurationError

Value = float | int


@dataclass(frozen=True)
class _Param:
    name: str
    kind: type  # float or int
    default: Value | None  # None: required
    low: float  # inclusive lower bound
    high: float  # exclusive upper bound
    low_open: bool = False  # True: low itself is not allowed


# Rule name -> its parameters in canonical order. Optional parameters without a default (multikrum's m) are
# written only when given.
_RULES: dict[str, tuple[_Param, ...]] = {
    "fedavg": (_Param("clip", float, None, 0.0, math.inf, low_open=True),),
    "fedsgd": (_Param("lr", float, 0.3, 0.0, math.inf, low_open=True),),
    "median": (),
    "trimmed_mean": (_Param("beta", float, 0.1, 0.0, 0.5),),
    "krum": (_Param("f", int, 1, 0, 2**31),),
    "multikrum": (_Param("f", int, 1, 0, 2**31), _Param("m", int, None, 1, 2**31)),
}
_OPTIONAL = {("fedavg", "clip"), ("multikrum", "m")}

VALID_SPECS = (
    "fedavg",
    "fedavg:clip=<positive float>",
    "fedsgd[:lr=<positive float, default 0.3>]",
    "median",
    "trimmed_mean[:beta=<0 <= beta < 0.5, default 0.1>]",
    "krum[:f=<assumed Byzantine updates, default 1>]",
    "multikrum[:f=<default 1>][,m=<updates averaged, default n - f>]",
)
RULE_NAMES = tuple(_RULES)


@dataclass(frozen=True)
class StrategySpec:
    """A parsed aggregation-rule spec: the rule's name and its parameters (canonical order)."""

    name: str
    params: tuple[tuple[str, Value], ...] = ()

    @property
    def canonical(self) -> str:
        """The exact string recorded on-chain."""
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={_format(v)}" for k, v in self.params)

    def get(self, key: str, default: Value | None = None) -> Value | None:
        """The value of parameter ``key``, or ``default`` when the spec does not set it."""
        return dict(self.params).get(key, default)

    @property
    def weights_by_samples(self) -> bool:
        """FedAvg, clipped FedAvg and FedSGD weight each update by the samples its participant claims."""
        return self.name in ("fedavg", "fedsgd")

    @property
    def sends_gradients(self) -> bool:
        """FedSGD participants send gradients; every other rule takes locally trained weights."""
        return self.name == "fedsgd"

    def __str__(self) -> str:
        return self.canonical


def _format(value: Value) -> str:
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def _invalid(text: str, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"invalid aggregation strategy {text!r}: {why}. Valid specs: {'; '.join(VALID_SPECS)}"
    )


def _parse_value(text: str, param: _Param, raw: str) -> Value:
    try:
        value: Value = int(raw) if param.kind is int else float(raw)
    except ValueError:
        kind = "an integer" if param.kind is int else "a number"
        raise _invalid(text, f"{param.name}={raw!r} is not {kind}") from None
    if param.kind is float:
        value = float(value)
        if not math.isfinite(value):
            raise _invalid(text, f"{param.name} must be finite")
    too_low = value <= param.low if param.low_open else value < param.low
    if too_low or value >= param.high:
        low = f"> {param.low:g}" if param.low_open else f">= {param.low:g}"
        high = "" if math.isinf(param.high) else f" and < {param.high:g}"
        raise _invalid(text, f"{param.name} must be {low}{high}, got {raw}")
    return value


def parse_spec(text: str) -> StrategySpec:
    """Parse a spec as a person types it (shorthand allowed: ``fedsgd``, ``trimmed_mean``).

    Raises
    ------
    ConfigurationError
        Naming the valid specs, for an unknown rule, an unknown or repeated parameter, a bad value, or a spec that
        is not lowercase without spaces.
    """
    if not isinstance(text, str) or not text:
        raise _invalid(str(text), "it is empty")
    if text != text.strip().lower() or " " in text:
        hint = ""
        with contextlib.suppress(ConfigurationError):
            hint = f" (did you mean {parse_spec(text.strip().lower().replace(' ', '')).canonical!r}?)"
        raise _invalid(text, f"specs are lowercase without spaces{hint}")
    name, colon, rest = text.partition(":")
    if name not in _RULES:
        raise _invalid(text, f"unknown rule {name!r}")
    params = _RULES[name]
    given: dict[str, str] = {}
    if colon:
        for item in rest.split(","):
            key, eq, raw = item.partition("=")
            if not eq or not raw:
                raise _invalid(text, f"{item!r} is not key=value")
            if key not in {p.name for p in params}:
                known = ", ".join(p.name for p in params) or "none"
                raise _invalid(text, f"{name} has no parameter {key!r} (parameters: {known})")
            if key in given:
                raise _invalid(text, f"parameter {key!r} is given twice")
            given[key] = raw
    values: list[tuple[str, Value]] = []
    for param in params:
        if param.name in given:
            values.append((param.name, _parse_value(text, param, given[param.name])))
        elif param.default is not None:
            values.append((param.name, param.default))
        elif (name, param.name) not in _OPTIONAL:
            raise _invalid(text, f"{name} needs {param.name}=")
    return StrategySpec(name, tuple(values))


def parse_canonical(text: str) -> StrategySpec:
    """Parse a spec read from the chain: only the exact canonical form is accepted.

    A task whose recorded spec is not canonical cannot be run or verified: two readers could disagree about it.

    Raises
    ------
    ConfigurationError
        Saying what the canonical form would be, when there is one.
    """
    spec = parse_spec(text)
    if spec.canonical != text:
        raise ConfigurationError(
            f"aggregation strategy {text!r} is not in canonical form (that is {spec.canonical!r}); "
            "fedledger records and runs canonical specs only"
        )
    return spec


def canonical_spec(text: str) -> str:
    """The canonical form of a spec a person typed (``fedsgd`` -> ``fedsgd:lr=0.3``)."""
    return parse_spec(text).canonical

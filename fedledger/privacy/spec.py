"""The ONE parser of privacy specs: the ``params`` string of ``TaskPrivacyConfigured``.

A private task records how participants encode their updates, and its differential-privacy noise if any, as one
canonical string, so that participants, aggregator and auditors read the same numbers from the same bytes:

* ``secagg:clip=<float>,scale_bits=<int>`` — secure aggregation only;
* ``secagg:clip=<float>,scale_bits=<int>,noise=<float>,delta=<float>,dim=<int>[,budget=<float>]`` — with
  distributed discrete Gaussian noise of multiplier ``noise`` (total noise sd = noise × L2 sensitivity), accounted
  at ``delta``; ``dim`` is the model's parameter count (deterministic rounding moves each of the ``dim``
  coordinates by up to 1/2, so the L2 sensitivity, and with it epsilon, depends on it: ``fedledger.privacy.dp``);
  ``budget`` is the owner's epsilon budget, which the task's ``maxRounds`` must respect.

Canonical form: lowercase, no spaces, parameters in the order above, floats as Python's ``repr`` (``1.0``,
``1e-05``), integers in decimal. ``parse_privacy_spec`` reads what a person types; ``parse_privacy_canonical``
accepts only the canonical form (what is on-chain).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fedledger.privacy.errors import PrivacyParameterError

SCHEME = "secagg"
MAX_SCALE_BITS = 30
_ORDER = ("clip", "scale_bits", "noise", "delta", "dim", "budget")


@dataclass(frozen=True)
class PrivacySpec:
    """A private task's encoding and noise: clip (L2, client-side), fixed-point bits, optional DP noise."""

    clip: float
    scale_bits: int
    noise: float = 0.0  # noise multiplier z; 0: no differential privacy
    delta: float = 0.0  # the delta epsilon is stated at (DP only)
    dim: int = 0  # the model's parameter count, which the L2 sensitivity needs (DP only, then >= 1)
    budget: float = 0.0  # epsilon budget (DP only; 0: none)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.clip) and self.clip > 0):
            raise PrivacyParameterError(f"clip must be a finite positive L2 norm, got {self.clip!r}")
        if not 0 <= self.scale_bits <= MAX_SCALE_BITS:
            raise PrivacyParameterError(f"scale_bits must be 0..{MAX_SCALE_BITS}, got {self.scale_bits}")
        if not (math.isfinite(self.noise) and self.noise >= 0):
            raise PrivacyParameterError(f"noise must be a finite multiplier >= 0, got {self.noise!r}")
        if self.noise == 0:
            if self.delta or self.dim or self.budget:
                raise PrivacyParameterError("delta, dim and budget need differential privacy (noise > 0)")
            return
        if not 0 < self.delta < 1:
            raise PrivacyParameterError(f"delta must be in (0, 1), got {self.delta!r}")
        if self.dim < 1:
            raise PrivacyParameterError(f"dim (the model's parameter count) must be >= 1, got {self.dim}")
        if not (math.isfinite(self.budget) and self.budget >= 0):
            raise PrivacyParameterError(f"budget must be a finite epsilon >= 0, got {self.budget!r}")

    @property
    def dp(self) -> bool:
        """Whether participants add differential-privacy noise."""
        return self.noise > 0

    @property
    def canonical(self) -> str:
        """The exact string recorded on-chain."""
        parts = [f"clip={float(self.clip)!r}", f"scale_bits={int(self.scale_bits)}"]
        if self.dp:
            parts += [f"noise={float(self.noise)!r}", f"delta={float(self.delta)!r}", f"dim={int(self.dim)}"]
            if self.budget:
                parts.append(f"budget={float(self.budget)!r}")
        return f"{SCHEME}:" + ",".join(parts)


def parse_privacy_spec(text: str) -> PrivacySpec:
    """Read a privacy spec as a person types it (spaces and case forgiven); raises PrivacyParameterError."""
    cleaned = text.strip().lower().replace(" ", "")
    scheme, _, rest = cleaned.partition(":")
    if scheme != SCHEME:
        raise PrivacyParameterError(f"unknown privacy scheme {scheme!r}: the only one is {SCHEME!r}")
    values: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or key not in _ORDER:
            raise PrivacyParameterError(f"unknown privacy parameter {item!r}; known: {', '.join(_ORDER)}")
        if key in values:
            raise PrivacyParameterError(f"privacy parameter {key!r} given twice")
        values[key] = value
    if "clip" not in values or "scale_bits" not in values:
        raise PrivacyParameterError(
            "a privacy spec needs clip and scale_bits, e.g. secagg:clip=1.0,scale_bits=16"
        )
    try:
        return PrivacySpec(
            clip=float(values["clip"]),
            scale_bits=int(values["scale_bits"]),
            noise=float(values.get("noise", "0")),
            delta=float(values.get("delta", "0")),
            dim=int(values.get("dim", "0")),
            budget=float(values.get("budget", "0")),
        )
    except ValueError as exc:
        raise PrivacyParameterError(f"privacy spec {text[:80]!r}: {exc}") from None


def parse_privacy_canonical(text: str) -> PrivacySpec:
    """Read the on-chain ``params``: only the exact canonical form is accepted (else PrivacyParameterError)."""
    spec = parse_privacy_spec(text)
    if spec.canonical != text:
        raise PrivacyParameterError(
            f"privacy params {text[:80]!r} are not canonical (expected {spec.canonical!r})"
        )
    return spec

"""How a dishonest committee member judges a round: the protocol's own judge with one lie.

Used by the committee tests, the devnet's cheating member and `benchmarks/committee.py`, through
``Coordinator(..., judge=lying_judge(kind))``: the coordinator then commits the lie, and the audit must name it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from fedledger import codec
from fedledger.rules.judge import judge_round
from fedledger.rules.outcomes import Judgement

LIES = ("unavailable", "outlier", "digest")


def lying_judge(kind: str, index: int = 1) -> Callable[..., Judgement]:
    """The honest judge with one lie: a false ``unavailable``/``outlier`` for submission ``index`` (the global
    model then left without it, as a consistent liar would), or a perturbed global model (``digest``)."""
    if kind not in LIES:
        raise ValueError(f"unknown lie {kind!r}; valid: {', '.join(LIES)}")

    def judge(inputs: Any, base: Any, fetch: Any, fixed: Any = None, on_progress: Any = None) -> Judgement:
        if kind in ("unavailable", "outlier"):
            return judge_round(inputs, base, fetch, {**(fixed or {}), index: kind})
        honest = judge_round(inputs, base, fetch, fixed)
        tensors = codec.decode(honest.data)
        first = min(tensors)
        tensors[first] = tensors[first] + 0.5
        return replace(honest, data=codec.encode(tensors))

    return judge

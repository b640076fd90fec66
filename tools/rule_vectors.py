"""Build tool: the golden vectors of the aggregation rules, ``tests/fixtures/rule_vectors.json``.

Every machine must turn the same round into the same bytes. A test that aggregates twice in one process cannot see
a numpy, BLAS or CPU change that alters one bit; a digest committed once and recomputed everywhere can
(``tests/unit/test_golden_vectors.py``). The fixture holds fixed inputs and, for every rule that applies to them,
the sha256 of ``fedledger.codec.encode`` of the aggregated model, the positions the rule rejected and, for Krum,
every update's score (``float.hex``, to the bit: the audit names them).

The inputs come from a formula, so anyone can re-derive them without numpy:

* **random** sets: SHA-256 in counter mode, ``block_k = SHA-256(b"fedledger/rule-vectors/v1/" + label + b"/" +
  k as 8 bytes big-endian)``, read as big-endian 32-bit words. A value takes two words ``u, v``: ``((u >> 8) -
  2**23) * 2**(-23 - v % 40) * scale`` (a 24-bit integer times a power of two: exact in float32). Exponents spread
  over 40 binades make float64 sums round, so a changed order of additions changes bits. A sample count is
  ``1 + u % 1000``. Update ``i`` of ``n`` has scale ``2**(i - n + 1)`` (norms from far below to above the clip);
  the model has 1,030 parameters so that the fixed-order sums (``fedledger.rules.exact``, rows of 1,024) fold a row.
* **edge** sets, written out below: negative and positive zeros in every order, ties (identical updates and equal
  values), values at and next to the float32 maximum, float32 subnormals, and cancellation (``2**60 + 1 - 2**60``
  is 0 or 1 depending on the order of the additions, so reordering a sum changes the model, not just a float64
  ulp that the final float32 rounding hides).

Values are stored as base64 of little-endian float32, so the fixture needs no formula to be read.

Usage::

    python tools/rule_vectors.py            # rewrite the fixture from today's rules (only on purpose: see README)
    python tools/rule_vectors.py --check    # exit 1 if today's rules give other bytes than the fixture
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from fedledger import codec
from fedledger.rules.strategies import strategy_from_spec

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "rule_vectors.json"
LABEL = b"fedledger/rule-vectors/v1/"
SPECS = (
    "fedavg",
    "fedavg:clip=1.5",
    "fedsgd:lr=0.3",
    "median",
    "trimmed_mean:beta=0.2",
    "trimmed_mean:beta=0.4",
    "krum:f=1",
    "multikrum:f=1",
    "multikrum:f=1,m=3",
)
WIDE = {"layers.0.bias": (6,), "layers.0.weight": (32, 32)}  # 1,030 parameters
F32_MAX = float(np.finfo(np.float32).max)
BELOW_MAX = float(np.nextafter(np.float32(F32_MAX), np.float32(0)))
TINY = 2.0**-149  # the smallest float32 subnormal
Model = dict[str, list[float]]


def words(label: str, count: int) -> list[int]:
    """``count`` 32-bit words of SHA-256 in counter mode keyed by ``label``."""
    out: list[int] = []
    block = 0
    while len(out) < count:
        digest = hashlib.sha256(LABEL + label.encode() + b"/" + block.to_bytes(8, "big")).digest()
        out.extend(int.from_bytes(digest[i : i + 4], "big") for i in range(0, 32, 4))
        block += 1
    return out[:count]


def random_set(label: str, n: int) -> dict[str, Any]:
    """A base model and ``n`` updates of the WIDE shapes, from the counter-mode stream."""
    size = sum(int(np.prod(shape)) for shape in WIDE.values())
    stream = iter(words(label, (n + 1) * (2 * size + 1)))

    def model(scale: float) -> Model:
        values = [
            ((next(stream) >> 8) - 2**23) * 2.0 ** (-23 - next(stream) % 40) * scale for _ in range(size)
        ]
        out, start = {}, 0
        for name, shape in WIDE.items():
            count = int(np.prod(shape))
            out[name] = values[start : start + count]
            start += count
        return out

    base = model(1.0)
    updates = [(model(2.0 ** (i - n + 1)), 1 + next(stream) % 1000) for i in range(n)]
    return _as_set(base, updates, {name: list(shape) for name, shape in WIDE.items()})


def _zeros(n: int) -> dict[str, Any]:
    """Coordinate c of update i is -0.0 when bit i of c is set, else +0.0: every order of signs, once."""
    count = 2**n
    updates = [({"w": [-0.0 if (c >> i) & 1 else 0.0 for c in range(count)]}, 1 + i) for i in range(n)]
    base = {"w": [-0.0 if c % 2 else 0.0 for c in range(count)]}
    return _as_set(base, updates, {"w": [count]})


def edge_sets() -> dict[str, dict[str, Any]]:
    """The written-out sets: signed zeros, ties, the float32 maximum, subnormals."""
    tie = {"w": [0.5, -0.25, 0.5, 1.0]}
    near_max = [
        {"w": [F32_MAX, -F32_MAX, BELOW_MAX, F32_MAX, 1.0]},
        {"w": [F32_MAX, -BELOW_MAX, F32_MAX, -F32_MAX, -1.0]},
        {"w": [BELOW_MAX, -F32_MAX, -F32_MAX, F32_MAX, 0.0]},
        {"w": [F32_MAX, -F32_MAX, BELOW_MAX, -BELOW_MAX, 2.0]},
        {"w": [BELOW_MAX, -BELOW_MAX, F32_MAX, BELOW_MAX, -0.0]},
        {"w": [F32_MAX, -F32_MAX, -BELOW_MAX, F32_MAX, 3.0]},
    ]
    subnormal = [
        {"w": [TINY, 3 * TINY, -TINY, 2.0**-126 - TINY, 0.0]},
        {"w": [2 * TINY, TINY, -2 * TINY, 2.0**-127, -TINY]},
        {"w": [3 * TINY, -TINY, 5 * TINY, 2.0**-126, TINY]},
        {"w": [TINY, 7 * TINY, -TINY, 2.0**-130, 2 * TINY]},
        {"w": [4 * TINY, TINY, 3 * TINY, 2.0**-127 + TINY, -3 * TINY]},
        {"w": [TINY, -5 * TINY, TINY, 2.0**-126 - TINY, 6 * TINY]},
    ]
    big = 2.0**60  # 1 + big rounds to big in float64: the order of additions decides what survives
    cancel = [
        {"w": [big, 1.0, -big, 2.0**100, 1.0, 0.5]},
        {"w": [1.0, big, big, -(2.0**100), 2.0**70, -big]},
        {"w": [-big, -big, 1.0, 1.0, 1.0, 3.0]},
        {"w": [1.0, 1.0, 2.0**-30, 2.0**-60, -(2.0**70), big]},
        {"w": [0.5, -1.0, -big, 0.0, 1.0, -big]},
        {"w": [3.0, 2.0, 1.0, -1.0, 2.0**-20, 1.0]},
    ]
    return {
        "signed_zeros_n3": _zeros(3),
        "signed_zeros_n4": _zeros(4),
        "signed_zeros_n5": _zeros(5),
        "ties_n5": _as_set({"w": [0.0] * 4}, [(tie, 10), (tie, 1), ({"w": [0.5, 0.5, -0.25, 1.0]}, 3),
                                            (tie, 7), ({"w": [1.0, -0.25, 0.5, 0.5]}, 2)], {"w": [4]}),
        "near_max_n5": _as_set({"w": [0.0] * 5}, [(u, 1 + i) for i, u in enumerate(near_max[:5])], {"w": [5]}),
        "near_max_n6": _as_set({"w": [0.0] * 5}, [(u, 1 + i) for i, u in enumerate(near_max)], {"w": [5]}),
        "subnormal_n5": _as_set({"w": [TINY, -0.0, 0.0, 2.0**-126, -TINY]},
                                [(u, 1 + 2 * i) for i, u in enumerate(subnormal[:5])], {"w": [5]}),
        "cancellation_n5": _as_set({"w": [0.0] * 6}, [(u, 1) for u in cancel[:5]], {"w": [6]}),
        "cancellation_n6": _as_set({"w": [1.0] * 6}, [(u, 2 + i % 2) for i, u in enumerate(cancel)], {"w": [6]}),
        "subnormal_n6": _as_set({"w": [TINY, -0.0, 0.0, 2.0**-126, -TINY]},
                                [(u, 1 + 2 * i) for i, u in enumerate(subnormal)], {"w": [5]}),
    }  # fmt: skip


def _as_set(base: Model, updates: list[tuple[Model, int]], shapes: dict[str, list[int]]) -> dict[str, Any]:
    return {
        "shapes": shapes,
        "base": {name: _pack(values) for name, values in base.items()},
        "updates": [
            {"num_samples": samples, "tensors": {name: _pack(values) for name, values in tensors.items()}}
            for tensors, samples in updates
        ],
    }


def _pack(values: list[float]) -> str:
    """Base64 of the values as little-endian float32; every value must be exact in float32."""
    array = np.asarray(values, dtype="<f4")
    assert array.astype(np.float64).tolist() == [float(v) for v in values], "a value is not exact in float32"
    return base64.b64encode(array.tobytes()).decode("ascii")


def unpack(encoded: str, shape: list[int]) -> codec.Array:
    """The float32 array a ``_pack`` string holds, in ``shape``."""
    return np.frombuffer(base64.b64decode(encoded), dtype="<f4").astype(np.float32).reshape(shape)


def inputs() -> dict[str, dict[str, Any]]:
    """Every input set by name: two random ones (odd and even n) and the edge sets."""
    return {"random_n7": random_set("random_n7", 7), "random_n6": random_set("random_n6", 6), **edge_sets()}


def load(entry: dict[str, Any]) -> tuple[codec.Tensors, list[tuple[codec.Tensors, int]]]:
    """An input set as (base, [(tensors, num_samples), ...])."""
    shapes = entry["shapes"]
    base = {name: unpack(value, shapes[name]) for name, value in entry["base"].items()}
    updates = [
        ({name: unpack(value, shapes[name]) for name, value in u["tensors"].items()}, int(u["num_samples"]))
        for u in entry["updates"]
    ]
    return base, updates


def outcome(spec: str, entry: dict[str, Any]) -> dict[str, Any] | None:
    """sha256 of the encoded aggregate and the rejected positions; None when the rule does not apply."""
    rule = strategy_from_spec(spec)
    base, updates = load(entry)
    if len(updates) < rule.min_updates():
        return None
    with np.errstate(over="raise"):
        aggregate = rule.aggregate(base, updates)
    return {
        "sha256": hashlib.sha256(codec.encode(aggregate.tensors)).hexdigest(),
        "rejected": list(aggregate.rejected),
        "scores": [float(score).hex() for score in aggregate.scores],  # Krum's, to the bit
    }


def build() -> dict[str, Any]:
    """The whole fixture: inputs and the vector of every (input set, rule) pair the rule accepts."""
    sets = inputs()
    vectors = []
    for set_name, entry in sets.items():
        for spec in SPECS:
            result = outcome(spec, entry)
            if result is not None:
                vectors.append({"inputs": set_name, "spec": spec, **result})
    return {"about": "see tools/rule_vectors.py", "inputs": sets, "vectors": vectors}


def render(fixture: dict[str, Any]) -> str:
    return json.dumps(fixture, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python tools/rule_vectors.py``."""
    parser = argparse.ArgumentParser(prog="tools/rule_vectors.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if today's rules differ from the fixture"
    )
    args = parser.parse_args(argv)
    fresh = render(build())
    if args.check:
        if FIXTURE.read_text(encoding="utf-8") != fresh:
            print(f"{FIXTURE} differs from what today's rules give", file=sys.stderr)
            return 1
        print(f"{FIXTURE} matches")
        return 0
    FIXTURE.write_text(fresh, encoding="utf-8")
    print(f"wrote {FIXTURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

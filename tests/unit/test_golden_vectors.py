"""Golden vectors: every aggregation rule gives, on fixed inputs, the bytes whose sha256 was committed.

Aggregating twice in one process cannot catch a numpy, BLAS or CPU change that alters one bit of a global model;
comparing with digests computed once and committed (``tests/fixtures/rule_vectors.json``, written by
``tools/rule_vectors.py``) does, on every machine that runs the suite. A failure here means that an auditor on this
machine would reject rounds that an aggregator elsewhere committed honestly (or the other way round): find what
changed the arithmetic, do not regenerate the fixture to make it pass.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedledger import codec
from fedledger.rules.strategies import strategy_from_spec

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "rule_vectors.json").read_text(encoding="utf-8"))
VECTORS: list[dict[str, Any]] = FIXTURE["vectors"]


def _load_generator() -> Any:
    """tools/rule_vectors.py is a build tool outside the runtime package: load it from its file."""
    spec = importlib.util.spec_from_file_location("rule_vectors", ROOT / "tools" / "rule_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["rule_vectors"] = module
    spec.loader.exec_module(module)
    return module


def _array(encoded: str, shape: list[int]) -> codec.Array:
    return np.frombuffer(base64.b64decode(encoded), dtype="<f4").astype(np.float32).reshape(shape)


def _inputs(name: str) -> tuple[codec.Tensors, list[tuple[codec.Tensors, int]]]:
    entry = FIXTURE["inputs"][name]
    shapes = entry["shapes"]
    base = {k: _array(v, shapes[k]) for k, v in entry["base"].items()}
    updates = [
        ({k: _array(v, shapes[k]) for k, v in u["tensors"].items()}, int(u["num_samples"]))
        for u in entry["updates"]
    ]
    return base, updates


@pytest.mark.parametrize("vector", VECTORS, ids=[f"{v['inputs']}-{v['spec']}" for v in VECTORS])
def test_rule_gives_the_committed_bytes(vector: dict[str, Any]) -> None:
    # Prepare
    base, updates = _inputs(vector["inputs"])
    rule = strategy_from_spec(vector["spec"])

    # Execute
    aggregate = rule.aggregate(base, updates)

    # Assert
    assert hashlib.sha256(codec.encode(aggregate.tensors)).hexdigest() == vector["sha256"]
    assert list(aggregate.rejected) == vector["rejected"]
    assert [float(score).hex() for score in aggregate.scores] == vector["scores"]


def test_fixture_inputs_are_the_documented_formula() -> None:
    # Prepare: the generator's counter-mode SHA-256 formula and written-out edge sets
    generator = _load_generator()

    # Execute
    inputs = generator.inputs()

    # Assert: nobody edited the committed inputs by hand, and the formula still yields them
    assert inputs == FIXTURE["inputs"]


def test_fixture_covers_every_rule_with_odd_and_even_counts_and_the_edge_cases() -> None:
    # Prepare
    covered = {(v["spec"].split(":")[0], len(FIXTURE["inputs"][v["inputs"]]["updates"]) % 2) for v in VECTORS}
    families = {v["inputs"].rsplit("_n", 1)[0] for v in VECTORS}

    # Assert
    for rule in ("fedavg", "fedsgd", "median", "trimmed_mean", "krum", "multikrum"):
        assert {(rule, 0), (rule, 1)} <= covered, f"{rule} lacks an odd or an even update count"
    assert {v["spec"] for v in VECTORS} >= {"fedavg:clip=1.5", "multikrum:f=1,m=3", "multikrum:f=1"}
    assert families == {"random", "signed_zeros", "ties", "near_max", "subnormal", "cancellation"}


@pytest.mark.parametrize("name", ["signed_zeros_n3", "signed_zeros_n4", "signed_zeros_n5"])
def test_median_of_signed_zeros_follows_the_stable_order(name: str) -> None:
    # Prepare: coordinate c of update i is -0.0 when bit i of c is set; equal values keep their position order,
    # so the middle values are those of the middle positions
    base, updates = _inputs(name)
    n = len(updates)
    middle = {(n - 1) // 2, n // 2}

    # Execute
    got = strategy_from_spec("median").aggregate(base, updates).tensors["w"]

    # Assert: the mean of the middle values is -0.0 only when both are -0.0
    expected = [all((c >> i) & 1 for i in middle) for c in range(2**n)]
    assert np.signbit(got).tolist() == expected
    assert not got.any()

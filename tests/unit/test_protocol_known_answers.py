"""Known answers for the choices the README's protocol section settles, each computed by hand from the README's
words (never by calling the code twice): tensor names and header escapes, default parameters, the trim count,
the clip factor at norm 0, rounding of squared differences, the sign of zero results, and the order of equal
values in the coordinate-wise sorts.
"""

from __future__ import annotations

import hashlib
import struct
from fractions import Fraction

import numpy as np
import pytest

from fedledger import codec
from fedledger.exceptions import CodecError, ConfigurationError, ValidationError
from fedledger.rules.exact import squared_distance
from fedledger.rules.robust import Median, TrimmedMean
from fedledger.rules.strategies import FedAvg
from fedledger.rules.validation import validate_update
from fedledger.strategy_spec import canonical_spec, parse_canonical

ONE = struct.pack("<f", 1.0)


def _file(header_json: str, body: bytes = ONE) -> bytes:
    """A safetensors file by hand: 8-byte little-endian length, the header padded with spaces to 8, the body."""
    header = header_json.encode("ascii") if header_json.isascii() else header_json.encode("utf-8")
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + body


def _column(values: list[float]) -> list[tuple[codec.Tensors, int]]:
    """One single-value update per value, in position order."""
    return [({"w": np.array([v], np.float32)}, 1) for v in values]


BASE = {"w": np.zeros(1, np.float32)}

# ------------------------------------------------------------------------------------- names and escapes


def test_header_escapes_quote_backslash_and_control_characters_as_python_json_does() -> None:
    # Prepare: a name with a quote, a backslash, a newline, U+0001, a slash and DEL (escaped, though ASCII)
    name = 'q"\\\n\x01/\x7f'
    expected = _file('{"q\\"\\\\\\n\\u0001/\\u007f":{"data_offsets":[0,4],"dtype":"F32","shape":[1]}}')
    # Execute
    data = codec.encode({name: np.ones(1, np.float32)})
    # Assert
    assert data == expected
    assert list(codec.decode(data)) == [name]


@pytest.mark.parametrize(
    "header",
    [
        '{"\\u00e9":{"data_offsets":[0,4],"dtype":"F32","shape":[1]}}',  # é escaped: ASCII bytes, non-ASCII name
        '{"é":{"data_offsets":[0,4],"dtype":"F32","shape":[1]}}',  # é as UTF-8: a non-ASCII header
        '{"\\u0077":{"data_offsets":[0,4],"dtype":"F32","shape":[1]}}',  # "w" escaped needlessly: not canonical
    ],
)
def test_a_non_ascii_or_needlessly_escaped_name_is_malformed_not_names_mismatch(header: str) -> None:
    # Prepare
    data = _file(header)
    # Execute
    with pytest.raises(ValidationError) as info:
        validate_update(
            data,
            base={"w": np.ones(1, np.float32)},
            expected_digest=hashlib.sha256(data).digest(),
            max_bytes=1000,
        )
    # Assert
    assert info.value.reason == "malformed"
    with pytest.raises(CodecError):
        codec.decode(data)


# -------------------------------------------------------------------------------------- spec defaults


@pytest.mark.parametrize(
    ("typed", "recorded"),
    [("fedsgd", "fedsgd:lr=0.3"), ("krum", "krum:f=1"), ("trimmed_mean", "trimmed_mean:beta=0.1")],
)
def test_defaults_exist_only_where_a_person_types_a_spec(typed: str, recorded: str) -> None:
    # Execute / Assert: task create writes the default out; a recorded spec without it is not canonical
    assert canonical_spec(typed) == recorded
    with pytest.raises(ConfigurationError, match="not in canonical form"):
        parse_canonical(typed)


# --------------------------------------------------------------------------------------- the trim count


@pytest.mark.parametrize(
    ("beta", "n", "expected"),
    [
        # float64(0.3) * 10 rounds to 3.0: 3 trimmed (the exact binary value 0.2999... would give 2)
        (0.3, 10, Fraction(9 + 16 + 25 + 36, 4)),
        # float64(0.29) * 100 rounds to 28.999999999999996: 28 trimmed (the decimal 0.29 would give 29)
        (0.29, 100, Fraction(sum(i * i for i in range(28, 72)), 44)),
    ],
)
def test_trim_count_is_the_floor_of_the_float64_product(beta: float, n: int, expected: Fraction) -> None:
    # Prepare: value i*i at position i, so every trim count gives a different mean
    updates = _column([float(i * i) for i in range(n)])
    # Execute
    result = TrimmedMean(beta=beta).aggregate(BASE, updates).tensors["w"][0]
    # Assert
    assert Fraction(float(result)) == expected


# ------------------------------------------------------------------------------------- clip and norms


def test_clip_factor_is_one_when_the_difference_is_zero() -> None:
    # Prepare: one update equal to the base, one at distance 5 from it (clipped to 1)
    base = {"w": np.array([1.0, 1.0], np.float32)}
    updates = [({"w": np.array([1.0, 1.0], np.float32)}, 1), ({"w": np.array([4.0, 5.0], np.float32)}, 1)]
    # Execute
    result = FedAvg(clip=1.0).aggregate(base, updates).tensors["w"]
    # Assert: (1, 1) and (1.6, 1.8) averaged: no NaN from 0 * (1 / 0)
    assert result.tolist() == [np.float32(1.3), np.float32(1.4)]


def test_squared_differences_are_rounded_in_float64() -> None:
    # Prepare: 1 - 2**-30 is exact in float64, its square 1 - 2**-29 + 2**-60 is not
    a, b = np.array([1.0], np.float32), np.array([2.0**-30], np.float32)
    # Execute
    distance = squared_distance(a, b)
    # Assert: rounded to nearest, the 2**-60 is lost
    assert distance == 1.0 - 2.0**-29
    assert Fraction(distance) != (1 - Fraction(1, 2**30)) ** 2


# ------------------------------------------------------------------------------------ signs and order


def test_weighted_and_trimmed_means_of_negative_zeros_are_positive_zero() -> None:
    # Prepare: every update is -0.0; the float64 accumulators start at +0.0 and +0.0 + -0.0 = +0.0
    updates = _column([-0.0, -0.0, -0.0])
    # Execute
    fedavg = FedAvg().aggregate(BASE, iter(updates)).tensors["w"][0]
    trimmed = TrimmedMean(beta=0.0).aggregate(BASE, iter(updates)).tensors["w"][0]
    median = Median().aggregate(BASE, iter(updates)).tensors["w"][0]
    # Assert: the median takes a value (and averages -0.0 with -0.0), so it stays -0.0
    assert not np.signbit(fedavg) and not np.signbit(trimmed)
    assert np.signbit(median)


@pytest.mark.parametrize(("negative_at", "negative_median"), [(16, True), (15, False), (17, False)])
def test_equal_values_keep_their_position_order_in_the_sort(negative_at: int, negative_median: bool) -> None:
    # Prepare: 33 zeros, one of them -0.0: sorted stably, position 16 is the middle
    values = [0.0] * 33
    values[negative_at] = -0.0
    # Execute
    median = Median().aggregate(BASE, _column(values)).tensors["w"][0]
    # Assert
    assert bool(np.signbit(median)) is negative_median

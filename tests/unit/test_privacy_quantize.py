"""Clipping, fixed-point quantization into Z_2^32 and its exact inverse: hand-computed answers and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fedledger.privacy import quantize as qz
from fedledger.privacy.errors import PrivacyParameterError
from fedledger.rules.exact import fixed_sum

SMALL = qz.QuantParams(clip=2.0, scale_bits=2, weight_cap=2, max_participants=4)


def test_quantize_rounds_half_to_even_without_clipping() -> None:
    # Prepare: norm ~1.14 < C = 2, so x * 4 = [2.5, 3.5, -1.5, 1.2, -0.5]
    x = np.array([0.625, 0.875, -0.375, 0.3, -0.125], np.float32)

    # Execute
    q = qz.quantize(x, SMALL)

    # Assert: halves go to the even neighbour, 1.2 rounds to 1
    assert q.tolist() == [2, 4, -2, 1, 0]


def test_quantize_clips_to_the_norm_bound_first() -> None:
    # Prepare: |(3, 4)| = 5 -> (0.6, 0.8) at C = 1; times 16 = (9.6, 12.8)
    params = qz.QuantParams(clip=1.0, scale_bits=4, weight_cap=2, max_participants=4)

    # Execute
    clipped = qz.clip(np.array([3.0, 4.0], np.float32), params)
    q = qz.quantize(np.array([3.0, 4.0], np.float32), params)

    # Assert
    assert qz.l2_norm(clipped) == pytest.approx(1.0, abs=1e-15)
    assert q.tolist() == [10, 13]
    assert params.coord_bound == 16


def test_encode_update_weights_by_capped_samples_as_twos_complement() -> None:
    params = qz.QuantParams(clip=1.0, scale_bits=4, weight_cap=2, max_participants=4)

    # Execute: 3 samples are capped at 2
    words = qz.encode_update(np.array([-3.0, 4.0], np.float32), 3, params)

    # Assert: 2 * (-10, 13) = (-20, 26)
    assert words.dtype == np.uint32
    assert words.tolist() == [(1 << 32) - 20, 26]


def test_dequantize_mean_divides_the_signed_sum_by_total_weight_and_scale() -> None:
    params = qz.QuantParams(clip=1.0, scale_bits=4, weight_cap=2, max_participants=4)
    total = qz.to_words(np.array([-20, 26], np.int64))

    mean = qz.dequantize_mean(total, 2, params)
    model = qz.apply_mean(np.array([1.0, -1.0], np.float32), total, 2, params)

    # Assert: -20 / 32 and 26 / 32 are exact binary fractions
    assert mean.dtype == np.float32
    assert mean.tolist() == [-0.625, 0.8125]
    assert model.tolist() == [0.375, -0.1875]


def test_refuses_parameters_whose_sum_could_wrap_and_names_a_safe_scale() -> None:
    # 100 x 1000 x 2^15 = 3.3e9 >= 2^31; at 2^14 it is 1.6e9
    with pytest.raises(PrivacyParameterError, match=r"could wrap.*at most 14"):
        qz.QuantParams(clip=1.0, scale_bits=15, weight_cap=1000, max_participants=100)

    assert qz.QuantParams(clip=1.0, scale_bits=14, weight_cap=1000, max_participants=100).scale == 1 << 14


def test_bound_is_tight_at_two_to_the_31() -> None:
    assert qz.QuantParams(clip=float(2**31 - 1), scale_bits=0, weight_cap=1, max_participants=1)
    with pytest.raises(PrivacyParameterError, match="could wrap"):
        qz.QuantParams(clip=float(2**31), scale_bits=0, weight_cap=1, max_participants=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clip": 0.0}, "clip norm"),
        ({"clip": math.inf}, "clip norm"),
        ({"clip": math.nan}, "clip norm"),
        ({"scale_bits": -1}, "scale_bits"),
        ({"scale_bits": 31}, "scale_bits"),
        ({"weight_cap": 0}, "at least 1"),
        ({"max_participants": 0}, "at least 1"),
    ],
)
def test_refuses_out_of_range_parameters(kwargs: dict[str, float], message: str) -> None:
    base: dict[str, float] = {"clip": 1.0, "scale_bits": 4, "weight_cap": 2, "max_participants": 4}

    with pytest.raises(PrivacyParameterError, match=message):
        qz.QuantParams(**{**base, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("x", "samples", "message"),
    [
        (np.array([1.0, np.nan], np.float32), 1, "NaN or infinite"),
        (np.array([1.0, np.inf], np.float32), 1, "NaN or infinite"),
        (np.zeros((2, 2), np.float32), 1, "flat vector"),
        (np.zeros(3, np.int32), 1, "floats"),
        (np.zeros(3, np.float32), 0, "at least one sample"),
    ],
)
def test_refuses_unquantizable_updates(x: np.ndarray, samples: int, message: str) -> None:
    with pytest.raises(PrivacyParameterError, match=message):
        qz.encode_update(x, samples, SMALL)


def test_refuses_a_total_weight_the_task_cannot_have() -> None:
    with pytest.raises(PrivacyParameterError, match="total weight"):
        qz.dequantize_mean(np.zeros(2, np.uint32), SMALL.max_participants * SMALL.weight_cap + 1, SMALL)


floats = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(
    vectors=st.lists(arrays(np.float32, 16, elements=floats), min_size=1, max_size=6),
    samples=st.lists(st.integers(1, 50), min_size=6, max_size=6),
    scale_bits=st.integers(0, 16),
    clip=st.floats(0.01, 100.0),
)
def test_dequantized_fedavg_is_within_the_quantization_error_of_float_fedavg(
    vectors: list[np.ndarray], samples: list[int], scale_bits: int, clip: float
) -> None:
    # Prepare
    params = qz.QuantParams(clip=clip, scale_bits=scale_bits, weight_cap=20, max_participants=6)
    weights = [qz.capped_weight(n, params) for n in samples[: len(vectors)]]
    reference = sum(w * qz.clip(x, params) for w, x in zip(weights, vectors, strict=True)) / sum(weights)

    # Execute: the modular sum of the encoded updates, then the inverse
    total = np.zeros(16, np.uint32)
    for x, n in zip(vectors, samples, strict=False):
        total += qz.encode_update(x, n, params)
    mean = qz.dequantize_mean(total, sum(weights), params)

    # Assert: rounding costs at most 1/2 unit per coordinate, the final float32 cast half an ulp
    bound = 0.5 / params.scale + np.abs(reference) * 2.0**-24 + 1e-12
    assert np.all(np.abs(mean.astype(np.float64) - reference) <= bound)


@settings(max_examples=40, deadline=None)
@given(
    participants=st.integers(1, 50),
    cap=st.integers(1, 1000),
    clip=st.floats(0.01, 10.0),
    sign=st.sampled_from([1, -1]),
)
def test_worst_case_sum_never_wraps(participants: int, cap: int, clip: float, sign: int) -> None:
    # Prepare: the largest scale the bound allows, every participant at the extreme coordinate and full weight
    scale_bits = max(
        b
        for b in range(qz.MAX_SCALE_BITS + 1)
        if participants * cap * math.ceil(clip * (1 << b)) < qz.SUM_LIMIT
    )
    params = qz.QuantParams(clip=clip, scale_bits=scale_bits, weight_cap=cap, max_participants=participants)
    x = np.array([sign * clip, 0.0], np.float64)

    # Execute
    total = np.zeros(2, np.uint32)
    for _ in range(participants):
        total += qz.encode_update(x, cap, params)

    # Assert: the signed reading is the true integer sum
    q = int(qz.quantize(x, params)[0])
    assert abs(q) <= params.coord_bound
    assert int(qz.to_signed(total)[0]) == participants * cap * q


@settings(max_examples=30, deadline=None)
@given(x=arrays(np.float32, st.integers(1, 3000), elements=floats), n=st.integers(1, 40))
def test_encoding_is_deterministic_to_the_byte(x: np.ndarray, n: int) -> None:
    params = qz.QuantParams(clip=3.0, scale_bits=10, weight_cap=40, max_participants=8)

    assert qz.encode_update(x, n, params).tobytes() == qz.encode_update(x.copy(), n, params).tobytes()


def test_fixed_sum_is_order_fixed_and_correct_on_a_hard_case() -> None:
    # 1e16 + 1 - 1e16 loses the 1 in naive left-to-right float64; the fixed order keeps the columns apart
    values = np.zeros(2048, np.float64)
    values[0], values[1], values[1024] = 1e16, 1.0, -1e16

    assert fixed_sum(values) == 1.0


@pytest.mark.parametrize("clip_norm", [10.0, 0.5])  # unclipped (norm ~4.5) and clipped
def test_blockwise_encoding_equals_the_specification_written_in_one_piece(clip_norm: float) -> None:
    # Prepare: a vector spanning several blocks and a ragged tail, and steps 1-5 written out on the whole array
    params = qz.QuantParams(clip=clip_norm, scale_bits=8, weight_cap=7, max_participants=1)
    x = np.random.default_rng(9).normal(0, 0.01, 3 * qz.CHUNK + 1500).astype(np.float32)
    x64 = x.astype(np.float64)
    norm = math.sqrt(fixed_sum(x64 * x64))
    clipped = x64 if norm <= clip_norm else x64 * (clip_norm / norm)
    q = np.clip(np.rint(clipped * params.scale), -params.coord_bound, params.coord_bound).astype(np.int64)

    # Execute
    words = qz.encode_update(x, 9, params)

    # Assert
    assert qz.l2_norm(x) == norm
    assert np.array_equal(qz.quantize(x, params), q)
    assert np.array_equal(words, ((7 * q) % (1 << 32)).astype(np.uint32))


def test_says_so_when_no_scale_fits() -> None:
    with pytest.raises(
        PrivacyParameterError, match="no scale_bits fits: lower the weight cap or the clip norm"
    ):
        qz.QuantParams(clip=1e9, scale_bits=0, weight_cap=7, max_participants=1)

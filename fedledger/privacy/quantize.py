"""Client-side clipping and fixed-point quantization into Z_{2^32}, and the exact inverse an auditor applies.

Secure aggregation sums integers modulo a power of two (Bonawitz et al. 2017, section 3); the distributed-DP
variants clip, scale and round the same way before adding integer noise (Kairouz et al. 2021, "The Distributed
Discrete Gaussian Mechanism for Federated Learning with Secure Aggregation", ICML, arXiv 2102.06387; Agarwal et al.
2021, "The Skellam Mechanism for Differentially Private Federated Learning", NeurIPS, arXiv 2110.04995).

The specification, step by step, for a participant's float32 update vector x (the flat delta from the round's base
model, tensors in sorted-name order), its declared sample count m, and the task's ``QuantParams(C, b, cap, n)``:

1. norm  = sqrt(Σ x_i²), with x_i² in float64 and the sum in the fixed order of ``fedledger.rules.exact.fixed_sum`` (rows of 1024
   element-wise adds, then ``math.fsum``), ``math.sqrt`` correctly rounded.
2. clip  = x (float64) if norm <= C, else x * (C / norm) (one float64 division, then one multiply per value).
3. q     = clamp(rint(clip * 2^b), -B, B), ``rint`` rounding half to even, B = ceil(C * 2^b) (the clamp never
   binds in exact arithmetic; it makes the bound a fact rather than an argument about float error).
4. w     = min(m, cap), and m >= 1.
5. word  = (w * q) mod 2^32 as uint32 (two's complement of the int64 product).

The aggregate's sum s (uint32 words) is read as signed int32; with at most n participants each contributing
|w * q_i| <= cap * B, |Σ| <= n * cap * B < 2^31 is required of the parameters, so the signed reading is the true
integer sum. The weighted mean (FedAvg, McMahan et al. 2017, arXiv 1602.05629, over clipped updates) is
float32( float64(s_i) / float64(W * 2^b) ) with W = Σ w_k, one correctly rounded float64 division then one
rounding to float32; the next global model is float32( float64(base_i) + float64(s_i) / float64(W * 2^b) ).
2^b is a power of two, so W * 2^b and clip * 2^b are exact in float64: rounding happens only where stated.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fedledger.privacy.errors import PrivacyParameterError
from fedledger.rules.exact import WIDTH

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]
MODULUS_BITS = 32
MODULUS = 1 << MODULUS_BITS
SUM_LIMIT = 1 << (MODULUS_BITS - 1)  # |true sum| must stay below this for the signed reading to be exact
MAX_SCALE_BITS = 30
FOLD_WIDTH = WIDTH  # the fixed summation order of the rules' exact sums (``fedledger.rules.exact``)
CHUNK = 64 * FOLD_WIDTH  # values per scratch block (512 KiB of float64); a multiple of FOLD_WIDTH


@dataclass(frozen=True)
class QuantParams:
    """A private task's quantization: clip norm C, scale 2^scale_bits, sample-count cap, most participants.

    Construction refuses any combination under which the modular sum of ``max_participants`` updates could
    wrap: ``max_participants * weight_cap * coord_bound < 2^31``.
    """

    clip: float
    scale_bits: int
    weight_cap: int
    max_participants: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.clip) and self.clip > 0):
            raise PrivacyParameterError(f"clip norm must be a positive finite number, got {self.clip}")
        if not 0 <= self.scale_bits <= MAX_SCALE_BITS:
            raise PrivacyParameterError(f"scale_bits must be in 0..{MAX_SCALE_BITS}, got {self.scale_bits}")
        if self.weight_cap < 1 or self.max_participants < 1:
            raise PrivacyParameterError("weight_cap and max_participants must be at least 1")
        worst = self.max_participants * self.weight_cap * self.coord_bound
        if worst >= SUM_LIMIT:
            safe = self._largest_safe_scale_bits()
            advice = f"lower scale_bits (at most {safe}), " if safe >= 0 else "no scale_bits fits: lower "
            raise PrivacyParameterError(
                f"{self.max_participants} participants x weight cap {self.weight_cap} x coordinate bound "
                f"{self.coord_bound} = {worst} could wrap the 32-bit sum (limit 2^31); {advice}"
                "the weight cap or the clip norm"
            )

    @property
    def scale(self) -> int:
        """S = 2^scale_bits: one unit of the integer domain is 1/S in the model's units."""
        return 1 << self.scale_bits

    @property
    def coord_bound(self) -> int:
        """B = ceil(C * S): no coordinate of a clipped, quantized update exceeds it in magnitude."""
        return math.ceil(self.clip * self.scale)

    def _largest_safe_scale_bits(self) -> int:
        bits = -1
        for b in range(MAX_SCALE_BITS + 1):
            if self.max_participants * self.weight_cap * math.ceil(self.clip * (1 << b)) < SUM_LIMIT:
                bits = b
        return bits


def _flat_finite(x: npt.ArrayLike) -> npt.NDArray[np.floating]:
    """The update as a flat float array (not copied), after refusing shapes, dtypes and non-finite values."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise PrivacyParameterError(f"an update must be a flat vector, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise PrivacyParameterError(f"an update must hold floats, got {arr.dtype}")
    if not np.isfinite(arr).all():
        raise PrivacyParameterError("an update holds NaN or infinite values; nothing can be quantized")
    return arr


def _norm(flat: npt.NDArray[np.floating]) -> float:
    """sqrt(Σ x_i²) in the order of ``fedledger.rules.exact.fixed_sum``, squaring one block of rows at a time (no full-size copy)."""
    full = len(flat) - len(flat) % FOLD_WIDTH
    partial = np.zeros(FOLD_WIDTH, np.float64)
    for start in range(0, full, CHUNK):
        block = flat[start : min(start + CHUNK, full)].astype(np.float64)
        block *= block
        for row in block.reshape(-1, FOLD_WIDTH):
            partial += row
    tail = flat[full:].astype(np.float64)
    return math.sqrt(math.fsum(partial.tolist() + (tail * tail).tolist()))


def l2_norm(x: npt.ArrayLike) -> float:
    """sqrt(Σ x_i²) in float64, in the fixed order of ``fedledger.rules.exact.fixed_sum`` (step 1 of the specification)."""
    return _norm(_flat_finite(x))


def _factor(flat: npt.NDArray[np.floating], params: QuantParams) -> float | None:
    """C / norm when the update is longer than C, else None (no scaling at all)."""
    norm = _norm(flat)
    return params.clip / norm if norm > params.clip else None


def clip(x: npt.ArrayLike, params: QuantParams) -> F64:
    """x scaled down to L2 norm C when it is longer (step 2 of the specification); float64."""
    flat = _flat_finite(x)
    factor = _factor(flat, params)
    out = flat.astype(np.float64)
    return out if factor is None else out * factor


def _quantized_blocks(flat: npt.NDArray[np.floating], params: QuantParams) -> Iterator[tuple[int, I64]]:
    """(offset, q block) for steps 1-3, a block of ``CHUNK`` values at a time: the same values, less memory."""
    factor = _factor(flat, params)
    bound = params.coord_bound
    for start in range(0, len(flat), CHUNK):
        block = flat[start : start + CHUNK].astype(np.float64)
        if factor is not None:
            block *= factor
        block *= params.scale
        np.rint(block, out=block)
        np.clip(block, -bound, bound, out=block)
        yield start, block.astype(np.int64)


def quantize(x: npt.ArrayLike, params: QuantParams) -> I64:
    """q = clamp(rint(clip(x) * S), -B, B) as int64 (steps 1-3): round half to even, no randomness."""
    flat = _flat_finite(x)
    out = np.empty(len(flat), np.int64)
    for start, block in _quantized_blocks(flat, params):
        out[start : start + len(block)] = block
    return out


def capped_weight(num_samples: int, params: QuantParams) -> int:
    """w = min(num_samples, weight_cap) (step 4); a participant with no samples has no place in the sum."""
    if num_samples < 1:
        raise PrivacyParameterError(f"a weighted update needs at least one sample, got {num_samples}")
    return min(num_samples, params.weight_cap)


def to_words(values: I64) -> U32:
    """Signed integers to their residues modulo 2^32 (two's complement low 32 bits)."""
    return np.bitwise_and(np.asarray(values, dtype=np.int64), MODULUS - 1).astype(np.uint32)


def to_signed(words: U32) -> I64:
    """Residues modulo 2^32 read as signed int32 (the representative in [-2^31, 2^31))."""
    arr = np.asarray(words)
    if arr.dtype != np.uint32:
        raise PrivacyParameterError(f"a modular sum must be uint32, got {arr.dtype}")
    return arr.view(np.int32).astype(np.int64)


def encode_update(x: npt.ArrayLike, num_samples: int, params: QuantParams) -> U32:
    """The participant's input to secure aggregation: (w * q) mod 2^32 (steps 1-5 of the specification).

    Parameters: ``x`` the flat float update (delta from the base model), ``num_samples`` its declared sample
    count, ``params`` the task's quantization. Returns the uint32 words to be masked.
    """
    weight = capped_weight(num_samples, params)
    flat = _flat_finite(x)
    out = np.empty(len(flat), np.uint32)
    for start, block in _quantized_blocks(flat, params):
        block *= weight
        out[start : start + len(block)] = to_words(block)
    return out


def _checked_sum(total: U32, total_weight: int, params: QuantParams) -> I64:
    if not 1 <= total_weight <= params.max_participants * params.weight_cap:
        raise PrivacyParameterError(
            f"total weight {total_weight} is outside 1..{params.max_participants * params.weight_cap}"
        )
    return to_signed(total)


def dequantize_mean(total: U32, total_weight: int, params: QuantParams) -> npt.NDArray[np.float32]:
    """The weighted mean update: float32(float64(signed(total)) / float64(W * S)), one division then one cast."""
    signed = _checked_sum(total, total_weight, params)
    return (signed.astype(np.float64) / np.float64(total_weight * params.scale)).astype(np.float32)


def apply_mean(
    base: npt.ArrayLike, total: U32, total_weight: int, params: QuantParams
) -> npt.NDArray[np.float32]:
    """The next global model: float32(float64(base) + float64(signed(total)) / float64(W * S)), one final cast."""
    signed = _checked_sum(total, total_weight, params)
    flat = np.asarray(base, dtype=np.float32).astype(np.float64)
    if flat.shape != signed.shape:
        raise PrivacyParameterError(f"base model has shape {flat.shape}, the sum has {signed.shape}")
    return (flat + signed.astype(np.float64) / np.float64(total_weight * params.scale)).astype(np.float32)

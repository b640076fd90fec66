"""Distributed discrete Gaussian noise for private rounds, and its privacy budget (issue 17, section 2).

Each participant adds integer noise drawn from the discrete Gaussian N_Z(0, sigma^2) to its quantized words
before masking (``add_noise``), so the unmasked sum carries the noise of every survivor and nobody, aggregator
included, ever sees a less noisy value. Mechanism and accounting: Kairouz, Liu, Steinke 2021, "The Distributed
Discrete Gaussian Mechanism for Federated Learning with Secure Aggregation" (ICML, arXiv 2102.06387); sampler:
Canonne, Kamath, Steinke 2020, "The Discrete Gaussian for Differential Privacy" (NeurIPS, arXiv 2004.00010).

Neighbouring relation: one participant's whole contribution w * q present or absent (user-level add/remove, as
in DP-FedAvg, McMahan et al. 2018, arXiv 1710.06963). The sample counts n_k and so W are public on the chain and
are not protected; the guarantee covers the summed vector. A round's noise is calibrated so that any
``threshold`` honest survivors together carry total standard deviation z * l2 sensitivity; noise of participants
who collude with the observer is known to it and does not count. Composition over rounds uses Google's
``dp-accounting`` (RDP accountant over zCDP events), which an auditor reruns from the task's public parameters.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fedledger.privacy.errors import PrivacyParameterError
from fedledger.privacy.quantize import MODULUS, SUM_LIMIT, U32, QuantParams

I64 = npt.NDArray[np.int64]

# Relative slack on the clip norm for float rounding in quantize's steps 1-2: the norm's fixed-order sum errs by at
# most about (dim/1024 + 4) * 2^-53 relative (rows of 1024 adds, then an exact fsum), the division and the multiply
# by a few ulps more; 2^-30 covers that for any dim below 2^42.
CLIP_SLACK = 2.0**-30
SAMPLE_BATCH = 1 << 20  # candidate draws per sampler pass: about 40 MiB of temporaries at most
TAIL_SDS = 12  # noise headroom in standard deviations of the noise sum: 2 exp(-144/2) < 2^-100 per coordinate
# RDP orders: alpha = 1 + 10^(k/100), alpha - 1 from just above 10^-2 (dp-accounting's conversion refuses orders up to
# 1.01) to 10^6, in steps of 2.3%: the accountant takes the best of these, within a hair of the optimal order
# for any rho * rounds up to ~10^5 (its default set is coarser near 1 and stops at 1024: a few percent of epsilon)
RDP_ORDERS = tuple(1 + 10 ** (k / 100) for k in range(-199, 601))


@dataclass(frozen=True)
class DpParams:
    """A private task's noise: multiplier z, the delta of its (epsilon, delta) statement, and the threshold t.

    ``noise_multiplier`` z > 0: the noise of any t survivors together has sd z * l2 sensitivity (integer units).
    ``delta`` in (0, 1): the delta at which epsilon is reported. ``threshold`` t >= 1: the fewest participants
    whose noise a released sum carries (the Shamir threshold: with fewer survivors nothing is unmasked).
    """

    noise_multiplier: float
    delta: float
    threshold: int

    def __post_init__(self) -> None:
        z = self.noise_multiplier
        if isinstance(z, bool) or not isinstance(z, int | float) or not (math.isfinite(z) and z > 0):
            raise PrivacyParameterError(f"noise multiplier must be a positive finite number, got {z!r}")
        d = self.delta
        if isinstance(d, bool) or not isinstance(d, int | float) or not 0 < d < 1:
            raise PrivacyParameterError(f"delta must be strictly between 0 and 1, got {d!r}")
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, int) or t < 1:
            raise PrivacyParameterError(f"threshold must be an integer of at least 1, got {t!r}")


def _check_dim(dim: int) -> None:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise PrivacyParameterError(f"the model dimension must be a positive integer, got {dim!r}")


def l2_sensitivity(params: QuantParams, dim: int) -> float:
    """The largest L2 norm of one participant's contribution w * q, in integer units.

    w <= weight_cap; q = rint(clip(x) * S) with ||clip(x)|| <= C, and round-half-even moves each of the dim
    coordinates by at most 1/2, so ||q||_2 <= C * S + sqrt(dim) / 2 (the clamp to +-coord_bound only shrinks
    coordinates). C * S is widened by ``CLIP_SLACK`` for the float error of the clipping itself.
    """
    _check_dim(dim)
    return params.weight_cap * (params.clip * params.scale * (1 + CLIP_SLACK) + math.sqrt(dim) / 2)


def l1_sensitivity(params: QuantParams, dim: int) -> float:
    """The largest L1 norm of w * q: sqrt(dim) * l2 (Cauchy-Schwarz), or dim * coord_bound * cap if smaller."""
    return min(
        math.sqrt(dim) * l2_sensitivity(params, dim), float(dim * params.coord_bound * params.weight_cap)
    )


def participant_sigma(dp: DpParams, params: QuantParams, dim: int) -> float:
    """Each participant's sigma: z * l2 / sqrt(t), so that any t or more survivors carry sd >= z * l2 together."""
    return dp.noise_multiplier * l2_sensitivity(params, dim) / math.sqrt(dp.threshold)


def _check_sigma(sigma: float) -> None:
    if (
        isinstance(sigma, bool)
        or not isinstance(sigma, int | float)
        or not (math.isfinite(sigma) and sigma > 0)
    ):
        raise PrivacyParameterError(f"the noise sigma must be a positive finite number, got {sigma!r}")


def sample_discrete_gaussian(sigma: float, size: int, rng: np.random.Generator) -> I64:
    """``size`` independent draws of N_Z(0, sigma^2), P(x) proportional to exp(-x^2 / (2 sigma^2)) on the integers.

    Canonne, Kamath, Steinke 2020 (arXiv 2004.00010), Algorithm 3: propose Y from the discrete Laplace with scale
    t = floor(sigma) + 1 (the difference of two geometric variables, P(Y=y) proportional to exp(-|y|/t)), accept
    with probability exp(-(|Y| - sigma^2/t)^2 / (2 sigma^2)); the accepted Y are exactly N_Z(0, sigma^2).
    Vectorized: batches of at most ``SAMPLE_BATCH`` candidates until ``size`` are accepted (about 70% are).
    Unlike the paper's exact-arithmetic version, the geometric draws and the acceptance test use float64
    probabilities: the distribution is exact up to float rounding of those probabilities (relative 2^-52), which
    is far below what any test of the noise could see and, unlike float Gaussian noise, leaves no low-order-bit
    pattern (Mironov 2012): the output is an integer whose law depends on sigma only.
    """
    _check_sigma(sigma)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise PrivacyParameterError(f"the sample size must be a non-negative integer, got {size!r}")
    t = math.floor(sigma) + 1
    p = -math.expm1(-1.0 / t)  # geometric success probability: P(G = k) proportional to exp(-k / t)
    var = float(sigma) * float(sigma)
    shift = var / t
    out = np.empty(size, np.int64)
    filled = 0
    while filled < size:
        n = min(SAMPLE_BATCH, (size - filled) * 3 // 2 + 64)
        y = rng.geometric(p, n)
        y -= rng.geometric(p, n)
        gap = np.abs(y).astype(np.float64)
        gap -= shift
        gap *= gap
        gap /= -2.0 * var
        accepted = y[rng.random(n) < np.exp(gap)][: size - filled]
        out[filled : filled + len(accepted)] = accepted
        filled += len(accepted)
    return out


def noise_rng() -> np.random.Generator:
    """A fresh numpy Generator (PCG64) seeded with 256 bits from the OS (``secrets``), for one round's noise.

    The noise must be unpredictable to everyone else, never reproducible: it is not derived from any protocol
    seed, and it is never revealed on its own (it leaves the participant only inside its masked words).
    """
    return np.random.Generator(np.random.PCG64(secrets.randbits(256)))


def add_noise(words: U32, sigma: float, rng: np.random.Generator) -> U32:
    """(words + N_Z(0, sigma^2) noise) mod 2^32 as uint32, one coordinate's noise each, a batch at a time.

    Parameters: ``words`` a participant's ``encode_update`` output, ``sigma`` its ``participant_sigma``, ``rng``
    from ``noise_rng``. Returns the noisy words, to be masked like the plain ones.
    """
    arr = np.asarray(words)
    if arr.dtype != np.uint32 or arr.ndim != 1:
        raise PrivacyParameterError(
            f"noise goes on a flat uint32 vector, got {arr.dtype} of shape {arr.shape}"
        )
    out = np.empty(len(arr), np.uint32)
    for start in range(0, len(arr), SAMPLE_BATCH):
        block = arr[start : start + SAMPLE_BATCH].astype(np.int64)
        block += sample_discrete_gaussian(sigma, len(block), rng)
        np.bitwise_and(block, MODULUS - 1, out=block)
        out[start : start + len(block)] = block
    return out


def round_rho(dp: DpParams, params: QuantParams, dim: int) -> float:
    """zCDP rho of one round: the sum of t honest participants' N_Z(0, sigma^2) noise over a sensitivity (D1, D2).

    Kairouz, Liu, Steinke 2021 (arXiv 2102.06387), Theorem 1 and Proposition 14 (the bounds the authors'
    code ``distributed_dp/accounting_utils.py`` in google-research/federated evaluates), with n = t contributors,
    sigma = ``participant_sigma`` >= 1/2 and tau = 10 * sum_{k=1}^{n-1} exp(-2 pi^2 sigma^2 k / (k + 1)):
    the Renyi divergence of order alpha >= 1 is at most the least of
        alpha/2 * D2^2/(n sigma^2) + tau * m,
        alpha/2 * (D2^2/(n sigma^2) + 2 tau D1/(sqrt(n) sigma) + tau^2 m),
        alpha/2 * (D2/(sqrt(n) sigma) + tau sqrt(m))^2,
    with m the number of coordinates the neighbouring sums differ in: m <= min(dim, D1) for an integer shift (the
    equal coordinates are independent and identically distributed under both inputs, so they cost nothing). The
    additive tau * m is charged as alpha * tau * m (alpha >= 1), which makes each bound rho-zCDP. Theorem 1's
    summary form, eps = min(sqrt(D2^2/(n sigma^2) + tau D1/2), D2/(sqrt(n) sigma) + tau sqrt(D1)), rho = eps^2/2,
    differs from these only in the tau terms, which vanish once sigma is more than a few units.
    With n = 1, tau = 0 and rho = D2^2 / (2 sigma^2), the single discrete Gaussian's (CKS20, Theorem 4); for the
    sigmas of real tasks (thousands of units and up) tau underflows to 0 and rho = 1 / (2 z^2), the central value.
    """
    n = dp.threshold
    sigma = participant_sigma(dp, params, dim)
    if sigma < 0.5:
        raise PrivacyParameterError(
            f"each participant's sigma would be {sigma:.3g} integer units; the distributed discrete Gaussian bound "
            "needs at least 0.5: raise the noise multiplier or scale_bits"
        )
    d2 = l2_sensitivity(params, dim)
    d1 = l1_sensitivity(params, dim)
    m = min(float(dim), d1)
    tau = 10 * math.fsum(math.exp(-2 * math.pi**2 * sigma**2 * k / (k + 1)) for k in range(1, n))
    central = d2 * d2 / (n * sigma * sigma)
    scaled = d2 / (math.sqrt(n) * sigma)
    return min(
        central / 2 + tau * m,
        (central + 2 * tau * d1 / (math.sqrt(n) * sigma) + tau * tau * m) / 2,
        (scaled + tau * math.sqrt(m)) ** 2 / 2,
    )


def _check_rounds(rounds: int) -> None:
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise PrivacyParameterError(f"the number of rounds must be a non-negative integer, got {rounds!r}")


def _epsilon(rho: float, delta: float, rounds: int) -> float:
    """dp-accounting's epsilon for ``rounds`` x rho-zCDP at ``delta`` (imported here: it is slow to import, and only
    tasks with DP noise need it)."""
    from dp_accounting import dp_event
    from dp_accounting.rdp import rdp_privacy_accountant

    if rounds == 0:
        return 0.0
    accountant = rdp_privacy_accountant.RdpAccountant(orders=RDP_ORDERS)
    accountant.compose(dp_event.SelfComposedDpEvent(dp_event.ZCDpEvent(rho), rounds))
    return float(accountant.get_epsilon(delta))


def epsilon_after(dp: DpParams, params: QuantParams, dim: int, rounds: int) -> float:
    """Epsilon at ``dp.delta`` after ``rounds`` rounds: ``dp_accounting``'s RDP accountant over rounds x rho-zCDP.

    Every opened round is charged, failed ones included: once a round's unmask material is out, its noisy sum is
    computable whether or not the round is finalized. 0 rounds cost 0.
    """
    _check_rounds(rounds)
    return 0.0 if rounds == 0 else _epsilon(round_rho(dp, params, dim), dp.delta, rounds)


def max_rounds_within(
    dp: DpParams, params: QuantParams, dim: int, budget: float, limit: int = 100_000
) -> int:
    """The most rounds r <= ``limit`` with ``epsilon_after(dp, params, dim, r) <= budget`` (binary search; 0 if none).

    epsilon_after grows with r (RDP adds up), so the rounds within budget are 0..r.
    """
    if not (math.isfinite(budget) and budget >= 0):
        raise PrivacyParameterError(
            f"the privacy budget must be a non-negative finite epsilon, got {budget!r}"
        )
    _check_rounds(limit)
    rho = round_rho(dp, params, dim)
    lo, hi = 0, limit  # invariant: epsilon(lo) <= budget; every r > hi exceeds it or is out of range
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _epsilon(rho, dp.delta, mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def noise_headroom(dp: DpParams, params: QuantParams, dim: int, contributors: int) -> int:
    """B with |sum of ``contributors`` participants' noise| < B per coordinate except with probability < 2^-100.

    N_Z(0, sigma^2) is sigma-sub-Gaussian (CKS20, Corollary 9: E exp(l X) <= exp(l^2 sigma^2 / 2)), so a sum of c
    independent draws is sqrt(c) sigma-sub-Gaussian and P(|sum| >= k sqrt(c) sigma) <= 2 exp(-k^2 / 2). With
    k = ``TAIL_SDS`` = 12 that is below 2^-100 per coordinate, still below 2^-40 after a union bound over 2^60
    coordinates (25M parameters times a billion rounds). B = ceil(12 sqrt(c) sigma).
    """
    if isinstance(contributors, bool) or not isinstance(contributors, int) or contributors < 0:
        raise PrivacyParameterError(f"contributors must be a non-negative integer, got {contributors!r}")
    return math.ceil(TAIL_SDS * math.sqrt(contributors) * participant_sigma(dp, params, dim))


def check_headroom(dp: DpParams | None, params: QuantParams, dim: int, contributors: int) -> None:
    """Refuse parameters under which the noisy sum of ``contributors`` updates could wrap the signed 32-bit reading.

    Requires contributors * weight_cap * coord_bound + noise_headroom < 2^31 (no noise term when ``dp`` is None).
    """
    _check_dim(dim)
    if isinstance(contributors, bool) or not isinstance(contributors, int) or contributors < 0:
        raise PrivacyParameterError(f"contributors must be a non-negative integer, got {contributors!r}")
    signal = contributors * params.weight_cap * params.coord_bound
    noise = 0 if dp is None else noise_headroom(dp, params, dim, contributors)
    if signal + noise >= SUM_LIMIT:
        raise PrivacyParameterError(
            f"{contributors} participants x weight cap {params.weight_cap} x coordinate bound {params.coord_bound}"
            f" = {signal}, plus noise headroom {noise}, is {signal + noise}: could wrap the 32-bit sum (limit 2^31 ="
            f" {SUM_LIMIT}); lower scale_bits, the weight cap, the clip norm or the noise multiplier"
        )

"""Distributed discrete Gaussian noise and its budget: the sampler's law, the zCDP bound, the accountant, headroom."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from fedledger.privacy import dp as dpm
from fedledger.privacy import quantize as qz
from fedledger.privacy.errors import PrivacyParameterError

# the reference task: a 199,210-parameter model, C = 1, 16 fractional bits, at most 600 samples weighed
TASK = qz.QuantParams(clip=1.0, scale_bits=16, weight_cap=600, max_participants=10)
DIM = 199_210
DP = dpm.DpParams(noise_multiplier=1.0, delta=1e-5, threshold=3)
N = 200_000  # draws per distribution test: the tolerances below are 5 standard errors


def exact_pmf(sigma: float, support: np.ndarray) -> np.ndarray:
    """P(X = x) of N_Z(0, sigma^2), normalised over |x| <= 40 sigma + 10 (the rest weighs < e^-800)."""
    reach = int(40 * sigma) + 10
    norm = math.fsum(math.exp(-(y * y) / (2 * sigma * sigma)) for y in range(-reach, reach + 1))
    return np.exp(-(support.astype(np.float64) ** 2) / (2 * sigma * sigma)) / norm


def exact_variance(sigma: float) -> float:
    support = np.arange(-int(40 * sigma) - 10, int(40 * sigma) + 11)
    return float(np.sum(exact_pmf(sigma, support) * support.astype(np.float64) ** 2))


# ---------------------------------------------------------------------------------------------------- sampler


@pytest.mark.parametrize(("sigma", "seed"), [(0.8, 1), (3.0, 2), (50.0, 3), (1e5, 4)])
def test_sampler_has_mean_zero_and_the_discrete_gaussian_variance(sigma: float, seed: int) -> None:
    # Execute
    x = dpm.sample_discrete_gaussian(sigma, N, np.random.default_rng(seed))

    # Assert: integer dtype; mean within 5 SE; variance (computed from the pmf for small sigma, where it is a
    # little below sigma^2) within 5 SE, SE(var) = var * sqrt(2 / N) near a Gaussian
    assert x.dtype == np.int64 and x.shape == (N,)
    var = exact_variance(sigma) if sigma < 10 else sigma * sigma
    assert abs(x.mean()) < 5 * math.sqrt(var / N)
    assert abs(x.var() / var - 1) < 5 * math.sqrt(2 / N)


@pytest.mark.parametrize(("sigma", "seed"), [(0.8, 11), (3.0, 12)])
def test_sampler_matches_the_exact_pmf_chi_square(sigma: float, seed: int) -> None:
    # Prepare: bins |x| <= k with an expected count of at least 20; the two tails pooled into one bin each
    x = dpm.sample_discrete_gaussian(sigma, N, np.random.default_rng(seed))
    support = np.arange(-int(8 * sigma) - 2, int(8 * sigma) + 3)
    p = exact_pmf(sigma, support)
    inner = support[p * N >= 20]
    lo, hi = int(inner[0]), int(inner[-1])

    # Execute
    observed = (
        [np.count_nonzero(x < lo)] + [np.count_nonzero(x == v) for v in inner] + [np.count_nonzero(x > hi)]
    )
    p_inner = exact_pmf(sigma, inner)
    p_tail = (1 - p_inner.sum()) / 2  # symmetric
    expected = N * np.concatenate([[p_tail], p_inner, [p_tail]])
    chi2 = float(np.sum((np.array(observed) - expected) ** 2 / expected))

    # Assert: not rejected at the 0.1% level (len - 1 degrees of freedom)
    assert stats.chi2.sf(chi2, len(expected) - 1) > 1e-3, (chi2, len(expected))


def test_sampler_refills_across_batches_for_a_huge_sigma() -> None:
    # Prepare: more than two batches, and the sigma of a real task (z * l2 / sqrt(t) ~ 2.3e7 units)
    sigma = dpm.participant_sigma(DP, TASK, DIM)
    size = 2 * dpm.SAMPLE_BATCH + 17

    # Execute
    x = dpm.sample_discrete_gaussian(sigma, size, np.random.default_rng(5))

    # Assert
    assert x.shape == (size,) and x.dtype == np.int64
    assert abs(x.var() / sigma**2 - 1) < 5 * math.sqrt(2 / size)
    assert abs(x[-1000:]).max() > 0  # the tail of the output is filled, not left as np.empty garbage or zeros


def test_sampler_refuses_a_bad_sigma_or_size() -> None:
    rng = np.random.default_rng(0)
    for sigma in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(PrivacyParameterError, match="sigma"):
            dpm.sample_discrete_gaussian(sigma, 3, rng)
    with pytest.raises(PrivacyParameterError, match="size"):
        dpm.sample_discrete_gaussian(1.0, -1, rng)
    assert dpm.sample_discrete_gaussian(1.0, 0, rng).shape == (0,)


def test_noise_rng_is_fresh_each_time() -> None:
    a = dpm.noise_rng().integers(0, 2**63, 4)
    b = dpm.noise_rng().integers(0, 2**63, 4)
    assert isinstance(dpm.noise_rng().bit_generator, np.random.PCG64)
    assert a.tolist() != b.tolist()


# ---------------------------------------------------------------------------------------------------- add_noise


def test_add_noise_wraps_modulo_two_to_the_32() -> None:
    # Prepare: words at -1, 2^31 - 1 and -2^31 (as signed): any noise of either sign wraps some of them
    words = np.tile(np.array([2**32 - 1, 2**31 - 1, 2**31], np.uint32), 10_000)

    # Execute
    noisy = dpm.add_noise(words, 50.0, np.random.default_rng(6))

    # Assert: uint32, and (noisy - words) mod 2^32, read signed, is discrete Gaussian noise of sd ~50
    assert noisy.dtype == np.uint32 and noisy.shape == words.shape
    noise = qz.to_signed(noisy - words)  # uint32 subtraction wraps mod 2^32
    assert abs(noise.mean()) < 5 * 50 / math.sqrt(len(noise))
    assert abs(noise.std() / 50 - 1) < 0.02
    # -1 + positive noise wrapped to small non-negative words; 2^31 - 1 + positive noise wrapped to the top half
    assert np.any(noisy[0::3] < 200) and np.any(noisy[1::3] >= 2**31)


def test_add_noise_adds_exactly_the_sampled_noise() -> None:
    words = qz.to_words(np.array([-5, 0, 7, 123456], np.int64))
    noisy = dpm.add_noise(words, 3.0, np.random.default_rng(7))
    noise = dpm.sample_discrete_gaussian(3.0, 4, np.random.default_rng(7))
    assert qz.to_signed(noisy).tolist() == (np.array([-5, 0, 7, 123456]) + noise).tolist()


def test_add_noise_refuses_signed_words() -> None:
    with pytest.raises(PrivacyParameterError, match="uint32"):
        dpm.add_noise(np.zeros(3, np.int32), 1.0, np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------------- sensitivity


def test_sensitivities_follow_clip_scale_rounding_and_weight() -> None:
    # Assert: 600 * (65536 + sqrt(199210)/2) = 600 * 65759.16... , widened by 2^-30 relative on the clip term
    assert dpm.l2_sensitivity(TASK, DIM) == pytest.approx(600 * (65536 + math.sqrt(DIM) / 2), rel=1e-9)
    assert dpm.l2_sensitivity(TASK, DIM) > 600 * (65536 + math.sqrt(DIM) / 2)
    assert dpm.l1_sensitivity(TASK, DIM) == pytest.approx(math.sqrt(DIM) * dpm.l2_sensitivity(TASK, DIM))
    # one coordinate: the per-coordinate bound dim * coord_bound * cap is the smaller
    assert dpm.l1_sensitivity(TASK, 1) == 600 * 65536
    assert dpm.participant_sigma(DP, TASK, DIM) == pytest.approx(dpm.l2_sensitivity(TASK, DIM) / math.sqrt(3))


# ---------------------------------------------------------------------------------------------------- round_rho


@pytest.mark.parametrize("z", [0.5, 1.0, 4.0])
def test_one_contributor_is_the_single_discrete_gaussian(z: float) -> None:
    # Prepare
    dp = dpm.DpParams(noise_multiplier=z, delta=1e-5, threshold=1)
    sigma = dpm.participant_sigma(dp, TASK, DIM)

    # Execute
    rho = dpm.round_rho(dp, TASK, DIM)

    # Assert: D2^2 / (2 sigma^2) with sigma = z * D2, i.e. 1 / (2 z^2)
    assert rho == pytest.approx(dpm.l2_sensitivity(TASK, DIM) ** 2 / (2 * sigma**2), rel=1e-12)
    assert rho == pytest.approx(1 / (2 * z * z), rel=1e-12)


@pytest.mark.parametrize("threshold", [2, 3, 10, 50])
def test_large_sigma_costs_the_central_gaussian_whatever_the_threshold(threshold: int) -> None:
    dp = dpm.DpParams(noise_multiplier=1.5, delta=1e-5, threshold=threshold)
    assert dpm.round_rho(dp, TASK, DIM) == pytest.approx(1 / (2 * 1.5**2), rel=1e-12)


def test_small_sigma_pays_for_the_sum_not_being_a_discrete_gaussian() -> None:
    # Prepare: D2 = 1 * (0.5 + 1/2) = 1 unit (plus 2^-31), one coordinate, z = 1: sigma = 1 / sqrt(t)
    toy = qz.QuantParams(clip=0.5, scale_bits=0, weight_cap=1, max_participants=4)
    rhos = [dpm.round_rho(dpm.DpParams(1.0, 1e-5, t), toy, 1) for t in (1, 2, 3, 4)]

    # Assert: t = 1 is exact; t = 2 adds tau * m = 10 exp(-2 pi^2 (1/2)(1/2)) (Kairouz et al. 2021); the penalty
    # grows as the same total variance is split over more, smaller discrete Gaussians
    assert rhos[0] == pytest.approx(0.5, rel=1e-8)
    assert rhos[1] == pytest.approx(0.5 + 10 * math.exp(-(math.pi**2) / 2), rel=1e-6)
    assert rhos == sorted(rhos) and len(set(rhos)) == 4
    # sigma = 1/sqrt(5) < 1/2 is outside the theorem
    with pytest.raises(PrivacyParameterError, match=r"at least 0.5"):
        dpm.round_rho(dpm.DpParams(1.0, 1e-5, 5), toy, 1)


# ---------------------------------------------------------------------------------------------------- epsilon


def test_epsilon_is_zero_at_zero_rounds_and_grows_with_rounds() -> None:
    eps = [dpm.epsilon_after(DP, TASK, DIM, r) for r in (0, 1, 2, 10, 100, 1000)]
    assert eps[0] == 0.0
    assert all(a < b for a, b in itertools.pairwise(eps))


@pytest.mark.parametrize("z", [0.5, 1.0, 3.0, 30.0])
@pytest.mark.parametrize("rounds", [1, 10, 100, 1000])
def test_epsilon_is_within_the_closed_form_zcdp_conversion(z: float, rounds: int) -> None:
    # Prepare: rho-zCDP over r rounds is (r rho)-zCDP, hence (r rho + 2 sqrt(r rho ln(1/delta)), delta)-DP
    # (Bun & Steinke 2016, Proposition 1.3); the accountant's conversion is tighter, but not by much
    dp = dpm.DpParams(noise_multiplier=z, delta=1e-5, threshold=3)
    total = dpm.round_rho(dp, TASK, DIM) * rounds
    closed = total + 2 * math.sqrt(total * math.log(1 / dp.delta))

    # Execute
    eps = dpm.epsilon_after(dp, TASK, DIM, rounds)

    # Assert
    assert 0.6 * closed < eps <= closed


def test_epsilon_of_the_reference_task() -> None:
    # z = 1, delta = 1e-5, t = 3: rho = 1/2 per round; closed forms 20.17 and 97.99
    assert dpm.epsilon_after(DP, TASK, DIM, 10) == pytest.approx(19.05, abs=0.01)
    assert dpm.epsilon_after(DP, TASK, DIM, 100) == pytest.approx(96.04, abs=0.01)


@pytest.mark.parametrize("budget", [0.5, 3.0, 10.0, 50.0])
def test_max_rounds_within_is_the_last_round_inside_the_budget(budget: float) -> None:
    dp = dpm.DpParams(noise_multiplier=3.0, delta=1e-6, threshold=4)
    r = dpm.max_rounds_within(dp, TASK, DIM, budget)
    assert dpm.epsilon_after(dp, TASK, DIM, r) <= budget < dpm.epsilon_after(dp, TASK, DIM, r + 1)


def test_max_rounds_within_bounds() -> None:
    # one round already costs 4.7 at z = 1; a huge budget stops at the limit
    assert dpm.max_rounds_within(DP, TASK, DIM, 1.0) == 0
    assert dpm.max_rounds_within(DP, TASK, DIM, 1e9, limit=500) == 500
    with pytest.raises(PrivacyParameterError, match="budget"):
        dpm.max_rounds_within(DP, TASK, DIM, -1.0)
    with pytest.raises(PrivacyParameterError, match="rounds"):
        dpm.epsilon_after(DP, TASK, DIM, -1)


# ---------------------------------------------------------------------------------------------------- headroom


def test_noise_headroom_covers_the_sum_of_the_contributors_noise() -> None:
    # Prepare: 10 contributors' noise on 100k coordinates
    sigma = dpm.participant_sigma(DP, TASK, DIM)
    rng = np.random.default_rng(8)
    total = sum(dpm.sample_discrete_gaussian(sigma, 100_000, rng) for _ in range(10))

    # Execute
    bound = dpm.noise_headroom(DP, TASK, DIM, 10)

    # Assert: 12 standard deviations of the sum; none comes near it
    assert bound == math.ceil(12 * math.sqrt(10) * sigma)
    assert np.abs(total).max() < bound / 2
    assert dpm.noise_headroom(DP, TASK, DIM, 0) == 0


def test_headroom_check_refuses_at_two_to_the_31_without_noise() -> None:
    # Prepare: cap * coord_bound = 1 * 2^10, so 2^21 contributors reach exactly 2^31
    params = qz.QuantParams(clip=1.0, scale_bits=10, weight_cap=1, max_participants=1)

    # Execute / Assert
    dpm.check_headroom(None, params, 10, 2**21 - 1)
    with pytest.raises(PrivacyParameterError, match=r"2097152 participants .* 2147483648"):
        dpm.check_headroom(None, params, 10, 2**21)


def test_headroom_check_counts_the_noise() -> None:
    # Prepare: the reference task's signal for 10 contributors is 393M, far below 2^31
    signal = 10 * 600 * 65536
    assert signal < 2**31

    # Execute / Assert: z = 1 adds 864M and fits; z = 3 adds ~2.6G and does not
    dpm.check_headroom(DP, TASK, DIM, 10)
    loud = dpm.DpParams(noise_multiplier=3.0, delta=1e-5, threshold=3)
    assert signal + dpm.noise_headroom(loud, TASK, DIM, 10) >= 2**31
    with pytest.raises(PrivacyParameterError, match="noise headroom"):
        dpm.check_headroom(loud, TASK, DIM, 10)


def test_headroom_check_boundary_with_noise() -> None:
    # Prepare: find the most contributors the reference task fits with its noise; one more must be refused
    fits = [c for c in range(1, 40) if c * 600 * 65536 + dpm.noise_headroom(DP, TASK, DIM, c) < 2**31]
    last = max(fits)

    # Execute / Assert
    dpm.check_headroom(DP, TASK, DIM, last)
    with pytest.raises(PrivacyParameterError):
        dpm.check_headroom(DP, TASK, DIM, last + 1)


# ---------------------------------------------------------------------------------------------------- DpParams


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"noise_multiplier": 0.0}, "noise multiplier"),
        ({"noise_multiplier": -1.0}, "noise multiplier"),
        ({"noise_multiplier": math.nan}, "noise multiplier"),
        ({"noise_multiplier": math.inf}, "noise multiplier"),
        ({"delta": 0.0}, "delta"),
        ({"delta": 1.0}, "delta"),
        ({"delta": math.nan}, "delta"),
        ({"threshold": 0}, "threshold"),
        ({"threshold": 2.5}, "threshold"),
        ({"threshold": True}, "threshold"),
    ],
)
def test_dp_params_refuse_out_of_range_values(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"noise_multiplier": 1.0, "delta": 1e-5, "threshold": 3} | kwargs
    with pytest.raises(PrivacyParameterError, match=message):
        dpm.DpParams(**args)  # type: ignore[arg-type]

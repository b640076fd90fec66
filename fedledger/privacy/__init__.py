"""Private rounds: secure aggregation whose transcript anyone can replay (issue 17).

Participants clip, quantize and weight their updates into Z_{2^32} (``quantize``), hide them under pairwise and
self masks from X25519 agreements expanded by a ChaCha20 PRG (``masks``, ``prg``), and protect the masks' secrets
with t-of-n Shamir shares (``shamir``) sealed for each peer (``envelope``); optional distributed discrete Gaussian
noise and its privacy budget (``dp``). After the round, the survivors' self seeds and the dropped participants'
mask keys are revealed, and anyone recomputes the exact sum and the next global model (``unmask``). Bonawitz et al.
2017, "Practical Secure Aggregation for Privacy-Preserving Machine Learning" (CCS). numpy, ``cryptography`` and
(for the budget, loaded when first needed) ``dp-accounting`` only.
"""

from __future__ import annotations

from fedledger.privacy.dp import (
    DpParams,
    add_noise,
    check_headroom,
    epsilon_after,
    l1_sensitivity,
    l2_sensitivity,
    max_rounds_within,
    noise_headroom,
    noise_rng,
    participant_sigma,
    round_rho,
    sample_discrete_gaussian,
)
from fedledger.privacy.envelope import open_shares, seal_shares
from fedledger.privacy.errors import (
    KeyAgreementError,
    PrivacyError,
    PrivacyParameterError,
    SecretSharingError,
    UnmaskError,
)
from fedledger.privacy.masks import (
    KeyPair,
    RoundRef,
    generate_keypair,
    mask_update,
    new_self_seed,
    seed_commitment,
)
from fedledger.privacy.quantize import QuantParams, apply_mean, dequantize_mean, encode_update
from fedledger.privacy.shamir import Share, combine, split
from fedledger.privacy.unmask import PrivateAggregate, aggregate_private, unmask_sum

__all__ = [
    "DpParams",
    "KeyAgreementError",
    "KeyPair",
    "PrivacyError",
    "PrivacyParameterError",
    "PrivateAggregate",
    "QuantParams",
    "RoundRef",
    "SecretSharingError",
    "Share",
    "UnmaskError",
    "add_noise",
    "aggregate_private",
    "apply_mean",
    "check_headroom",
    "combine",
    "dequantize_mean",
    "encode_update",
    "epsilon_after",
    "generate_keypair",
    "l1_sensitivity",
    "l2_sensitivity",
    "mask_update",
    "max_rounds_within",
    "new_self_seed",
    "noise_headroom",
    "noise_rng",
    "open_shares",
    "participant_sigma",
    "round_rho",
    "sample_discrete_gaussian",
    "seal_shares",
    "seed_commitment",
    "split",
    "unmask_sum",
]

"""Validate before you average: one function that accepts an update or rejects it for a named reason.

Reasons (``ValidationError.reason``, members of ``fedledger.rules.reasons.Reason``), in the order they are checked:

``too_large``        more bytes than the task allows (checked before anything is hashed or parsed);
``digest_mismatch``  sha256 of the bytes (``codec.model_digest``) differs from the digest registered on-chain
                     (checked before decoding, so bytes nobody committed to are never parsed);
``malformed``        not canonical safetensors (``codec.decode`` refused them);
``names_mismatch``   tensor names differ from the base model's;
``shape_mismatch``   a tensor's shape differs from the base model's;
``non_finite``       a NaN or infinity anywhere.

The content store checks that the bytes match their CID before they get here.
"""

from __future__ import annotations

import numpy as np

from fedledger import codec
from fedledger.codec import Tensors
from fedledger.exceptions import CodecError, ValidationError
from fedledger.rules.reasons import Reason

# the reasons this module gives, in the order it checks them
REASONS = (
    Reason.TOO_LARGE,
    Reason.DIGEST_MISMATCH,
    Reason.MALFORMED,
    Reason.NAMES_MISMATCH,
    Reason.SHAPE_MISMATCH,
    Reason.NON_FINITE,
)


def validate_update(data: bytes, *, base: Tensors, expected_digest: bytes, max_bytes: int) -> Tensors:
    """Check one participant's update against the round's base model and its on-chain digest.

    Parameters
    ----------
    data:
        The update's bytes as fetched from the content store.
    base:
        The round's global model; the update must have exactly its tensor names and shapes.
    expected_digest:
        The 32-byte digest the participant registered on-chain for this update.
    max_bytes:
        Size limit for one update.

    Returns
    -------
    Tensors
        The decoded update, safe to aggregate.

    Raises
    ------
    ValidationError
        With ``reason`` one of ``REASONS`` (see the module docstring) and a human-readable ``detail``.
    """
    if len(data) > max_bytes:
        raise ValidationError(Reason.TOO_LARGE, f"update is {len(data)} bytes, the limit is {max_bytes}")
    digest = codec.model_digest(data)
    if digest != expected_digest:
        raise ValidationError(
            Reason.DIGEST_MISMATCH,
            f"bytes hash to {codec.digest_hex(digest)}, registered {codec.digest_hex(expected_digest)}",
        )
    try:
        tensors = codec.decode(data, max_bytes=max_bytes)
    except CodecError as exc:
        raise ValidationError(Reason.MALFORMED, str(exc)) from exc
    _check_layout(tensors, base)
    for name in sorted(tensors):
        bad = int(np.count_nonzero(~np.isfinite(tensors[name])))
        if bad:
            raise ValidationError(Reason.NON_FINITE, f"tensor {name!r} has {bad} NaN or infinite values")
    return tensors


def _check_layout(tensors: Tensors, base: Tensors) -> None:
    """Same tensor names and shapes as the base model, or a ValidationError saying which differ."""
    if set(tensors) != set(base):
        missing, extra = sorted(set(base) - set(tensors)), sorted(set(tensors) - set(base))
        raise ValidationError(Reason.NAMES_MISMATCH, f"missing {missing}, unexpected {extra}")
    for name in sorted(base):
        if tensors[name].shape != np.shape(base[name]):
            raise ValidationError(
                Reason.SHAPE_MISMATCH,
                f"tensor {name!r} has shape {tensors[name].shape}, expected {np.shape(base[name])}",
            )

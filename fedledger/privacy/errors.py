"""Errors of the private-round library, under fedledger's one root ``FedLedgerError``.

Each also derives from ``ValueError``: every one of them means that an input (parameters, a share, a revealed key,
a masked vector) is not what the protocol allows, never that the machine failed.
"""

from __future__ import annotations

from fedledger.exceptions import FedLedgerError


class PrivacyError(FedLedgerError, ValueError):
    """Root of the errors raised by ``fedledger.privacy``."""


class PrivacyParameterError(PrivacyError):
    """Quantization or round parameters are out of range, or could let the modular sum wrap."""


class KeyAgreementError(PrivacyError):
    """A key or seed is malformed, or a peer's public key yields no usable shared secret."""


class SecretSharingError(PrivacyError):
    """Shamir shares are too few, duplicated, malformed or inconsistent with one another."""


class UnmaskError(PrivacyError):
    """The material revealed for unmasking does not fit the round (missing, extra, both kinds, or wrong)."""

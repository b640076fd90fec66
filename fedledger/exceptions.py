"""One exception tree for fedledger: catch ``FedLedgerError`` for everything the library raises on purpose.

Subclasses also derive from the builtin they resemble, so callers that already catch ``ValueError`` or
``LookupError`` keep working. The CLI maps each to a clear message and exit code.
"""

from __future__ import annotations


class FedLedgerError(Exception):
    """Root of every error fedledger raises deliberately."""


class ConfigurationError(FedLedgerError, ValueError):
    """Settings are missing or contradictory (no RPC URL, no contract address, unknown account...)."""


class SubmissionRefusedError(FedLedgerError, ValueError):
    """A participant's update would be excluded (or refused by the contract); nothing was uploaded or sent."""


class CodecError(FedLedgerError, ValueError):
    """Bytes are not a valid canonical safetensors model or update."""


class StoreError(FedLedgerError):
    """The content store failed."""


class ContentNotFoundError(StoreError, LookupError):
    """The content store does not hold this CID (or did not deliver it before the timeout)."""


class ContentMismatchError(StoreError, ValueError):
    """Bytes returned for a CID do not hash to that CID: the store is corrupt or lying."""


class ContentTooLargeError(StoreError, ValueError):
    """The content is larger than the limit the reader set; the transfer was stopped there."""


class StoreUnavailableError(StoreError, ConnectionError):
    """The IPFS daemon cannot be reached."""


class InvalidCIDError(StoreError, ValueError):
    """Text that should be a CID is not one, or names content fedledger cannot verify (not CIDv1 sha2-256)."""


class ChainError(FedLedgerError):
    """Talking to the chain failed."""


class ChainUnavailableError(ChainError, ConnectionError):
    """The JSON-RPC endpoint cannot be reached."""


class ContractRevertError(ChainError):
    """The round contract rejected a transaction; ``error_name`` and ``args`` say which custom error."""

    def __init__(self, message: str, error_name: str = "", args: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.error_name = error_name
        self.error_args = args


class ValidationError(FedLedgerError, ValueError):
    """An update failed validation; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class NonFiniteModelError(FedLedgerError, ArithmeticError):
    """The rule's result has a NaN or infinity: no such global model is ever committed."""


class AuditError(FedLedgerError):
    """The audit could not run (as opposed to a round that failed verification)."""


class DevnetError(FedLedgerError, RuntimeError):
    """Starting, checking or stopping the local devnet failed."""

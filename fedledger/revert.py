"""Turn the round contract's custom-error reverts into ``ContractRevertError`` with a sentence a user can act on.

web3 reports a custom error as raw data (4-byte selector + ABI-encoded arguments). The selectors come from the
compiled ABI, so a new error in the contract is decoded without code changes; the templates below only make the
common ones read well, and unknown ones fall back to ``Name(arg, ...)``.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from fedledger.clock import describe
from fedledger.exceptions import ContractRevertError

_TEMPLATES: dict[str, str] = {
    "FederatedRoundsUnknownTask": "task {0} does not exist",
    "FederatedRoundsNotOwner": "{1} is not the owner of task {0}",
    "FederatedRoundsNotOwnerOrAggregator": "{1} is neither the owner nor the aggregator of task {0}",
    "FederatedRoundsNotAggregator": "{1} is not the aggregator of task {0}",
    "FederatedRoundsNotParticipant": "{1} is not a participant of task {0}",
    "FederatedRoundsAlreadyParticipant": "{1} is already a participant of task {0}",
    "FederatedRoundsInvalidParameter": "invalid parameter: {0}",
    "FederatedRoundsRoundAlreadyOpen": "round {1} of task {0} is already open",
    "FederatedRoundsNoOpenRound": "task {0} has no open round; the owner opens the first one",
    "FederatedRoundsWrongRound": "task {0} is in round {1}, not round {2} (late or early submission)",
    "FederatedRoundsDeadlinePassed": "round {1} of task {0} closed at its deadline, {when2}; submission is too late",
    "FederatedRoundsAlreadySubmitted": "{2} already submitted an update in round {1} of task {0}",
    "FederatedRoundsTooManySamples": "{1} claims {2} samples, above its cap of {3} in task {0}",
    "FederatedRoundsRoundStillRunning": (
        "round {1} of task {0} is still running until its deadline, {when2}, and not every participant has submitted"
    ),
    "FederatedRoundsQuorumNotMet": "round {1} of task {0} includes {2} updates, below the quorum of {3}",
    "FederatedRoundsBadReasons": (
        "round {1} of task {0}: {2} reason bytes given, but {3} updates were submitted (one byte each)"
    ),
    "FederatedRoundsUnknownReason": "round {1} of task {0}: a reason byte is not a known reason code",
    "FederatedRoundsQuorumReached": (
        "round {1} of task {0} reached quorum ({2} of {3}); only its aggregator may close it before the grace "
        "period ends"
    ),
    "FederatedRoundsEnoughValid": (
        "round {1} of task {0} has {2} valid updates, at least the quorum of {3}: finalize it instead"
    ),
    "FederatedRoundsTooManyParticipants": "task {0} already has the maximum of {1} participants",
}


class RevertDecoder:
    """Decode revert data against the error entries of one ABI."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for entry in abi:
            if entry.get("type") != "error":
                continue
            types = [param["type"] for param in entry.get("inputs", [])]
            selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
            self._errors[selector] = (entry["name"], types)

    def decode(self, data: str | bytes | None, fallback: str) -> ContractRevertError:
        """Build the error for revert ``data``; ``fallback`` describes the call when the data is unknown."""
        raw = _as_bytes(data)
        if raw is None or raw[:4] not in self._errors:
            return ContractRevertError(f"transaction reverted: {fallback}")
        name, types = self._errors[raw[:4]]
        args = tuple(_readable(value) for value in abi_decode(types, raw[4:]))
        template = _TEMPLATES.get(name)
        deadline = args[2] if len(args) > 2 and isinstance(args[2], int) else None
        when = {"when2": describe(deadline)} if deadline is not None and "{when2}" in (template or "") else {}
        text = template.format(*args, **when) if template else f"{name}({', '.join(map(str, args))})"
        return ContractRevertError(f"{text} [{name}]", name, args)


def revert_data(exc: BaseException) -> bytes | None:
    """Raw revert data (selector + args) from a web3 exception: nodes (the embedded chain too) give web3's
    ``ContractCustomError`` or ``ContractLogicError`` with hex ``data``, on the exception or the one it wraps."""
    for err in (exc, exc.__context__, exc.__cause__):
        if err is None:
            continue
        data = getattr(err, "data", None)
        if isinstance(data, (str, bytes)) and (found := _as_bytes(data)):
            return found
    return None


def _as_bytes(data: str | bytes | None) -> bytes | None:
    if data is None:
        return None
    if isinstance(data, bytes):
        return data
    text = data.removeprefix("0x")
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def _readable(value: object) -> object:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value

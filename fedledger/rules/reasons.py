"""The outcome of a submission: ``included`` or the reason it was left out, as one enum with its on-chain byte.

The names are what ``--json`` output, history and the audit print; the bytes are what ``finalizeRound`` /
``closeFailedRound`` / ``attestRound`` store in ``reasons`` and the contract checks. Both are public contracts
(README, "Outcomes: one reason byte per submission"): never rename a member, never renumber a code. The members
are listed in the order the protocol checks them: events, then content, then the rule.

``Reason`` is a ``StrEnum``: a member equals its name (``Reason.OUTLIER == "outlier"``) and prints and serialises
as it, so an outcome list read back from the chain (plain strings) compares with the enum directly.
"""

from __future__ import annotations

from enum import StrEnum

from fedledger.exceptions import ContentMismatchError, ContentTooLargeError, InvalidCIDError, StoreError


class Reason(StrEnum):
    """A submission's outcome; ``code`` is its byte on-chain."""

    INCLUDED = "included"
    # decided from the events alone (``fedledger.rules.outcomes.event_reasons``)
    NOT_SAMPLED = "not_sampled"
    OVER_CAP = "over_cap"
    UNCHANGED = "unchanged"
    DUPLICATE = "duplicate"
    # decided from the content: fetching (``fetch_failure``), then ``fedledger.rules.validation``
    UNAVAILABLE = "unavailable"
    TOO_LARGE = "too_large"
    CID_MISMATCH = "cid_mismatch"
    DIGEST_MISMATCH = "digest_mismatch"
    MALFORMED = "malformed"
    NAMES_MISMATCH = "names_mismatch"
    SHAPE_MISMATCH = "shape_mismatch"
    NON_FINITE = "non_finite"
    # decided by the aggregation rule
    OUTLIER = "outlier"

    @property
    def code(self) -> int:
        """The byte the chain stores for this outcome."""
        return _CODES[self]


# Never renumber: the chain stores these bytes (README's reason table; the contract's highest known code).
_CODES: dict[Reason, int] = {
    Reason.INCLUDED: 0,
    Reason.TOO_LARGE: 1,
    Reason.DIGEST_MISMATCH: 2,
    Reason.CID_MISMATCH: 3,
    Reason.UNAVAILABLE: 4,
    Reason.MALFORMED: 5,
    Reason.NAMES_MISMATCH: 6,
    Reason.SHAPE_MISMATCH: 7,
    Reason.NON_FINITE: 8,
    Reason.DUPLICATE: 9,
    Reason.UNCHANGED: 10,
    Reason.OVER_CAP: 11,
    Reason.OUTLIER: 12,
    Reason.NOT_SAMPLED: 13,
}
BY_CODE: dict[int, Reason] = {code: reason for reason, code in _CODES.items()}

# the reasons fetching content can give (``fetch_failure``); every other content reason needs the bytes
FETCH_REASONS = (Reason.UNAVAILABLE, Reason.TOO_LARGE, Reason.CID_MISMATCH)


def fetch_failure(exc: StoreError) -> Reason:
    """The outcome of an update whose content could not be fetched, from the store's error.

    The one mapping: the aggregator records it (``fedledger.fetching``) and the auditor re-derives it through the
    same fetcher, so the two can never disagree on why content was missing (a drift would read as a MISMATCH).

    ``ContentTooLargeError``: ``too_large`` (the transfer stopped at the task's limit); ``ContentMismatchError``:
    ``cid_mismatch`` (the bytes served do not have the CID's identity); ``InvalidCIDError``: ``cid_mismatch`` (the
    CID names no verifiable content); any other ``StoreError`` (not found, timeout, store down): ``unavailable``.
    """
    if isinstance(exc, ContentTooLargeError):
        return Reason.TOO_LARGE
    if isinstance(exc, (ContentMismatchError, InvalidCIDError)):
        return Reason.CID_MISMATCH
    return Reason.UNAVAILABLE

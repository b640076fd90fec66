"""How the audit reads a committee round's attestations (README, "Aggregator committees").

A committee task's round closes when ``threshold`` members of the committee in force attest the same global digest
and outcome bytes; the recorded outcome is that agreement. Every attestation is a signed claim of its member, so
the audit compares each one with the re-derived truth and names the members whose claim does not hold (dissent),
and it uses them against a recorded ``unavailable``: a member whose attestation gives submission ``i`` any other
outcome fetched its content, which proves the agreed ``unavailable`` false.
"""

from __future__ import annotations

from fedledger import codec
from fedledger.history import RoundHistory
from fedledger.inclusion import decode_outcomes
from fedledger.records import RoundAttested
from fedledger.rules.reasons import Reason


def refuted_unavailable(record: RoundHistory) -> dict[int, list[str]]:
    """Submission index -> the members that refute its recorded ``unavailable``: their attestation (committee in
    force at the close) gives it another outcome, so they fetched its content. Empty for other rounds."""
    recorded = record.outcomes if record.attested_close is not None else []
    refuted: dict[int, list[str]] = {}
    for attestation in record.current_attestations:
        claimed = decode_outcomes(attestation.reasons)
        if len(claimed) != len(recorded):
            continue
        for index, (was, theirs) in enumerate(zip(recorded, claimed, strict=True)):
            if was == Reason.UNAVAILABLE and theirs != Reason.UNAVAILABLE:
                refuted.setdefault(index, []).append(attestation.member)
    return refuted


def refutation_note(record: RoundHistory, index: int, members: list[str]) -> str:
    """The sentence of a refuted ``unavailable``: who recorded it and who proves it false."""
    claimed = {a.member: a for a in record.current_attestations}
    what = ", ".join(f"{m} attested it as {_outcome_of(claimed[m], index)}" for m in members)
    return (
        f"recorded unavailable (attested by {', '.join(record.agreeing) or 'the committee'}), but {what}: "
        "an attestation that judges the content proves its member fetched it"
    )


def dissent(
    record: RoundHistory, truth: list[str], digest: bytes | None, *, unknown: frozenset[int] = frozenset()
) -> list[str]:
    """One line per claim of an attestation that differs from the re-derived truth.

    ``truth``: the re-derived outcome of every submission; ``digest``: the re-derived global model's digest (empty:
    the rules fail the round; None: not known to this auditor); ``unknown``: indices the auditor could not judge
    (content unavailable to it), never held against a member.
    """
    lines: list[str] = []
    for attestation in record.attestations:
        lines.extend(_claims_that_differ(attestation, len(record.submissions), truth, digest, unknown))
    return lines


def _claims_that_differ(
    attestation: RoundAttested, count: int, truth: list[str], digest: bytes | None, unknown: frozenset[int]
) -> list[str]:
    member = f"member {attestation.member}"
    claimed = decode_outcomes(attestation.reasons)
    if len(claimed) != count:
        return [f"{member}: attested {len(claimed)} outcomes for {count} submissions"]
    lines = [
        f"{member}: attested {theirs} for #{index}, the rules say {rule}"
        for index, (theirs, rule) in enumerate(zip(claimed, truth, strict=True))
        if theirs != rule and index not in unknown
    ]
    if digest is not None:
        failure = not any(attestation.global_digest)
        if failure and digest:
            lines.append(
                f"{member}: attested a failure, the rules give global model {codec.digest_hex(digest)}"
            )
        elif not failure and not digest:
            lines.append(
                f"{member}: attested global model {codec.digest_hex(attestation.global_digest)}, "
                "the rules fail the round"
            )
        elif not failure and attestation.global_digest != digest:
            lines.append(
                f"{member}: attested global model {codec.digest_hex(attestation.global_digest)}, "
                f"re-derived {codec.digest_hex(digest)}"
            )
    return lines


def recorded_by(record: RoundHistory) -> str:
    """Who the recorded outcome is the claim of, for a verdict's reason ("" for a single aggregator's)."""
    if record.attested_close is None:
        return ""
    return f"the committee's outcome, attested by {', '.join(record.agreeing)}"


def _outcome_of(attestation: RoundAttested, index: int) -> str:
    outcomes = decode_outcomes(attestation.reasons)
    return outcomes[index] if index < len(outcomes) else Reason.INCLUDED

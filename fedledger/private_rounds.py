"""Re-derive a private round from its transcript: the one decision the aggregator commits and the audit re-checks.

A private round (README, "Private rounds") finalizes only when every masked upload is usable and every survivor's
seed and every dropped participant's mask key can be rebuilt from the unmask material: a masked upload left out
of the sum would leave its pairwise masks in everyone else's, and removing them would need both of its secrets,
which the protocol never reveals. So the decision is all or nothing:

* every upload usable and the secrets rebuilt: the round's global model is the de-quantized sum (every outcome
  ``included``);
* else the round cannot finalize: ``failure`` says why, and ``outcomes`` names the unusable uploads (their
  content reason) so that the aggregator can close the round as failed naming them.

The same function runs in the aggregator and in ``fedledger audit verify``; both fetch through
``fedledger.fetching``, so they judge ``unavailable`` the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fedledger import codec
from fedledger.exceptions import StoreError, ValidationError
from fedledger.history import RoundHistory, TaskHistory
from fedledger.privacy.errors import PrivacyError
from fedledger.privacy.masks import RoundRef
from fedledger.privacy.quantize import QuantParams
from fedledger.privacy.spec import PrivacySpec, parse_privacy_canonical
from fedledger.privacy.transcript import (
    Revealed,
    Roles,
    TranscriptError,
    decode_masked,
    private_global,
    read_unmask,
    recover,
    roles_of,
    sha256,
)
from fedledger.records import RoundPosting, UpdateSubmitted
from fedledger.rules.reasons import Reason

ReadUpload = Callable[[UpdateSubmitted], bytes]  # raises ValidationError(reason, detail) when it cannot
ReadPosting = Callable[[RoundPosting], bytes]  # raises ValidationError / StoreError when it cannot


@dataclass(frozen=True)
class PrivateSettings:
    """A private task's settings as its events state them."""

    spec: PrivacySpec
    threshold: int
    weight_cap: int

    def quant(self, contributors: int) -> QuantParams:
        """The task's fixed-point encoding for a round of ``contributors`` key holders."""
        return QuantParams(
            clip=self.spec.clip,
            scale_bits=self.spec.scale_bits,
            weight_cap=self.weight_cap,
            max_participants=max(1, contributors),
        )


def private_settings(history: TaskHistory) -> PrivateSettings | None:
    """The task's private settings (None for a plain task); PrivacyError when the recorded params are unusable."""
    configured = history.privacy
    if configured is None:
        return None
    spec = parse_privacy_canonical(configured.params)
    rule = history.created.strategy
    if rule != "fedavg" and not rule.startswith("fedsgd:lr="):
        raise PrivacyError(
            f"a private task sums updates: its rule must be fedavg or fedsgd:lr=X, not {rule[:60]!r}"
        )
    if history.limits.max_samples == 0:
        raise PrivacyError(
            "a private task needs a task-wide sample cap (maxSamples): weights must be bounded"
        )
    return PrivateSettings(spec, configured.threshold, history.limits.max_samples)


def round_roles(history: TaskHistory, record: RoundHistory) -> Roles:
    """The round's roles (K, K2, U, D) from its events."""
    ref = RoundRef(history.created.task_id, record.round)
    return roles_of(
        ref,
        [(k.participant, k.encryption_key, k.mask_key, k.seed_commitment) for k in record.keys],
        [s.participant for s in record.shares],
        [u.participant for u in record.submissions],
    )


@dataclass(frozen=True)
class PrivateJudgement:
    """What the transcript yields: the outcomes, the global model (when the round can finalize) and notes."""

    outcomes: list[str]
    details: dict[int, str] = field(default_factory=dict)
    data: bytes = b""  # the global model's canonical bytes; empty when the round cannot finalize
    failure: str = ""  # why the round cannot finalize ("" when it can)
    notes: list[str] = field(default_factory=list)  # false shares, material left out, unreadable postings
    survivors: int = 0
    dropped: int = 0
    total_weight: int = 0
    unfetched: bool = (
        False  # some content could not be fetched: the failure may be the reader's, not the round's
    )

    @property
    def digest(self) -> bytes:
        return codec.model_digest(self.data) if self.data else b""


def judge_private_round(
    settings: PrivateSettings,
    history: TaskHistory,
    record: RoundHistory,
    base: Mapping[str, Any],
    read_upload: ReadUpload,
    read_posting: ReadPosting,
    on_progress: Callable[[str], None] = lambda message: None,
) -> PrivateJudgement:
    """Decide a private round from its events, its masked uploads and its unmask material (README steps 3-5)."""
    roles = round_roles(history, record)
    length = sum(int(getattr(v, "size", 0)) for v in base.values())
    outcomes, details, masked = _check_uploads(record, length, read_upload)
    bad = [i for i, o in enumerate(outcomes) if o != Reason.INCLUDED]
    survivors, dropped = len(roles.survivors), len(roles.dropped)
    if bad:
        first = bad[0]
        failure = (
            f"the masked upload of {record.submissions[first].participant} (#{first}) is unusable "
            f"({outcomes[first]}: {details[first]}), so its masks cannot be removed from the sum"
        )
        unfetched = any(outcomes[i] == Reason.UNAVAILABLE for i in bad)
        return PrivateJudgement(
            outcomes, details, failure=failure, survivors=survivors, dropped=dropped, unfetched=unfetched
        )
    revealed, notes, unfetched = _read_material(roles, record, read_posting)
    on_progress(
        f"rebuilding secrets from {len(revealed)} holders' unmask material (threshold {settings.threshold})"
    )
    recovery = recover(roles, revealed, settings.threshold)
    notes += list(recovery.false_shares)
    if not recovery.complete:
        who, why = next(iter(sorted(recovery.unrecoverable.items())))
        more = len(recovery.unrecoverable) - 1
        failure = f"the secret of {who} cannot be rebuilt: {why}" + (f" (+{more} more)" if more else "")
        return PrivateJudgement(
            outcomes,
            details,
            failure=failure,
            notes=notes,
            survivors=survivors,
            dropped=dropped,
            unfetched=unfetched,
        )
    samples = {u.participant: u.num_samples for u in record.submissions}
    try:
        model, aggregate = private_global(
            base, masked, samples, roles, recovery, settings.quant(len(roles.key_set))
        )
    except PrivacyError as exc:
        failure = f"the sum cannot be unmasked: {exc}"
        return PrivateJudgement(
            outcomes, details, failure=failure, notes=notes, survivors=survivors, dropped=dropped
        )
    data = codec.encode(model)
    return PrivateJudgement(outcomes, details, data, "", notes, survivors, dropped, aggregate.total_weight)


def _check_uploads(
    record: RoundHistory, length: int, read_upload: ReadUpload
) -> tuple[list[str], dict[int, str], dict[str, Any]]:
    """Each masked upload's outcome (fetch reasons, digest, exact length) and the usable words by address."""
    outcomes: list[str] = []
    details: dict[int, str] = {}
    masked: dict[str, Any] = {}
    for i, update in enumerate(record.submissions):
        try:
            data = read_upload(update)
            if sha256(data) != update.digest:
                raise ValidationError(
                    Reason.DIGEST_MISMATCH, "its bytes do not hash to the registered digest"
                )
            try:
                words = decode_masked(data, length)
            except TranscriptError as exc:
                raise ValidationError(Reason.MALFORMED, str(exc)) from None
        except ValidationError as exc:
            outcomes.append(exc.reason)
            details[i] = exc.detail
            continue
        outcomes.append(Reason.INCLUDED)
        masked[update.participant] = words
    return outcomes, details, masked


def _read_material(
    roles: Roles, record: RoundHistory, read_posting: ReadPosting
) -> tuple[list[Revealed], list[str], bool]:
    """Every holder's unmask material in posting order; one that cannot be fetched or read is left out, noted
    (the flag: some material could not be fetched at all)."""
    revealed: list[Revealed] = []
    notes: list[str] = []
    unfetched = False
    for posting in record.unmasks:
        try:
            data = read_posting(posting)
            if sha256(data) != posting.digest:
                raise TranscriptError("its bytes do not hash to the registered digest")
            material = read_unmask(data, roles, posting.participant)
        except (PrivacyError, ValidationError, StoreError, OSError, ValueError) as exc:
            unfetched = (
                unfetched or isinstance(exc, StoreError) or getattr(exc, "reason", "") == Reason.UNAVAILABLE
            )
            notes.append(f"unmask material of {posting.participant} left out: {exc}")
            continue
        revealed.append(material)
        notes += [f"unmask material of {posting.participant}: {p}" for p in material.problems]
    return revealed, notes, unfetched

"""A private round's public transcript: who holds which role, the files posted at each step, and the recomputation
of the round's sum from them. Participants write these files, the aggregator and every auditor read them, so the
formats and rules live here once (README, "Private rounds", is their specification).

Roles, from the chain alone (the contract admits each posting only in its phase and in order):

* K, the key set: who advertised keys (``RoundKeysAdvertised``); sorted by lowercase address, holder i of K holds
  the Shamir shares at x = i + 1;
* K2: who posted a share bundle (``RoundSharesPosted``); uploads are masked against every other member of K2;
* U, the survivors: who submitted a masked upload (``UpdateSubmitted``), in submission order;
* D, the dropped: K2 without U. Step 4 reveals the self seeds of U and the mask keys of D, never both for one.

Files (all JSON ones canonical: sorted keys, no spaces, ASCII, addresses lowercase; digest = sha256 of the bytes):

* share bundle (step 2): ``{"dealer", "envelopes": {holder: hex}, "format": "fedledger/secagg-shares/1",
  "round", "task"}`` with one envelope per member of K (the dealer's own included);
* masked upload (step 3): the uint32 words, little-endian, exactly 4 × (parameter count) bytes, no header;
* unmask material (step 4): ``{"format": "fedledger/secagg-unmask/1", "holder", "key_shares": {d: hex},
  "round", "seed_shares": {u: hex}, "task"}``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fedledger.privacy.envelope import open_shares, seal_shares
from fedledger.privacy.errors import KeyAgreementError, PrivacyError, SecretSharingError
from fedledger.privacy.masks import RoundRef, canonical_address, public_key_of, seed_commitment
from fedledger.privacy.quantize import QuantParams
from fedledger.privacy.shamir import Share, combine, split
from fedledger.privacy.unmask import PrivateAggregate, aggregate_private

SHARES_FORMAT = "fedledger/secagg-shares/1"
UNMASK_FORMAT = "fedledger/secagg-unmask/1"
WORD = np.dtype("<u4")
# Most t-subsets tried per secret before it is declared unrecoverable (the first t shares, in posting order, are
# tried first; any subset that matches the owner's commitment gives the same secret, so the choice is free).
MAX_SUBSETS = 2_000
U32 = npt.NDArray[np.uint32]


class TranscriptError(PrivacyError):
    """A posted file does not follow the transcript format (the message says what and whose)."""


# ---------------------------------------------------------------------------------------------- layout


def layout_of(tensors: Mapping[str, npt.ArrayLike]) -> list[tuple[str, tuple[int, ...]]]:
    """The flat layout: tensor names in sorted (code point) order, each with its shape."""
    return [(name, tuple(np.shape(tensors[name]))) for name in sorted(tensors)]


def flatten(tensors: Mapping[str, npt.ArrayLike]) -> npt.NDArray[np.float32]:
    """Every tensor's float32 values, row-major, concatenated in sorted-name order."""
    parts = [np.asarray(tensors[name], dtype=np.float32).ravel() for name in sorted(tensors)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def unflatten(flat: npt.NDArray[np.float32], layout: Sequence[tuple[str, tuple[int, ...]]]) -> dict[str, Any]:
    """The inverse of ``flatten`` for ``layout``."""
    out: dict[str, Any] = {}
    at = 0
    for name, shape in layout:
        size = int(np.prod(shape, dtype=np.int64))
        out[name] = np.asarray(flat[at : at + size], dtype=np.float32).reshape(shape)
        at += size
    if at != len(flat):
        raise TranscriptError(f"{len(flat)} values do not fill the layout's {at}")
    return out


def encode_masked(words: U32) -> bytes:
    """A masked upload's bytes: the words, little-endian uint32, no header."""
    return np.asarray(words, dtype=np.uint32).astype(WORD).tobytes()


def decode_masked(data: bytes, length: int) -> U32:
    """The words of a masked upload that must hold ``length`` of them (else TranscriptError: ``malformed``)."""
    if len(data) != 4 * length:
        raise TranscriptError(f"a masked upload of this model is {4 * length} bytes, this one is {len(data)}")
    return np.frombuffer(data, dtype=WORD).astype(np.uint32)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _canonical_json(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _load_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise TranscriptError(f"{what} is not ASCII JSON: {str(exc)[:120]}") from None
    if not isinstance(obj, dict):
        raise TranscriptError(f"{what} is not a JSON object")
    return obj


# ---------------------------------------------------------------------------------------------- roles


@dataclass(frozen=True)
class Roles:
    """Who did what in one private round, from its events (addresses lowercase)."""

    ref: RoundRef
    key_set: tuple[str, ...]  # K, sorted
    posted_shares: tuple[str, ...]  # K2, in posting order
    survivors: tuple[str, ...]  # U, in submission order
    dropped: tuple[str, ...]  # D = K2 \ U, sorted
    encryption_keys: Mapping[str, bytes] = field(default_factory=dict)
    mask_keys: Mapping[str, bytes] = field(default_factory=dict)
    commitments: Mapping[str, bytes] = field(default_factory=dict)

    def x_of(self, holder: str) -> int:
        """The Shamir x of ``holder``: its 1-based place in the sorted key set."""
        return self.key_set.index(canonical_address(holder)) + 1

    @property
    def masking_set(self) -> dict[str, bytes]:
        """K2's mask public keys: what every upload is masked against."""
        return {a: self.mask_keys[a] for a in self.posted_shares}


def roles_of(
    ref: RoundRef,
    keys: Iterable[tuple[str, bytes, bytes, bytes]],
    shares: Iterable[str],
    submitters: Iterable[str],
) -> Roles:
    """Roles from the round's postings in chain order: ``keys`` as (participant, encryption key, mask key,
    seed commitment), ``shares`` and ``submitters`` as participants. Later repeats of one participant are ignored
    (the contract refuses them); a share poster without keys, or a submitter without shares, is left out."""
    enc: dict[str, bytes] = {}
    mask: dict[str, bytes] = {}
    commit: dict[str, bytes] = {}
    for who, e, m, c in keys:
        a = canonical_address(who)
        if a not in enc:
            enc[a], mask[a], commit[a] = e, m, c
    k2 = [a for a in dict.fromkeys(canonical_address(s) for s in shares) if a in enc]
    u = [a for a in dict.fromkeys(canonical_address(s) for s in submitters) if a in k2]
    dropped = sorted(set(k2) - set(u))
    return Roles(ref, tuple(sorted(enc)), tuple(k2), tuple(u), tuple(dropped), enc, mask, commit)


# ---------------------------------------------------------------------------------------------- step 2


def seal_bundle(
    roles: Roles, me: str, encryption_private: bytes, mask_private: bytes, seed: bytes, threshold: int
) -> bytes:
    """Step 2: split the self seed and the mask private key t-of-|K| and seal both shares of holder i for i."""
    me = canonical_address(me)
    holders = roles.key_set
    seed_shares = split(seed, threshold, len(holders))
    key_shares = split(mask_private, threshold, len(holders))
    envelopes = {
        holder: seal_shares(
            encryption_private,
            me,
            roles.encryption_keys[holder],
            holder,
            roles.ref,
            seed_shares[i],
            key_shares[i],
        ).hex()
        for i, holder in enumerate(holders)
    }
    return _canonical_json(
        {
            "dealer": me,
            "envelopes": envelopes,
            "format": SHARES_FORMAT,
            "round": roles.ref.round_id,
            "task": roles.ref.task_id,
        }
    )


def open_bundle(
    data: bytes, roles: Roles, dealer: str, me: str, encryption_private: bytes
) -> tuple[Share, Share]:
    """The (seed share, key share) that ``dealer``'s bundle holds for ``me``; TranscriptError or KeyAgreementError
    when the bundle is malformed, not addressed to ``me``, or holds shares at another x than ``me``'s."""
    dealer, me = canonical_address(dealer), canonical_address(me)
    obj = _load_json(data, f"the share bundle of {dealer}")
    if obj.get("format") != SHARES_FORMAT or obj.get("dealer") != dealer:
        raise TranscriptError(f"the share bundle of {dealer} is not a {SHARES_FORMAT} bundle dealt by it")
    if obj.get("task") != roles.ref.task_id or obj.get("round") != roles.ref.round_id:
        raise TranscriptError(f"the share bundle of {dealer} is for another task or round")
    envelopes = obj.get("envelopes")
    sealed = envelopes.get(me) if isinstance(envelopes, dict) else None
    if not isinstance(sealed, str):
        raise TranscriptError(f"the share bundle of {dealer} holds no envelope for {me}")
    try:
        raw = bytes.fromhex(sealed)
    except ValueError:
        raise TranscriptError(f"the envelope of {dealer} for {me} is not hex") from None
    seed_share, key_share = open_shares(
        encryption_private, me, roles.encryption_keys[dealer], dealer, roles.ref, raw
    )
    x = roles.x_of(me)
    if seed_share.x != x or key_share.x != x:
        raise TranscriptError(f"the envelope of {dealer} for {me} holds shares at x != {x}")
    return seed_share, key_share


# ---------------------------------------------------------------------------------------------- step 4


def unmask_material(roles: Roles, me: str, opened: Mapping[str, tuple[Share, Share]]) -> bytes:
    """Step 4: ``me``'s seed share of every survivor and key share of every dropped participant it holds
    (``opened``: dealer -> shares from its bundle). Never both kinds for one participant: the roles decide."""
    opened = {canonical_address(d): s for d, s in opened.items()}
    return _canonical_json(
        {
            "format": UNMASK_FORMAT,
            "holder": canonical_address(me),
            "key_shares": {d: opened[d][1].encode().hex() for d in roles.dropped if d in opened},
            "round": roles.ref.round_id,
            "seed_shares": {u: opened[u][0].encode().hex() for u in roles.survivors if u in opened},
            "task": roles.ref.task_id,
        }
    )


@dataclass(frozen=True)
class Revealed:
    """One holder's unmask material, as far as it is usable: shares of survivors' seeds and dropped keys."""

    holder: str
    seed_shares: Mapping[str, Share]
    key_shares: Mapping[str, Share]
    problems: tuple[str, ...] = ()  # entries left out, and why


def read_unmask(data: bytes, roles: Roles, holder: str) -> Revealed:
    """Parse ``holder``'s unmask material. Entries outside the roles (a seed share of a dropped participant, a key
    share of a survivor, anyone outside K2) and shares at another x than the holder's are left out and named;
    a file that is not unmask material at all raises TranscriptError."""
    holder = canonical_address(holder)
    obj = _load_json(data, f"the unmask material of {holder}")
    if obj.get("format") != UNMASK_FORMAT or obj.get("holder") != holder:
        raise TranscriptError(
            f"the unmask material of {holder} is not {UNMASK_FORMAT} material of that holder"
        )
    if obj.get("task") != roles.ref.task_id or obj.get("round") != roles.ref.round_id:
        raise TranscriptError(f"the unmask material of {holder} is for another task or round")
    if holder not in roles.key_set:
        raise TranscriptError(f"{holder} advertised no keys in this round, so it holds no shares")
    x = roles.x_of(holder)
    problems: list[str] = []

    def usable(kind: str, allowed: Sequence[str]) -> dict[str, Share]:
        entries = obj.get(kind)
        if not isinstance(entries, dict):
            raise TranscriptError(f"the unmask material of {holder} has no {kind} object")
        out: dict[str, Share] = {}
        for owner, text in sorted(entries.items()):
            if owner not in allowed:
                problems.append(f"{kind} entry for {str(owner)[:42]} is outside its role: left out")
                continue
            try:
                share = Share.decode(bytes.fromhex(text)) if isinstance(text, str) else None
            except (ValueError, SecretSharingError):
                share = None
            if share is None or share.x != x:
                problems.append(f"{kind} entry for {owner} is not a share at x = {x}: left out")
                continue
            out[owner] = share
        return out

    seeds = usable("seed_shares", roles.survivors)
    keys = usable("key_shares", roles.dropped)
    return Revealed(holder, seeds, keys, tuple(problems))


# ---------------------------------------------------------------------------------------------- recovery


@dataclass(frozen=True)
class Recovery:
    """The secrets step 4 made public: survivors' seeds, dropped participants' mask keys, and what failed."""

    seeds: Mapping[str, bytes]
    keys: Mapping[str, bytes]
    unrecoverable: Mapping[str, str]  # participant -> why its secret could not be rebuilt
    false_shares: tuple[str, ...] = ()  # "holder revealed a false share of X's seed/key"

    @property
    def complete(self) -> bool:
        return not self.unrecoverable


def _rebuild(
    shares: Sequence[tuple[str, Share]], threshold: int, matches: Any
) -> tuple[bytes | None, list[str]]:
    """The secret from the first t-subset (in the given order) whose combination ``matches``; and the holders
    whose share disagrees with it."""
    if len(shares) < threshold:
        return None, []
    for tried, subset in enumerate(itertools.combinations(shares, threshold)):
        if tried >= MAX_SUBSETS:
            break
        try:
            secret = combine([s for _, s in subset], threshold)
        except SecretSharingError:
            continue
        if matches(secret):
            liars = []
            for holder, share in shares:
                try:
                    combine([*(s for _, s in subset), share], threshold)
                except SecretSharingError:
                    liars.append(holder)
            return secret, liars
    return None, []


def recover(roles: Roles, revealed: Sequence[Revealed], threshold: int) -> Recovery:
    """Rebuild every survivor's seed (checked against its commitment) and every dropped participant's mask key
    (checked against its public key) from the holders' shares, taken in the order of ``revealed`` (posting
    order). Any t shares that pass the check give the same secret, so the result does not depend on the order."""
    seeds: dict[str, bytes] = {}
    keys: dict[str, bytes] = {}
    unrecoverable: dict[str, str] = {}
    false: list[str] = []
    for u in roles.survivors:
        shares = [(r.holder, r.seed_shares[u]) for r in revealed if u in r.seed_shares]
        commitment = roles.commitments[u]
        secret, liars = _rebuild(
            shares, threshold, lambda s, u=u, c=commitment: _seed_matches(s, u, c, roles)
        )
        if secret is None:
            unrecoverable[u] = _why(len(shares), threshold, "seed", "its seed commitment")
        else:
            seeds[u] = secret
            false += [f"{h} revealed a false share of {u}'s seed" for h in liars]
    for d in roles.dropped:
        shares = [(r.holder, r.key_shares[d]) for r in revealed if d in r.key_shares]
        public = roles.mask_keys[d]
        secret, liars = _rebuild(shares, threshold, lambda s, p=public: _key_matches(s, p))
        if secret is None:
            unrecoverable[d] = _why(len(shares), threshold, "mask key", "its mask public key")
        else:
            keys[d] = secret
            false += [f"{h} revealed a false share of {d}'s mask key" for h in liars]
    return Recovery(seeds, keys, unrecoverable, tuple(false))


def _why(count: int, threshold: int, what: str, check: str) -> str:
    if count < threshold:
        return f"{count} shares of its {what} were revealed, {threshold} are needed"
    return f"no {threshold} of the {count} revealed shares of its {what} rebuild one that matches {check}"


def _seed_matches(secret: bytes, owner: str, commitment: bytes, roles: Roles) -> bool:
    try:
        return seed_commitment(secret, owner, roles.ref) == commitment
    except KeyAgreementError:
        return False


def _key_matches(secret: bytes, public: bytes) -> bool:
    try:
        return public_key_of(secret) == public
    except KeyAgreementError:
        return False


# ---------------------------------------------------------------------------------------------- the sum


def private_global(
    base: Mapping[str, npt.ArrayLike],
    masked: Mapping[str, U32],
    num_samples: Mapping[str, int],
    roles: Roles,
    recovery: Recovery,
    params: QuantParams,
) -> tuple[dict[str, Any], PrivateAggregate]:
    """Step 5: the next global model (tensors in ``base``'s layout) and the exact aggregate, from the survivors'
    masked words and the recovered secrets. Raises UnmaskError when the material does not fit the roles."""
    survivors = set(roles.survivors)
    aggregate = aggregate_private(
        flatten(base),
        {canonical_address(a): w for a, w in masked.items()},
        {canonical_address(a): n for a, n in num_samples.items()},
        roles.masking_set,
        recovery.seeds,
        recovery.keys,
        roles.ref,
        params,
        {a: c for a, c in roles.commitments.items() if a in survivors},
    )
    return unflatten(aggregate.model, layout_of(base)), aggregate

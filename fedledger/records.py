"""Typed records of the round contract's state and events: what the ledger returns and the audit replays.

Field names follow the contract's event schema (snake_case); digests and reason bytes are raw ``bytes``,
addresses are checksummed strings. Every event record carries its position on the chain (block, log index) so
that histories sort the same way on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fedledger.codec import digest_hex


@dataclass(frozen=True, order=True)
class ChainPosition:
    """Where an event sits on the chain; sorting by it gives the canonical order."""

    block_number: int
    log_index: int
    tx_hash: str
    block_hash: str = field(default="", compare=False)  # which chain: the same numbers recur on a new devnet


@dataclass(frozen=True)
class TaskCreated:
    task_id: int
    owner: str
    aggregator: str
    initial_digest: bytes
    initial_cid: str
    quorum: int
    round_duration: int
    strategy: str
    at: ChainPosition


@dataclass(frozen=True)
class TaskConfigured:
    task_id: int
    max_samples: int
    max_update_bytes: int
    grace_period: int
    clients_per_round: int
    at: ChainPosition


@dataclass(frozen=True)
class AggregatorChanged:
    task_id: int
    previous: str
    aggregator: str
    at: ChainPosition


@dataclass(frozen=True)
class ParticipantChanged:
    task_id: int
    participant: str
    added: bool
    max_samples: int  # the participant's own cap when added (0: none); 0 for removals
    at: ChainPosition


@dataclass(frozen=True)
class RoundOpened:
    task_id: int
    round: int
    deadline: int
    base_digest: bytes
    seed: bytes
    at: ChainPosition


@dataclass(frozen=True)
class UpdateSubmitted:
    task_id: int
    round: int
    participant: str
    digest: bytes
    cid: str
    num_samples: int
    at: ChainPosition

    @property
    def digest_hex(self) -> str:
        return digest_hex(self.digest)


@dataclass(frozen=True)
class RoundFinalized:
    task_id: int
    round: int
    global_digest: bytes
    global_cid: str
    included_root: bytes
    num_included: int
    reasons: bytes
    at: ChainPosition


@dataclass(frozen=True)
class RoundFailed:
    task_id: int
    round: int
    closed_by: str
    reasons: bytes  # empty when closed below quorum or after the grace period
    at: ChainPosition


@dataclass(frozen=True)
class TaskPrivacyConfigured:
    """The task runs private rounds (README, "Private rounds"); ``params`` is the canonical privacy spec."""

    task_id: int
    threshold: int
    max_rounds: int  # 0: no cap
    keys_period: int
    shares_period: int
    unmask_period: int
    params: str
    at: ChainPosition


@dataclass(frozen=True)
class RoundKeysAdvertised:
    """Step 1 of a private round: a participant's X25519 public keys and its seed commitment."""

    task_id: int
    round: int
    participant: str
    encryption_key: bytes
    mask_key: bytes
    seed_commitment: bytes
    at: ChainPosition


@dataclass(frozen=True)
class RoundPosting:
    """Step 2 (``kind`` "shares": a sealed share bundle) or step 4 ("unmask": revealed shares) of a private
    round: the content's sha256 digest and CID."""

    kind: str
    task_id: int
    round: int
    participant: str
    digest: bytes
    cid: str
    at: ChainPosition


@dataclass(frozen=True)
class TaskFinished:
    """A private task spent its maxRounds rounds after ``last_round`` closed: no further round opens."""

    task_id: int
    last_round: int
    at: ChainPosition


@dataclass(frozen=True)
class RoundSeeded:
    """A sampled round's seed, drawn at first use from the hash of ``seed_block`` (README, "Sampling")."""

    task_id: int
    round: int
    seed_block: int
    seed: bytes
    at: ChainPosition


@dataclass(frozen=True)
class TaskCommitRevealConfigured:
    """The task registers updates by commit and reveal, with ``reveal_period`` seconds after each deadline."""

    task_id: int
    reveal_period: int
    at: ChainPosition


@dataclass(frozen=True)
class UpdateCommitted:
    """A participant's commitment, keccak256(abi.encode(digest, participant, salt)), for the round."""

    task_id: int
    round: int
    participant: str
    commitment: bytes
    at: ChainPosition


@dataclass(frozen=True)
class UpdateRevealed:
    """The salt that opened a participant's commitment (emitted right after its UpdateSubmitted)."""

    task_id: int
    round: int
    participant: str
    salt: bytes
    at: ChainPosition


@dataclass(frozen=True)
class CommitteeChanged:
    """The task's aggregators are ``members``; ``threshold`` of them must attest the same outcome."""

    task_id: int
    members: tuple[str, ...]
    threshold: int
    epoch: int
    at: ChainPosition


@dataclass(frozen=True)
class RoundAttested:
    """A committee member's outcome of a round (zero digest: the round fails with these reasons)."""

    task_id: int
    round: int
    member: str
    global_digest: bytes
    global_cid: str
    reasons: bytes
    at: ChainPosition


TaskEvent = (
    TaskCreated
    | TaskConfigured
    | AggregatorChanged
    | ParticipantChanged
    | RoundOpened
    | UpdateSubmitted
    | RoundFinalized
    | RoundFailed
    | TaskPrivacyConfigured
    | RoundKeysAdvertised
    | RoundPosting
    | TaskFinished
    | RoundSeeded
    | TaskCommitRevealConfigured
    | UpdateCommitted
    | UpdateRevealed
    | CommitteeChanged
    | RoundAttested
)


@dataclass(frozen=True)
class TaskLimits:
    """Limits a task was created with (see the contract's TaskLimits)."""

    max_samples: int = 0  # 0: no task-wide cap
    max_update_bytes: int = 64 * 1024 * 1024
    grace_period: int = 0
    clients_per_round: int = 0  # 0: every participant, every round


@dataclass(frozen=True)
class TaskState:
    """The contract's ``getTask`` view: the live state an actor needs before it acts."""

    task_id: int
    owner: str
    aggregator: str
    quorum: int
    round_duration: int
    round: int
    round_open: bool
    deadline: int
    submissions: int
    participant_count: int
    model_digest: bytes
    model_cid: str
    strategy: str
    limits: TaskLimits


@dataclass(frozen=True)
class ParticipantView:
    """The contract's ``participantView``: what a participant checks before it trains or submits, in one call."""

    task: TaskState
    is_participant: bool
    has_submitted: bool  # in ``task.round``
    sample_cap: int  # most samples per submission (0: no cap)
    timestamp: int  # block.timestamp as the call saw it: the contract's notion of now


@dataclass(frozen=True)
class TxResult:
    """A mined transaction: its hash, gas used and block."""

    tx_hash: str
    gas_used: int
    block_number: int


@dataclass(frozen=True)
class PrivateView:
    """The contract's ``privateView``: a private task's settings, its open round's phase state, and what one
    account posted in that round. Phases: 0 none, 1 keys, 2 shares, 3 uploads, 4 unmask, 5 closed."""

    enabled: bool
    finished: bool
    phase: (
        int  # as the chain's latest block saw it; ``fedledger.private_phase.phase_at`` recomputes it for now
    )
    threshold: int
    max_rounds: int
    expected: int
    keys: int
    shares: int
    unmasks: int
    keys_deadline: int
    shares_deadline: int
    unmask_deadline: int
    posted_keys: bool
    posted_shares: bool
    posted_unmask: bool
    timestamp: int

"""Commit and reveal (README, "Commit and reveal"): the commitment formula and the windows, as the contract has them.

A commit-reveal task registers each update in two transactions: ``commitUpdate`` with
``keccak256(abi.encode(digest, participant, salt))`` while the round is committing, then ``revealUpdate`` with the
digest, CID, sample count and salt once it is revealing. No digest is public before the reveal window, and no
commitment is accepted in it, so nobody can register another participant's digest as its own.

Windows of an open round (``deadline`` from RoundOpened, ``expected`` = the allowlist when it opened):

- committing while ``now < deadline`` and fewer than ``expected`` committed;
- revealing from then until ``deadline + reveal_period``;
- finalizable at ``deadline + reveal_period``, or earlier once the round stopped committing and every committer
  revealed; failed (below quorum, or by the aggregator naming invalid updates) only from ``deadline +
  reveal_period`` on.

A node that mines on demand answers views at its latest block's timestamp, which can be long past on an idle
chain: callers pass ``now`` from ``Ledger.next_block_time()``, the time the next block will have at least.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from eth_abi.abi import encode
from eth_utils.crypto import keccak
from web3 import Web3

from fedledger.history import RoundHistory, TaskHistory
from fedledger.records import TaskState

SALT_BYTES = 32


def commitment(digest: bytes, participant: str, salt: bytes) -> bytes:
    """keccak256(abi.encode(bytes32 digest, address participant, bytes32 salt)): three 32-byte words."""
    return keccak(
        encode(["bytes32", "address", "bytes32"], [digest, Web3.to_checksum_address(participant), salt])
    )


def new_salt() -> bytes:
    """A fresh 32-byte salt from the operating system's cryptographic generator."""
    return secrets.token_bytes(SALT_BYTES)


@dataclass(frozen=True)
class RevealWindows:
    """One open round of a commit-reveal task: its counts and deadlines, read at one time."""

    deadline: int
    reveal_period: int
    expected: int  # participants on the allowlist when the round opened
    commits: int
    reveals: int

    @property
    def reveal_end(self) -> int:
        """The end of the reveal window: from then on the round may close whoever revealed."""
        return self.deadline + self.reveal_period

    def committing(self, now: int) -> bool:
        """Whether ``commitUpdate`` is accepted at time ``now``."""
        return now < self.deadline and self.commits < self.expected

    def revealing(self, now: int) -> bool:
        """Whether ``revealUpdate`` is accepted at time ``now``."""
        return not self.committing(now) and now < self.reveal_end

    def closable(self, now: int) -> bool:
        """Whether the round may be finalized at time ``now`` (the contract's rule)."""
        return now >= self.reveal_end or (not self.committing(now) and self.reveals >= self.commits)

    def failable(self, now: int) -> bool:
        """Whether the round may be failed at time ``now``: only from the end of the reveal window on."""
        return now >= self.reveal_end


def round_windows(history: TaskHistory, task: TaskState) -> RevealWindows | None:
    """The open (or last) round's windows from the task's events; None for a task without commit and reveal."""
    if history.commit_reveal is None:
        return None
    record = next((r for r in history.rounds if r.round == task.round), RoundHistory(task.round))
    return RevealWindows(
        deadline=task.deadline,
        reveal_period=history.commit_reveal.reveal_period,
        expected=len(record.members),
        commits=len(record.commits),
        reveals=len(record.reveals),
    )

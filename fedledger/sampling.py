"""Which participants a round asks for, when a task samples clients (``TaskLimits.clientsPerRound`` > 0).

FedAvg samples a fraction C of the clients every round (McMahan et al. 2017, arXiv 1602.05629, Algorithm 1). Here
the sample must be reproducible by anyone from the chain alone, so that an auditor can confirm who was asked: the
contract emits a ``seed`` with every ``RoundOpened`` (keccak256 of the previous block hash, the task id and the
round), and the round's clients are the ``k`` members of the allowlist (as it stood when the round opened) with the
smallest ``keccak256(seed || address)``. Submissions from others are excluded as ``not_sampled``.

Contract versions before issue 18 put keccak256 of the *previous* block hash in ``RoundOpened``: known to whoever
sent the opening transaction (the aggregator's finalize), who could choose when to send it. The current contract
emits a zero seed for sampled tasks and draws it at first use from the hash of the block the round opened in
(``RoundSeeded``): ``keccak256(abi.encode(blockhash(openingBlock), taskId, round))``, which nobody knew when the
opening transaction was sent. ``round_seed`` applies that rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from eth_utils.crypto import keccak
from web3 import Web3


def sample_rank(seed: bytes, address: str) -> bytes:
    """The sort key of ``address`` in the round with ``seed``: keccak256(seed || 20-byte address)."""
    return bytes(keccak(seed + bytes.fromhex(address[2:])))


def sample_clients(seed: bytes, members: Iterable[str], k: int) -> list[str]:
    """The ``k`` members the round with ``seed`` asks for (all of them when ``k`` is 0 or at least their number).

    Returned in rank order, checksummed (addresses that already are, as events give them, are not re-hashed).
    """
    unique = tuple(sorted({m if _checksummed(m) else str(Web3.to_checksum_address(m)) for m in members}))
    return list(_ranked(seed, unique, k))


@lru_cache(maxsize=1024)
def _ranked(seed: bytes, unique: tuple[str, ...], k: int) -> tuple[str, ...]:
    """The ranking itself, remembered: a task's history is rebuilt from its events on every read, and ranking is
    one keccak per member per round (100 members x every past round, on each read)."""
    ranked = sorted(unique, key=lambda address: sample_rank(seed, address))
    return tuple(ranked if k <= 0 or k >= len(ranked) else ranked[:k])


def _checksummed(address: str) -> bool:
    """Cheap test: mixed case means web3 checksummed it (every event address is); else checksum it."""
    body = address[2:]
    return len(body) == 40 and body != body.lower() and body != body.upper()


def drawn_seed(opening_block_hash: bytes, task_id: int, round_: int) -> bytes:
    """The seed the contract draws for a sampled round from the hash of the block it opened in:
    keccak256(abi.encode(blockhash, taskId, round)) (three 32-byte words)."""
    return bytes(keccak(opening_block_hash + task_id.to_bytes(32, "big") + round_.to_bytes(32, "big")))

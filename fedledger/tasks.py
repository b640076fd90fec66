"""Setting up a task: create it, configure it, add its participants and open its first round.

Every face that starts a federation (the CLI's `task create`, the demo, the attack study, the Flower adapter) and the
test and benchmark federations do the same few transactions in the same order; the order matters, because the
contract accepts a committee, privacy and commit-reveal only before the first round opens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fedledger import codec
from fedledger.ledger import Ledger, Signer
from fedledger.privacy.accounting import PrivateTask
from fedledger.records import TaskLimits, TxResult
from fedledger.store import ContentStore


@dataclass(frozen=True)
class Committee:
    """Aggregators of whom ``threshold`` must attest the same outcome for a round to close."""

    members: Sequence[str]
    threshold: int


@dataclass(frozen=True)
class NewTask:
    """A task just set up: its id, where its initial model lies, and the creating transaction."""

    task_id: int
    initial_cid: str
    create_tx: TxResult


def launch_task(
    ledger: Ledger,
    owner: Signer,
    store: ContentStore,
    initial: bytes,
    *,
    participants: Sequence[str],
    quorum: int,
    round_duration: int,
    strategy: str,
    limits: TaskLimits | None = None,
    aggregator: str | None = None,
    max_samples: Sequence[int] | None = None,
    committee: Committee | None = None,
    privacy: PrivateTask | None = None,
    reveal_period: int | None = None,
    open_round: bool = True,
) -> NewTask:
    """Create a task owned by ``owner``, configure it, add ``participants`` and open round 1.

    Parameters
    ----------
    initial:
        The initial model's canonical bytes (``codec.encode``); stored in ``store``, its digest goes on chain.
    participants, max_samples:
        The participants' addresses and their sample caps (default 0: the task's cap), added in batches.
    aggregator:
        Who closes rounds (default: the owner). A committee task records its first member.
    committee, privacy, reveal_period:
        Optional settings, applied right after creation (before any participant or round, as the contract
        requires). The privacy weight cap is the task's ``limits.max_samples``, not ``privacy.weight_cap``.
    open_round:
        False leaves the task created but with no round open (`task create --no-open`).

    Returns
    -------
    The task's id, its initial model's CID and the ``createTask`` transaction.
    """
    if committee is not None and aggregator is None:
        aggregator = committee.members[0]
    initial_cid = store.put(initial)
    task_id, create_tx = ledger.create_task(
        owner,
        aggregator=aggregator or owner.address,
        initial_digest=codec.model_digest(initial),
        initial_cid=initial_cid,
        quorum=quorum,
        round_duration=round_duration,
        strategy=strategy,
        limits=limits,
    )
    if committee is not None:  # first: no round may close by a single aggregator
        ledger.set_committee(owner, task_id, committee.members, committee.threshold)
    if privacy is not None:
        ledger.configure_privacy(
            owner,
            task_id,
            threshold=privacy.threshold,
            max_rounds=privacy.max_rounds,
            keys_period=privacy.keys_period,
            shares_period=privacy.shares_period,
            unmask_period=privacy.unmask_period,
            params=privacy.spec.canonical,
        )
    if reveal_period is not None:
        ledger.configure_commit_reveal(owner, task_id, reveal_period)
    if participants:
        ledger.add_participants(owner, task_id, participants, max_samples=max_samples)
    if open_round:
        ledger.open_round(owner, task_id)
    return NewTask(task_id, initial_cid, create_tx)

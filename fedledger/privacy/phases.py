"""The phase of a private round at a given time, computed as the contract computes it.

A node that mines on demand (anvil, Hardhat) answers views at its latest block's timestamp, which can be long
past on an idle chain; a participant waiting for a phase to end by its deadline must judge with the wall clock.
``phase_at`` replays the contract's ``_phase`` on the counts and deadlines of ``privateView`` at any ``now``.
"""

from __future__ import annotations

from fedledger.records import PrivateView, TaskState

NONE, KEYS, SHARES, UPLOADS, UNMASK, CLOSED = range(6)
# Seconds past a deadline before the wall clock alone ends a phase: a block stamped just before the deadline can
# still be published just after it, and every participant and the aggregator must read the same postings.
SETTLE = 3
PHASE_NAMES = {
    NONE: "none",
    KEYS: "keys",
    SHARES: "shares",
    UPLOADS: "uploads",
    UNMASK: "unmask",
    CLOSED: "closed",
}


def phase_at(view: PrivateView, task: TaskState, now: float) -> int:
    """The round's phase at time ``now`` (never earlier than the view's own block time): the contract's rule."""
    if not view.enabled or view.finished or task.round == 0:
        return NONE
    at = max(int(now), view.timestamp)
    if at < view.keys_deadline and view.keys < view.expected:
        return KEYS
    if at < view.shares_deadline and view.shares < view.keys:
        return SHARES
    if at < task.deadline and task.submissions < view.shares:
        return UPLOADS
    if at < view.unmask_deadline and view.unmasks < task.submissions:
        return UNMASK
    return CLOSED


def phase_end(view: PrivateView, task: TaskState, phase: int) -> int:
    """The deadline of ``phase`` (the time it ends at the latest)."""
    return {
        KEYS: view.keys_deadline,
        SHARES: view.shares_deadline,
        UPLOADS: task.deadline,
        UNMASK: view.unmask_deadline,
    }.get(phase, 0)

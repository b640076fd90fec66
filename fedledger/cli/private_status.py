"""`task show` for a private task: the round's phase now, what each phase got, its deadlines, and epsilon spent."""

from __future__ import annotations

import time
from typing import Any

from fedledger.clock import describe
from fedledger.ledger import Ledger
from fedledger.privacy.accounting import PrivateTask, read_private_task
from fedledger.privacy.phases import PHASE_NAMES, phase_at, phase_end
from fedledger.records import TaskPrivacyConfigured, TaskState

NOBODY = "0x" + "00" * 20  # privateView's per-account fields are not wanted here


def private_status(ledger: Ledger, state: TaskState, now: float | None = None) -> dict[str, Any] | None:
    """The "privacy" object of `task show --json` (None for a task without private rounds)."""
    view = ledger.private_view(state.task_id, NOBODY)
    if not view.enabled:
        return None
    event = next((e for e in ledger.task_events(state.task_id) if isinstance(e, TaskPrivacyConfigured)), None)
    task = read_private_task(event, state.limits.max_samples) if event else "no TaskPrivacyConfigured event"
    phase = phase_at(view, state, time.time() if now is None else now)
    usable = isinstance(task, PrivateTask)
    dp = task if isinstance(task, PrivateTask) and task.spec.dp else None  # epsilon is accounted
    return {
        "params": event.params if event else None,
        "usable": usable,
        "error": None if usable else task,
        "threshold": view.threshold,
        "max_rounds": view.max_rounds,
        "finished": view.finished,
        "phase": PHASE_NAMES[phase],
        "phase_deadline": phase_end(view, state, phase) or None,
        "expected": view.expected,
        "keys": view.keys,
        "shares": view.shares,
        "uploads": state.submissions,
        "unmasks": view.unmasks,
        "keys_deadline": view.keys_deadline or None,
        "shares_deadline": view.shares_deadline or None,
        "uploads_deadline": state.deadline or None,
        "unmask_deadline": view.unmask_deadline or None,
        "epsilon_spent": dp.epsilon_after(state.round) if dp else None,  # every opened round is charged
        "epsilon_budget": (dp.spec.budget or None) if dp else None,
        "delta": dp.spec.delta if dp else None,
    }


def private_rows(status: dict[str, Any]) -> list[list[object]]:
    """The rows `task show` adds for a private task."""
    rows: list[list[object]] = [
        ["privacy", status["params"] if status["usable"] else f"unusable: {status['error']}"],
        ["threshold", status["threshold"]],
        ["max rounds", status["max_rounds"] or "no cap"],
        ["phase", status["phase"] + (" (task finished)" if status["finished"] else "")],
    ]
    if status["phase_deadline"]:
        rows.append(["phase ends", describe(status["phase_deadline"])])
    posted = (
        f"{status['keys']} of {status['expected']} keys, {status['shares']} of {status['keys']} shares, "
        f"{status['uploads']} of {status['shares']} uploads, {status['unmasks']} of {status['uploads']} unmasks"
    )
    rows.append(["posted", posted])
    for name in ("keys", "shares", "uploads", "unmask"):
        deadline = status[f"{name}_deadline"]
        rows.append([f"{name} deadline", describe(deadline) if deadline else "-"])
    if status["epsilon_spent"] is not None:
        budget = f" of budget {status['epsilon_budget']:.3g}" if status["epsilon_budget"] else " (no budget)"
        rows.append(["ε spent", f"{status['epsilon_spent']:.3g}{budget} at δ={status['delta']!r}"])
    return rows

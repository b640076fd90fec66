"""Chain timestamps as people read them: a UTC date and how far away it is."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def span(seconds: int) -> str:
    """``3725`` -> ``'1 h 2 min'``: the largest unit and the next one when it is not zero, enough to plan by."""
    seconds = abs(int(seconds))
    units = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))
    for i, (name, size) in enumerate(units):
        if seconds >= size or name == "s":
            text = f"{seconds // size} {name}"
            if i + 1 < len(units):
                next_name, next_size = units[i + 1]
                rest = seconds % size // next_size
                if rest:
                    text += f" {rest} {next_name}"
            return text
    raise AssertionError("unreachable")


def describe(epoch: int, now: float | None = None) -> str:
    """``'2026-12-03 08:15:02 UTC (in 9 min 58 s)'`` or ``'… (4 s ago)'``; the epoch itself is in --json."""
    now = time.time() if now is None else now
    stamp = datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    delta = int(epoch - now)
    if delta == 0:
        return f"{stamp} (now)"
    return f"{stamp} (in {span(delta)})" if delta > 0 else f"{stamp} ({span(delta)} ago)"

"""How many threads torch may use, chosen on purpose rather than left to torch's default.

torch's default intra-op pool has one thread per core. For models as small as fedledger's MLPs each operation
is microseconds long, and the pool's threads spin and wait on each other: whenever another process holds a core,
every operation stalls on the thread that lost it (one thread against torch's default, side by side, idle and
with a core taken: BENCHMARKS.md, Torch threads, `benchmarks/threads.py`). One thread is the default; on a
dedicated many-core machine ``FEDLEDGER_TORCH_THREADS`` raises it without code changes.
"""

from __future__ import annotations

import os

from fedledger.exceptions import ConfigurationError

THREADS_ENV = "FEDLEDGER_TORCH_THREADS"


def configure_torch_threads(default: int = 1) -> int:
    """Set torch's intra-op thread count to ``$FEDLEDGER_TORCH_THREADS`` if set, else ``default``.

    Parameters
    ----------
    default:
        Threads to use when the environment variable is unset or empty (1 suits the small MLPs).

    Returns
    -------
    int
        The thread count now in effect.

    Raises
    ------
    ConfigurationError
        If the variable (or ``default``) is not a positive integer.
    """
    import torch

    raw = os.environ.get(THREADS_ENV, "").strip()
    threads = _positive_int(raw, f"${THREADS_ENV}") if raw else default
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigurationError(f"torch thread count must be a positive integer, got {threads!r}")
    torch.set_num_threads(threads)
    return threads


def _positive_int(text: str, source: str) -> int:
    """``text`` as an integer >= 1, or a ConfigurationError naming ``source``."""
    try:
        value = int(text)
    except ValueError:
        raise ConfigurationError(f"{source} must be a positive integer, got {text!r}") from None
    if value < 1:
        raise ConfigurationError(f"{source} must be a positive integer, got {text!r}")
    return value

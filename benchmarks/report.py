"""BENCHMARKS.md is made of sections, each rewritten by the benchmark that measures it.

A section lives between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``; a benchmark replaces its own section
and leaves the others as they are, so the long runs (MNIST, attacks) need not be repeated to refresh the quick ones.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# $FEDLEDGER_BENCHMARKS_OUT redirects the sections (the smoke tests of the scripts write to a scratch file)
OUT = Path(
    os.environ.get("FEDLEDGER_BENCHMARKS_OUT") or Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
)
HEADER = "# Benchmarks\n\nEach section says how it was measured and the command that rewrites it.\n"


def machine() -> str:
    """One line describing where the numbers come from."""
    cores = os.cpu_count()
    return f"{platform.machine()}, {cores} cores, Python {platform.python_version()}, {dt.date.today().isoformat()}"


def table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, body: str, path: Path = OUT) -> None:
    """Replace section ``name`` of BENCHMARKS.md with ``body`` (appending it when new)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else HEADER
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


class Stopwatch:
    """Seconds per named part of a run, summed: ``with watch("name"):`` or ``watch.wrap("name", fn)``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self(name):
                return fn(*args, **kwargs)

        return timed

"""How commands talk: rich tables and progress for people (on stderr for progress), JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Logs, files and pipes get no wrapping at all: a CID or digest cut in two cannot be copied, and scripts read lines.
UNWRAPPED = 100_000
out = Console(highlight=False)
if not out.is_terminal:
    out = Console(highlight=False, width=UNWRAPPED)
err = Console(stderr=True, highlight=False)
if not err.is_terminal:
    err = Console(stderr=True, highlight=False, width=UNWRAPPED)

json_mode = False  # set by the --json option of the running command (fedledger.cli.options.JsonOpt)


def warn(message: str) -> None:
    """One yellow ``warning:`` line on stderr, never wrapped: something was skipped, the command still succeeds."""
    err.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)


def error_line(message: str) -> None:
    """One red ``error:`` line on stderr, never wrapped (scripts read the last line of stderr)."""
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)


def emit_json(payload: Any) -> None:
    """Print one JSON document on stdout (and nothing else on stdout)."""
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A titled table; the title is its own line (a table title would wrap at the table's width, cutting addresses)."""
    out.print(title, markup=False, soft_wrap=True, style="italic")
    grid = Table()
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*(escape(cell_text(cell)) for cell in row))
    out.print(grid)


def cell_text(value: object) -> str:
    """A value as people read it in a table: no Python reprs (``None``, ``True``, ``{'k': v}``)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k} {cell_text(v)}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(cell_text(v) for v in value) or "-"
    return str(value)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``plural(1, 'task')`` -> ``'1 task'``; ``plural(2, 'task')`` -> ``'2 tasks'``."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


@contextmanager
def progress(enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """Yield a callback that shows the latest step on a stderr spinner (silent when disabled, e.g. --json)."""
    if not enabled or not err.is_terminal:
        yield (lambda message: err.print(f"… {escape(message)}") if enabled else None)
        return
    with err.status("starting") as status:
        yield lambda message: status.update(escape(message))


def short(digest_or_text: str, keep: int = 12) -> str:
    """Shorten a long hex digest or CID for tables (full values are in --json)."""
    return digest_or_text if len(digest_or_text) <= keep + 3 else digest_or_text[:keep] + "…"


def say(text: str) -> None:
    """Print a line for people, literally (no rich markup: CIDs, reasons and paths may contain brackets)."""
    out.print(text, markup=False, soft_wrap=True)

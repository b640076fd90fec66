"""Fetch a round's updates in parallel under one round-level time budget, with bounded memory.

Sequential fetching cost the aggregator a full timeout per missing CID: a round with 250 unavailable updates took
about two hours. Here every update is requested at once by a small pool of workers; each fetch stops at the
task's byte limit and at the round's deadline, whichever comes first, and what has not arrived by then is
``unavailable``. Fetched bytes go to a spool file at once, so memory holds at most ``workers`` updates in flight
(``workers`` shrinks for large limits: at most about ``memory_budget`` bytes in flight).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from fedledger.exceptions import (
    ContentMismatchError,
    ContentTooLargeError,
    InvalidCIDError,
    StoreError,
    ValidationError,
)
from fedledger.records import UpdateSubmitted
from fedledger.store import ContentStore

DEFAULT_BUDGET = 60.0
MAX_WORKERS = 8
MEMORY_BUDGET = 1 << 30


@dataclass(frozen=True)
class Fetched:
    """Where an update's bytes were spooled, or why they could not be fetched (a reason code and a sentence)."""

    path: Path | None
    reason: str = ""
    detail: str = ""

    def read(self) -> bytes:
        """The spooled bytes, or ``ValidationError`` with the fetch's reason."""
        if self.path is None:
            raise ValidationError(self.reason, self.detail)
        return self.path.read_bytes()


class RoundFetcher:
    """Fetches one round's updates into a spool directory; use as a context manager (the spool is removed)."""

    def __init__(
        self,
        store: ContentStore,
        *,
        max_bytes: int,
        budget: float = DEFAULT_BUDGET,
        workers: int | None = None,
    ) -> None:
        self.store, self.max_bytes, self.budget = store, max_bytes, budget
        self.workers = workers or max(1, min(MAX_WORKERS, MEMORY_BUDGET // max(1, max_bytes)))
        self._spool = tempfile.TemporaryDirectory(prefix="fedledger-round-")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._spool.cleanup()

    def fetch_all(self, updates: Sequence[UpdateSubmitted]) -> dict[str, Fetched]:
        """CID -> what became of it; every distinct CID is fetched once, all of them within ``budget`` seconds."""
        deadline = time.monotonic() + self.budget
        cids = sorted({u.cid for u in updates})
        results: dict[str, Fetched] = {}
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="fetch")
        try:
            futures: dict[Future[Fetched], str] = {
                pool.submit(self._fetch, cid, deadline): cid for cid in cids
            }
            pending = set(futures)
            while pending and time.monotonic() < deadline:
                done, pending = wait(
                    pending, timeout=deadline - time.monotonic(), return_when=FIRST_COMPLETED
                )
                for future in done:
                    results[futures[future]] = future.result()
            for future in pending:
                future.cancel()
                results[futures[future]] = Fetched(
                    None, "unavailable", f"not delivered within the round's {self.budget:g} s fetch budget"
                )
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return results

    def _fetch(self, cid: str, deadline: float) -> Fetched:
        left = deadline - time.monotonic()
        if left <= 0:
            return Fetched(
                None, "unavailable", f"not fetched within the round's {self.budget:g} s fetch budget"
            )
        try:
            data = self.store.get(cid, timeout=left, max_bytes=self.max_bytes)
        except ContentTooLargeError as exc:
            return Fetched(None, "too_large", str(exc))
        except (ContentMismatchError, InvalidCIDError) as exc:  # InvalidCIDError: names no verifiable content
            return Fetched(None, "cid_mismatch", str(exc))
        except StoreError as exc:
            return Fetched(None, "unavailable", str(exc))
        path = Path(self._spool.name) / cid
        path.write_bytes(data)
        return Fetched(path)

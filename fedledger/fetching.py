"""Fetch a round's updates in parallel, each within its own time window, with bounded memory.

Both the aggregator and the auditor fetch a round's content through this one module, and a failed fetch gets its
reason from one function (``fedledger.rules.reasons.fetch_failure``), so the two decide ``unavailable``,
``too_large`` and ``cid_mismatch`` the same way.

Fairness is the point. A pool shared under one round-wide deadline let a participant starve the round: CIDs that
never resolve held every worker until the deadline, and every honest update was recorded ``unavailable``. Here
each update gets its own window of ``per_update`` seconds from the moment a worker takes it up, in the order the
caller gives (chain order for the aggregator, what the verdict needs first for the auditor), so whatever others
register, every update is given its full window. The bound, stated: fetching ``n`` distinct CIDs takes at most
``ceil(n / workers) * per_update`` seconds; junk CIDs only delay the round, they never push an honest update out.
An optional overall ``budget`` (the auditor's) caps that: what has not been taken up by then is reported as not
fetched. Fetched bytes go to a spool file at once; memory holds at most ``workers`` updates in flight (``workers``
shrinks for large limits: at most about ``MEMORY_BUDGET`` bytes in flight).
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from fedledger.exceptions import StoreError, ValidationError
from fedledger.records import UpdateSubmitted
from fedledger.rules.reasons import Reason, fetch_failure
from fedledger.store import ContentStore

DEFAULT_PER_UPDATE = 30.0
MAX_WORKERS = 8
MEMORY_BUDGET = 1 << 30


@dataclass(frozen=True)
class Fetched:
    """Where an update's bytes were spooled, or why they could not be fetched (a reason and a sentence)."""

    path: Path | None
    reason: Reason | None = None  # one of ``fedledger.rules.reasons.FETCH_REASONS`` when ``path`` is None
    detail: str = ""
    out_of_budget: bool = False  # the budget decided, not the store: never taken up, or its window cut

    def read(self) -> bytes:
        """The spooled bytes, or ``ValidationError`` with the fetch's reason."""
        if self.path is None:
            raise ValidationError(self.reason or Reason.UNAVAILABLE, self.detail)
        return self.path.read_bytes()


class RoundFetcher:
    """Fetches one round's updates into a spool directory; use as a context manager (the spool is removed)."""

    def __init__(
        self,
        store: ContentStore,
        *,
        max_bytes: int,
        per_update: float = DEFAULT_PER_UPDATE,
        budget: float | None = None,
        workers: int | None = None,
    ) -> None:
        self.store, self.max_bytes, self.per_update, self.budget = store, max_bytes, per_update, budget
        self.workers = workers or max(1, min(MAX_WORKERS, MEMORY_BUDGET // max(1, max_bytes)))
        self._spool = tempfile.TemporaryDirectory(prefix="fedledger-round-")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._spool.cleanup()

    def bound(self, count: int) -> float:
        """The most seconds fetching ``count`` distinct CIDs can take (the budget, when it is smaller)."""
        worst = math.ceil(count / self.workers) * self.per_update
        return worst if self.budget is None else min(worst, self.budget)

    def fetch_all(self, updates: Sequence[UpdateSubmitted]) -> dict[str, Fetched]:
        """CID -> what became of it; each distinct CID once, in the order of ``updates``, each in its own window."""
        return self.fetch_cids([u.cid for u in updates])

    def fetch_cids(self, wanted: Sequence[str]) -> dict[str, Fetched]:
        """``fetch_all`` for bare CIDs (a global model, say), in the order given."""
        cids = list(dict.fromkeys(wanted))
        stop = None if self.budget is None else time.monotonic() + self.budget
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="fetch")
        try:
            futures = [(cid, pool.submit(self._fetch, cid, stop)) for cid in cids]
            return {cid: future.result() for cid, future in futures}
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _fetch(self, cid: str, stop: float | None) -> Fetched:
        window, cut = self.per_update, False
        if stop is not None:
            window = min(window, stop - time.monotonic())
            cut = window < self.per_update
            if window <= 0:
                detail = f"not fetched: the {self.budget:g} s budget ran out first"
                return Fetched(None, Reason.UNAVAILABLE, detail, out_of_budget=True)
        try:
            data = self.store.get(cid, timeout=window, max_bytes=self.max_bytes)
        except StoreError as exc:  # the one mapping from a fetch failure to its reason
            reason = fetch_failure(exc)
            return Fetched(None, reason, str(exc), out_of_budget=cut and reason == Reason.UNAVAILABLE)
        path = Path(self._spool.name) / hashlib.sha256(cid.encode()).hexdigest()  # a CID is untrusted text
        path.write_bytes(data)
        return Fetched(path)

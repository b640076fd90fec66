"""Fetching is fair: CIDs that never resolve cannot starve a round's honest updates (issue: one Sybil, 1 GiB limit)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from federation import Federation, model

from aggregator.coordinator import Coordinator
from fedledger import codec
from fedledger.audit import verify_task
from fedledger.cid import compute_cid
from fedledger.exceptions import ContentNotFoundError
from fedledger.fetching import RoundFetcher
from fedledger.history import task_history
from fedledger.records import ChainPosition, TaskLimits, UpdateSubmitted
from fedledger.store import LocalStore


class BlackHoleStore(LocalStore):
    """A local store whose missing CIDs hang for the whole timeout, like a Kubo node searching the network."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.busy = 0
        self.most_busy = 0
        self._lock = threading.Lock()

    def get(self, cid: str, *, timeout: float | None = None, max_bytes: int | None = None) -> bytes:
        if self.has(cid):
            return super().get(cid, timeout=timeout, max_bytes=max_bytes)
        with self._lock:
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
        time.sleep(timeout or 0.0)
        with self._lock:
            self.busy -= 1
        raise ContentNotFoundError(f"{cid}: not found within {timeout} s")


def _update(index: int, cid: str) -> UpdateSubmitted:
    return UpdateSubmitted(1, 1, f"0x{index:040x}", b"\0" * 32, cid, 1, ChainPosition(1, index, "0x"))


def _sybil_round(tmp_path: Path) -> Federation:
    """6 Sybil accounts register CIDs nobody serves (on a store where missing CIDs hang) before 3 honest
    participants submit; the coordinator gives each update 0.2 s."""
    fed = Federation(tmp_path, participants=9, quorum=3, limits=TaskLimits(grace_period=3600))
    fed.store = BlackHoleStore(tmp_path / "slow")
    fed.coordinator = Coordinator(fed.ledger, fed.store, fed.owner, fetch_timeout=0.2)
    fed.store.put(fed.initial)
    for sybil in range(6):
        fed.submit(sybil, codec.encode(model(100.0 + sybil)), cid=compute_cid(f"junk {sybil}".encode()))
    for who in range(6, 9):
        fed.submit(who, codec.encode(model(float(who))))
    return fed


def test_junk_cids_registered_first_cannot_starve_the_honest_ones(tmp_path: Path) -> None:
    # Prepare: 8 CIDs nobody serves, chosen to come first, then 3 honest updates; one worker (a 1 GiB limit)
    store = BlackHoleStore(tmp_path)
    honest = [store.put(codec.encode(model(float(i)))) for i in range(3)]
    junk = [compute_cid(f"never uploaded {i}".encode()) for i in range(8)]
    updates = [_update(i, cid) for i, cid in enumerate(junk + honest)]

    # Execute
    with RoundFetcher(store, max_bytes=1 << 30, per_update=0.2) as fetcher:
        fetched = fetcher.fetch_all(updates)
        bound = fetcher.bound(len(updates))

    # Assert: every honest update arrived; the junk is unavailable; the stated bound holds
    assert fetcher.workers == 1 and bound == 11 * 0.2
    assert all(fetched[cid].path is not None for cid in honest)
    assert all(fetched[cid].reason == "unavailable" for cid in junk)


def test_an_overall_budget_reports_what_was_not_taken_up(tmp_path: Path) -> None:
    store = BlackHoleStore(tmp_path)
    junk = [compute_cid(f"never uploaded {i}".encode()) for i in range(6)]

    started = time.monotonic()
    with RoundFetcher(store, max_bytes=1 << 20, per_update=0.3, budget=0.5, workers=2) as fetcher:
        fetched = fetcher.fetch_all([_update(i, cid) for i, cid in enumerate(junk)])

    assert time.monotonic() - started < 2.0
    assert any("budget ran out" in f.detail for f in fetched.values())
    assert store.most_busy <= 2


def test_a_round_with_sybils_registering_junk_first_still_finalizes_on_the_honest_updates(
    tmp_path: Path,
) -> None:
    # Prepare: 6 Sybil accounts register CIDs nobody serves before 3 honest participants submit
    fed = _sybil_round(tmp_path)

    # Execute
    outcome = fed.coordinator.close_round(fed.task)

    # Assert
    assert not outcome.failed and len(outcome.included) == 3
    assert sorted({e.reason for e in outcome.excluded}) == ["unavailable"]


def test_an_audit_of_many_cids_recorded_unavailable_keeps_to_its_budget_and_says_ok(tmp_path: Path) -> None:
    # Prepare: 6 Sybils register CIDs nobody serves; recorded unavailable, the honest 3 included
    fed = _sybil_round(tmp_path)
    fed.coordinator.close_round(fed.task)

    # Execute: each CID would get 30 s (3 minutes one after another); the round's budget is half a second
    verdicts = verify_task(task_history(fed.ledger, fed.task), fed.store, fetch_budget=0.5)

    # Assert: the needed content came first and the verdict holds; the junk is noted, not waited for
    round_1 = verdicts[0]
    assert round_1.verdict == "OK", round_1.reason
    assert len(round_1.notes) == 6
    assert all("not re-checked within the audit's budget" in note for note in round_1.notes)
    assert [c.status for c in round_1.submissions if c.recorded == "included"] == ["ok"] * 3

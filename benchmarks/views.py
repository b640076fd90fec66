"""Round trips a participant and an owner save with participantView and addParticipants, before and after.

Pre-checks: what `node submit` reads before it trains, for each participant of an open round. Before = the five
reads it made until participantView existed (getTask, isParticipant, hasSubmitted, sampleCap and the latest
block's timestamp); after = ``check_can_submit``, which reads one ``participantView``. Adding participants:
``addParticipant`` once per account, against ``Ledger.add_participants`` (``addParticipants`` in batches of
``ADD_BATCH``), each on a fresh task of the same contract. Both sides run in the same process, interleaved.

Embedded = the pyrevm chain in this process; devnet = anvil over JSON-RPC (`fedledger devnet up`, started here
on free ports and stopped at the end).

`python benchmarks/views.py [--participants N] [--accounts N] [--repeat R] [--no-devnet]`; rewrites the `views`
section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from report import machine, table, write_section  # type: ignore[import-not-found]

from fedledger.ledger import ADD_BATCH, EMBEDDED, Ledger, Signer, connect
from fedledger.records import TaskLimits
from fl_node.submit import check_can_submit


def old_pre_checks(ledger: Ledger, task_id: int, account: str, num_samples: int) -> None:
    """The five reads ``check_can_submit`` made before participantView (its checks, in its order)."""
    task = ledger.get_task(task_id)
    assert ledger.is_participant(task_id, account) and task.round_open
    assert ledger.next_block_time() < task.deadline
    assert not ledger.has_submitted(task_id, task.round, account)
    cap = ledger.sample_cap(task_id, account)
    assert not cap or num_samples <= cap


def new_task(ledger: Ledger, owner: Signer) -> int:
    task, _ = ledger.create_task(
        owner,
        aggregator=owner.address,
        initial_digest=b"\x01" * 32,
        initial_cid="bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        quorum=1,
        round_duration=10**6,
        strategy="fedavg",
        limits=TaskLimits(),
    )
    return task


def counting_calls(ledger: Ledger, fn: Callable[[], Any]) -> int:
    """How many requests to the node ``fn`` makes through the ledger."""
    calls = 0
    real = ledger._call

    def counted(thunk: Callable[[], Any]) -> Any:
        nonlocal calls
        calls += 1
        return real(thunk)

    ledger._call = counted  # type: ignore[method-assign]
    try:
        fn()
    finally:
        ledger._call = real  # type: ignore[method-assign]
    return calls


def measure(w3: Any, owner: Signer, participants: int, accounts: int, repeat: int) -> dict[str, Any]:
    """Pre-check ms per participant (before, after) and seconds to add ``accounts`` participants (before, after)."""
    ledger, _ = Ledger.deploy(w3, owner)
    task = new_task(ledger, owner)
    people = [f"0x{0xC0FFEE0000 + i:040x}" for i in range(participants)]
    ledger.add_participants(owner, task, people)
    ledger.open_round(owner, task)
    checks: dict[str, list[float]] = {"before": [], "after": []}
    sides: dict[str, Callable[[str], Any]] = {
        "before": lambda who: old_pre_checks(ledger, task, who, 10),
        "after": lambda who: check_can_submit(ledger, task, who, 10),
    }
    for _ in range(repeat):
        for who in people:
            for side, check in sides.items():
                started = time.perf_counter()
                check(who)
                checks[side].append(time.perf_counter() - started)
    calls = {side: counting_calls(ledger, partial(check, people[0])) for side, check in sides.items()}

    addresses = [f"0x{0xADD0000000 + i:040x}" for i in range(accounts)]
    adds: dict[str, tuple[float, int, int]] = {}
    single_task, batch_task = new_task(ledger, owner), new_task(ledger, owner)
    started = time.perf_counter()
    singles = [ledger.add_participant(owner, single_task, a) for a in addresses]
    adds["before"] = (time.perf_counter() - started, len(singles), sum(tx.gas_used for tx in singles))
    started = time.perf_counter()
    batches = ledger.add_participants(owner, batch_task, addresses)
    adds["after"] = (time.perf_counter() - started, len(batches), sum(tx.gas_used for tx in batches))
    same = [(c.participant, c.max_samples) for c in ledger.participant_changes(single_task)] == [
        (c.participant, c.max_samples) for c in ledger.participant_changes(batch_task)
    ]
    return {"checks": checks, "calls": calls, "adds": adds, "same_events": same}


def section(results: dict[str, dict[str, Any]], participants: int, accounts: int, repeat: int) -> str:
    rows = []
    for chain, r in results.items():
        for side, label in (("before", "5 views"), ("after", "participantView")):
            ms = [s * 1000 for s in r["checks"][side]]
            rows.append(
                [chain, f"pre-checks, {label}", r["calls"][side], f"{statistics.median(ms):.2f} ms",
                 f"{statistics.mean(ms):.2f} ms", "-"]
            )  # fmt: skip
        for side, label in (
            ("before", "addParticipant each"),
            ("after", f"addParticipants ({ADD_BATCH} a tx)"),
        ):
            seconds, txs, gas = r["adds"][side]
            rows.append(
                [chain, f"add {accounts:,} participants, {label}", txs, f"{seconds:.1f} s", "-", f"{gas:,}"]
            )
    same = ", ".join(f"{chain}: {'yes' if r['same_events'] else 'NO'}" for chain, r in results.items())
    return (
        "## Fewer round trips: participantView and addParticipants\n\n"
        f"`python benchmarks/views.py --participants {participants} --accounts {accounts} --repeat {repeat}` "
        f"({machine()}). Pre-checks: what a participant reads before it trains, {repeat} times for each of "
        f"{participants} participants of an open round, the old reads and `check_can_submit` interleaved; calls = "
        f"requests to the node. Adding: {accounts:,} fresh accounts to a fresh task, one transaction each against "
        f"batches; the two tasks' ParticipantAdded events are the same: {same}.\n\n"
        + table(["chain", "what", "calls / transactions", "median", "mean", "gas"], rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=10)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-devnet", action="store_true", help="embedded only (no Node.js daemons)")
    args = parser.parse_args()
    w3 = connect(EMBEDDED)
    results = {
        "embedded": measure(w3, Signer(w3.eth.accounts[0]), args.participants, args.accounts, args.repeat)
    }
    if not args.no_devnet:
        from phases import temporary_devnet  # type: ignore[import-not-found]

        with temporary_devnet() as state:
            w3 = connect(state["rpc_url"])
            owner = Signer(w3.eth.accounts[0])
            results["devnet"] = measure(w3, owner, args.participants, args.accounts, args.repeat)
    body = section(results, args.participants, args.accounts, args.repeat)
    print(body)
    write_section("views", body)


if __name__ == "__main__":
    main()

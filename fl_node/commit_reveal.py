"""The participant's side of a commit-reveal round (README, "Commit and reveal"): commit, wait, upload, reveal.

Nothing about the update leaves the process before the commit window closes: the commitment hides the digest
behind a fresh 32-byte salt, and the bytes are uploaded only once the round reveals (an IPFS node announces the
CIDs it holds, and a CID names the bytes as well as a digest does). The salt lives in this process (and, when
asked, in a file next to the update): a participant that stops between commit and reveal is simply absent.
Every wait is bounded by the round's deadline, judged with the time the next block will have at least, since an
idle devnet answers views at an old block time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from fedledger import codec
from fedledger.clock import describe
from fedledger.commit_reveal import RevealWindows, commitment, new_salt, round_windows
from fedledger.exceptions import FedLedgerError, SubmissionRefusedError
from fedledger.files import write_atomic
from fedledger.history import task_history
from fedledger.ledger import Ledger, Signer
from fedledger.records import TaskState
from fedledger.store import ContentStore
from fl_node.submit import Submission

POLL = 2.0  # seconds between two reads of the chain while waiting for the reveal window


def commit_and_reveal(
    ledger: Ledger,
    store: ContentStore,
    signer: Signer,
    task: TaskState,
    data: bytes,
    num_samples: int,
    *,
    on_progress: Callable[[str], None] = lambda message: None,
    salt_file: Path | None = None,
    poll: float = POLL,
    sleep: Callable[[float], None] | None = None,
) -> Submission:
    """Commit to ``data``'s digest, wait for the reveal window, then upload ``data`` and reveal.

    ``salt_file``: also keep the commitment's opening (task, round, digest, salt) there, written before the commit
    is sent. ``sleep`` waits between polls (default: ``pause``). Raises SubmissionRefusedError, before anything is sent, when the round no longer takes commitments.
    """
    codec.decode(data)  # refuse to commit to anything that is not a canonical model
    digest = codec.model_digest(data)
    windows = _windows(ledger, task)
    me = signer.address.lower()
    if any(c.participant.lower() == me for c in task_history(ledger, task.task_id).rounds[-1].commits):
        raise SubmissionRefusedError(
            f"{signer.address} already committed in round {task.round} of task {task.task_id}; only the salt of "
            "that commitment can reveal it"
        )
    if not windows.committing(ledger.next_block_time()):
        raise SubmissionRefusedError(
            f"round {task.round} of task {task.task_id} takes no more commitments (every participant committed, "
            "or its deadline passed); wait for the next round"
        )
    salt = new_salt()
    if salt_file is not None:
        opening = {"task_id": task.task_id, "round": task.round, "participant": signer.address,
                   "digest": codec.digest_hex(digest), "salt": "0x" + salt.hex()}  # fmt: skip
        write_atomic(salt_file, (json.dumps(opening, indent=2) + "\n").encode())
    commit_tx = ledger.commit_update(
        signer, task.task_id, task.round, commitment(digest, signer.address, salt)
    )
    on_progress(f"round {task.round}: committed to the update (it stays unpublished until the reveal window)")
    _wait_for_reveal(ledger, task, on_progress, poll, sleep or pause)
    on_progress("uploading update")
    cid = store.put(data)
    tx = ledger.reveal_update(signer, task.task_id, task.round, digest, cid, num_samples, salt)
    on_progress(f"round {task.round}: update revealed")
    return Submission(task.task_id, task.round, signer.address, cid, digest, num_samples, tx, commit_tx)


def pause(seconds: float) -> None:
    """Wait between two reads of the chain (a test replaces it to move an embedded chain's clock instead)."""
    time.sleep(seconds)


def _windows(ledger: Ledger, task: TaskState) -> RevealWindows:
    windows = round_windows(task_history(ledger, task.task_id), task)
    if windows is None:
        raise FedLedgerError(f"task {task.task_id} does not register updates by commit and reveal")
    return windows


def _wait_for_reveal(
    ledger: Ledger,
    task: TaskState,
    say: Callable[[str], None],
    poll: float,
    sleep: Callable[[float], None],
) -> None:
    """Wait until the round reveals: everyone committed, or the deadline passed (at the latest, so bounded)."""
    announced = False
    while True:
        current = ledger.get_task(task.task_id)
        if current.round != task.round or not current.round_open:
            raise FedLedgerError(
                f"round {task.round} of task {task.task_id} closed while it waited to reveal"
            )
        windows = _windows(ledger, current)
        now = ledger.next_block_time()
        if windows.revealing(now):
            return
        if now >= windows.reveal_end:  # unreachable by the rule; kept so that no chain state loops forever
            raise FedLedgerError(
                f"the reveal window of round {task.round} ended at {describe(windows.reveal_end)}"
            )
        if not announced:
            say(
                f"waiting for the reveal window ({windows.commits} of {windows.expected} committed; it opens when "
                f"everyone has, at the latest {describe(windows.deadline)})"
            )
            announced = True
        sleep(poll)

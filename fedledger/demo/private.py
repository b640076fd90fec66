"""The demo's private rounds: every participant takes the four steps of a round in lockstep, in one process.

On a real deployment each participant runs `fedledger node train`, which waits for each phase to end; in the
demo all participants are in one process, so each phase ends early as soon as the last of them has posted, and
the round takes no waiting at all. The steps are the participants' own (``fl_node.private_round.PrivateSteps``):
keys, share bundles, masked uploads (after local training, clipped, quantized and, with DP, noised), unmask
material.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedledger.fetch import fetch_model
from fedledger.ledger import Ledger, Signer
from fedledger.privacy.accounting import PrivateTask
from fedledger.store import ContentStore
from fl_node.data import DatasetSplit
from fl_node.model import model_config_for
from fl_node.private_round import PrivateSteps, local_update
from fl_node.train import TrainConfig


def run_private_round(
    ledger: Ledger,
    store: ContentStore,
    signers: list[Signer],
    task_id: int,
    task: PrivateTask,
    split: DatasetSplit,
    shards: list[tuple[np.ndarray, np.ndarray]],
    train_config: TrainConfig,
    on_progress: Callable[[str], None] = lambda message: None,
) -> dict[str, list[int]]:
    """Take every participant through one private round's four steps; returns the gas of each step's postings."""
    steps = [PrivateSteps(ledger, store, s, task_id, task, lambda message: None, 0.0) for s in signers]
    state = ledger.get_task(task_id)
    base = fetch_model(
        store, state.model_cid, state.model_digest, None, max_bytes=state.limits.max_update_bytes
    )
    model_config = model_config_for(split)
    gas: dict[str, list[int]] = {"keys": [s.advertise() for s in steps]}
    gas["shares"] = [s.share()[1] for s in steps]
    uploads = []
    for k, step in enumerate(steps):
        on_progress(f"round {state.round}: participant {k + 1}/{len(steps)} trains and masks its update")
        x, _ = shards[k]
        update = local_update(base, state, split, shards[k], train_config, model_config)
        uploads.append(step.upload(update, len(x))[2])
    gas["upload"] = uploads
    gas["unmask"] = [s.unmask(None)[1] for s in steps]
    return gas

"""`fedledger aggregate [--watch]`: close rounds as the task's aggregator (or attest them as a member of its
committee), resuming from chain state."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated, Any

import typer

from aggregator.coordinator import Coordinator, RoundAlreadyClosedError, RoundNotReadyError, RoundOutcome
from fedledger.cli import output
from fedledger.cli.options import (
    AccountOpt,
    Context,
    ContractOpt,
    IpfsOpt,
    JsonOpt,
    KeyFileOpt,
    RpcOpt,
    TaskOpt,
    run_command,
)
from fedledger.cli.output import plural
from fedledger.codec import digest_hex
from fedledger.exceptions import ContractRevertError

# Reverts that mean "someone else moved first or the clock is not there yet": --watch waits and re-reads the chain.
_TRANSIENT_REVERTS = {
    "FederatedRoundsRoundStillRunning",
    "FederatedRoundsWrongRound",
    "FederatedRoundsNoOpenRound",
}


def _transient(exc: Exception) -> bool:
    return isinstance(exc, (RoundNotReadyError, RoundAlreadyClosedError)) or (
        getattr(exc, "error_name", "") in _TRANSIENT_REVERTS
    )


def outcome_json(outcome: RoundOutcome) -> dict[str, Any]:
    return {
        "task_id": outcome.task_id,
        "round": outcome.round,
        "failed": outcome.failed,
        "included": [u.participant for u in outcome.included],
        "excluded": [asdict(e) for e in outcome.excluded],
        "weights": outcome.weights,
        "global_digest": digest_hex(outcome.global_digest) if outcome.global_digest else None,
        "global_cid": outcome.global_cid or None,
        "gas": outcome.tx.gas_used if outcome.tx else None,
        "tx": outcome.tx.tx_hash if outcome.tx else None,
        "attested": outcome.attested,  # committee task: this member's attestRound
        "closed": outcome.closed,  # the transaction closed the round (false: an attestation awaiting agreement)
    }


def _say(outcome: RoundOutcome) -> None:
    if outcome.attested:
        what = "a failure" if outcome.failed else f"global {digest_hex(outcome.global_digest)}"
        state = "the round closed on it" if outcome.closed else "waiting for the committee to agree"
        output.say(f"attested round {outcome.round} of task {outcome.task_id}: {what}; {state}")
        for e in outcome.excluded:
            output.say(f"  excluded update #{e.index} from {e.participant}: {e.reason}: {e.detail}")
        return
    if outcome.failed:
        why = "too few valid updates" if outcome.excluded else "below quorum"
        output.say(f"round {outcome.round} of task {outcome.task_id} closed as FAILED ({why})")
        for e in outcome.excluded:
            output.say(f"  excluded update #{e.index} from {e.participant}: {e.reason}: {e.detail}")
        return
    output.say(
        f"round {outcome.round} of task {outcome.task_id} finalized: {plural(len(outcome.included), 'update')}, "
        f"global {digest_hex(outcome.global_digest)} at {outcome.global_cid}"
    )
    for e in outcome.excluded:
        output.say(f"  excluded update #{e.index} from {e.participant}: {e.reason}: {e.detail}")


def _aggregate(
    ctx: Context, task: int, watch: bool, interval: float, max_rounds: int | None, as_json: bool
) -> None:
    closed: list[dict[str, Any]] = []
    with output.progress(not as_json) as show:
        coordinator = Coordinator(ctx.ledger, ctx.store, ctx.signer, on_progress=show)
        while True:
            try:
                outcome = coordinator.close_round(task)
            except (RoundNotReadyError, RoundAlreadyClosedError, ContractRevertError) as exc:
                if not watch or not _transient(exc):
                    raise
                show(f"waiting: {exc}")
                time.sleep(interval)
                continue
            closed.append(outcome_json(outcome))
            if not as_json:
                _say(outcome)
            if not watch or (max_rounds is not None and len(closed) >= max_rounds):
                break
    if as_json:
        output.emit_json(closed[0] if not watch else {"rounds": closed})


def aggregate(
    task: TaskOpt,
    watch: Annotated[
        bool, typer.Option(help="Keep following the chain and finalize round after round.")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.05, max=3600, help="Seconds between checks with --watch.")
    ] = 2.0,
    max_rounds: Annotated[
        int | None, typer.Option(min=1, help="With --watch: stop after closing this many rounds.")
    ] = None,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    ipfs_api: IpfsOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Finalize the open round once every participant submitted or its deadline passed."""
    ctx = Context(rpc_url, contract, ipfs_api, account, key_file)
    run_command(lambda: _aggregate(ctx, task, watch, interval, max_rounds, json_))

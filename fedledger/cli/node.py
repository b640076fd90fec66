"""`fedledger node train|submit`: one participant's round, as a separate process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fedledger import codec
from fedledger.audit import verify_task
from fedledger.cli import output
from fedledger.cli.audit import open_cache, save_cache
from fedledger.cli.options import (
    AccountOpt,
    Context,
    ContractOpt,
    IpfsOpt,
    JsonOpt,
    KeyFileOpt,
    RpcOpt,
    TaskOpt,
    require_extra,
    run_command,
)
from fedledger.cli.participant import current_participants
from fedledger.cli.settings import read_model_file
from fedledger.exceptions import ChainError, ConfigurationError, SubmissionRefusedError, ValidationError
from fedledger.fetch import fetch_model
from fedledger.history import task_history
from fedledger.records import TaskState
from fedledger.rules.validation import validate_update

if TYPE_CHECKING:
    from fl_node.private_round import PrivateSubmission
    from fl_node.submit import Submission

app = typer.Typer(help="Act as one participant: train and submit updates.", no_args_is_help=True)

MAX_SAMPLES = 2**64 - 1  # the contract's uint64


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 0 <= K < N."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigurationError(f"--shard must look like K/N (e.g. 0/3), got {text!r}") from None
    if not 0 <= k < n:
        raise ConfigurationError(f"--shard {text}: K must be in 0..N-1")
    return k, n


def default_shard(ctx: Context, task: int) -> tuple[int, int]:
    """This signer's position in the task's allowlist, over the allowlist's size."""
    ctx.ledger.get_task(task)  # a task that does not exist says so (not "pass --shard")
    members = current_participants(ctx.ledger, task)
    if ctx.signer.address not in members:
        raise ChainError(
            f"{ctx.signer.address} is not a participant of task {task}; ask the task owner to add it"
        )
    return members.index(ctx.signer.address), len(members)


def base_verifier(ctx: Context, task_id: int) -> Callable[[TaskState], None]:
    """Re-derive the whole lineage of the global model the participant is about to build on; raise if it breaks.

    Every finalized round is checked, not only the last: an honest round built on a forged one launders the
    forgery. The audit cache makes it incremental (rounds this user already verified are not re-derived), so a
    participant pays for each round once.
    """

    def verify(state: TaskState) -> None:
        history = task_history(ctx.ledger, task_id)
        finalized = {r.round for r in history.rounds if r.finalized is not None}
        if not finalized:
            return  # the initial model: the owner's choice, nothing to re-derive
        cache = open_cache(ctx)
        verdicts = verify_task(history, ctx.store, cache=cache)
        save_cache(cache)
        for v in verdicts:
            if v.round in finalized and v.verdict != "OK":
                raise ChainError(
                    f"refusing to train on the global model of task {task_id}: its lineage breaks at round "
                    f"{v.round} ({v.verdict}: {v.reason}). Run `fedledger audit verify --task {task_id}` for "
                    "details, or pass --no-verify-base to train on it anyway"
                )

    return verify


def precheck_update(ctx: Context, state: TaskState, data: bytes) -> None:
    """Refuse an update the aggregator would exclude, before anything is uploaded or registered."""
    digest = codec.model_digest(data)
    if digest == state.model_digest:
        raise SubmissionRefusedError(
            "the update is the round's base model itself; it would be excluded as unchanged"
        )
    if any(u.digest == digest for u in ctx.ledger.updates_submitted(state.task_id, state.round)):
        raise SubmissionRefusedError(
            "another participant already registered these exact bytes this round (duplicate)"
        )
    limits = state.limits
    base = fetch_model(ctx.store, state.model_cid, state.model_digest, max_bytes=limits.max_update_bytes)
    try:
        validate_update(data, base=base, expected_digest=digest, max_bytes=limits.max_update_bytes)
    except ValidationError as exc:
        raise SubmissionRefusedError(
            f"the aggregator would exclude this update as {exc.reason}: {exc.detail}; nothing was uploaded"
        ) from None


def submission_json(s: Submission) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "task_id": s.task_id,
        "round": s.round,
        "participant": s.participant,
        "cid": s.cid,
        "digest": codec.digest_hex(s.digest),
        "num_samples": s.num_samples,
        "gas": s.tx.gas_used,
        "tx": s.tx.tx_hash,
    }
    if s.commit_tx is not None:  # a commit-reveal task: "gas" and "tx" are the reveal's
        payload["commit_tx"], payload["commit_gas"] = s.commit_tx.tx_hash, s.commit_tx.gas_used
    return payload


def _report(s: Submission, as_json: bool, kept: Path | None = None) -> None:
    if as_json:
        payload = submission_json(s)
        if kept is not None:
            payload["update_file"] = str(kept)
        output.emit_json(payload)
    else:
        gas = (
            f"{s.tx.gas_used} gas"
            if s.commit_tx is None
            else f"commit {s.commit_tx.gas_used} + reveal {s.tx.gas_used} gas"
        )
        output.say(
            f"submitted round {s.round} of task {s.task_id} as {s.participant}: {s.num_samples} "
            f"samples, digest {codec.digest_hex(s.digest)} at {s.cid} ({gas})"
        )
        if kept is not None:
            output.say(f"the update is kept in {kept}")


def _report_private(r: PrivateSubmission, as_json: bool) -> None:
    private = {
        "shares_cid": r.shares_cid,
        "unmask_cid": r.unmask_cid,
        "survivors": r.survivors,
        "dropped": r.dropped,
        "stopped_after": r.stopped_after or None,
        "gas": r.gas,
    }
    if as_json:
        output.emit_json(
            {
                "task_id": r.task_id,
                "round": r.round,
                "participant": r.participant,
                "cid": r.cid,
                "digest": codec.digest_hex(r.digest) if r.digest else "",
                "num_samples": r.num_samples,
                "gas": r.gas.get("upload", 0),
                "private": private,
            }
        )
        return
    if r.stopped_after:
        output.say(
            f"stopped after the {r.stopped_after} step of round {r.round} of task {r.task_id}, as asked"
        )
        return
    output.say(
        f"took round {r.round} of task {r.task_id} privately as {r.participant}: masked upload {r.cid} "
        f"({r.num_samples} samples), unmask material {r.unmask_cid}; {r.survivors} survivors, {r.dropped} dropped; "
        f"gas {sum(r.gas.values())} over {len(r.gas)} transactions"
    )


@app.command("train")
def train(
    task: TaskOpt,
    shard: Annotated[
        str | None, typer.Option(help="This node's data slice K/N (default: from the allowlist).")
    ] = None,
    dataset: Annotated[
        str, typer.Option(help="Dataset the task's model was built for: bikes, digits or mnist.")
    ] = "bikes",
    epochs: Annotated[int, typer.Option(min=1, help="Local epochs.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the data split and training.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Also keep the update in this file (canonical safetensors), written before uploading."
        ),
    ] = None,
    verify_base: Annotated[
        bool,
        typer.Option(
            "--verify-base/--no-verify-base", help="Re-derive the global model before training on it."
        ),
    ] = True,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    ipfs_api: IpfsOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    wait_round: Annotated[
        float,
        typer.Option(
            min=0,
            max=86_400,
            help="Private tasks: wait up to this many seconds for a round to open its keys phase (default 0: "
            "join the open round now or stop).",
        ),
    ] = 0,
    drop_after: Annotated[
        str | None,
        typer.Option(
            help="Private tasks, for tests and demos of dropouts: stop after this step (keys, shares, upload), "
            "as a participant that dies there would.",
            hidden=True,
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Verify the global model, train on this node's slice, upload the update and register it on-chain.

    On a private task it takes the round's four steps (keys, share bundle, masked upload, unmask material),
    waiting for each phase to end in between."""

    def body() -> None:
        require_extra("node", "`fedledger node train`")
        from fl_node.data import load_dataset, partition
        from fl_node.participant import train_and_submit
        from fl_node.private_round import private_task_of, run_private_round, wait_for_keys_phase
        from fl_node.threads import configure_torch_threads
        from fl_node.train import TrainConfig

        configure_torch_threads()

        if out is not None and out.is_dir():
            raise ConfigurationError(f"--out {out} is a folder; name a file to write the update to")
        ctx = Context(rpc_url, contract, ipfs_api, account, key_file)
        k, n = parse_shard(shard) if shard else default_shard(ctx, task)
        private = private_task_of(ctx.ledger, task)
        if private is None and drop_after is not None:
            raise ConfigurationError(
                "--drop-after simulates a dropout in a private round; task is not private"
            )
        if private is not None and out is not None:
            raise ConfigurationError(
                "--out keeps a plain update file; a private task's update is only ever masked"
            )
        with output.progress(not json_) as show:
            show(f"loading {dataset} slice {k}/{n}")
            split = load_dataset(dataset, seed=seed)  # type: ignore[arg-type]
            data = partition(split, n, k, seed=seed)
            if private is not None:
                if wait_round:
                    wait_for_keys_phase(ctx.ledger, task, ctx.signer.address, wait_round, show)
                result = run_private_round(
                    ctx.ledger,
                    ctx.store,
                    ctx.signer,
                    task,
                    private,
                    split,
                    data,
                    TrainConfig(epochs=epochs, seed=seed),
                    verify_base=base_verifier(ctx, task) if verify_base else None,
                    on_progress=show,
                    drop_after=drop_after,
                )
        if private is not None:
            _report_private(result, json_)
            return
        with output.progress(not json_) as show:
            submission = train_and_submit(
                ctx.ledger,
                ctx.store,
                ctx.signer,
                task,
                split,
                data,
                TrainConfig(epochs=epochs, seed=seed),
                verify_base=base_verifier(ctx, task) if verify_base else None,
                on_progress=show,
                keep_update=out,
                commit_reveal=task_history(ctx.ledger, task).commit_reveal is not None,
            )
        _report(submission, json_, out)

    run_command(body)


@app.command("submit")
def submit(
    update: Annotated[Path, typer.Argument(help="Canonical safetensors update file.")],
    task: TaskOpt,
    samples: Annotated[
        int, typer.Option(min=1, max=MAX_SAMPLES, help="Training samples behind this update.")
    ],
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    ipfs_api: IpfsOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Upload an existing update file and register it for the open round.

    On a commit-reveal task it commits first, waits for the reveal window (until everyone committed, or the
    deadline), and only then uploads the file and reveals it."""

    def body() -> None:
        from fl_node.submit import check_can_submit, submit_bytes  # no torch: the light install submits files

        data = read_model_file(update, "update file")
        ctx = Context(rpc_url, contract, ipfs_api, account, key_file)
        from fl_node.commit_reveal import commit_and_reveal

        state = check_can_submit(ctx.ledger, task, ctx.signer.address, samples)
        history = task_history(ctx.ledger, task)
        if history.privacy is not None:
            raise SubmissionRefusedError(
                f"task {task} runs private rounds: an update is masked inside the round, never submitted as a file; "
                "`fedledger node train` takes a participant through the round's steps"
            )
        precheck_update(ctx, state, data)
        if history.commit_reveal is None:
            _report(submit_bytes(ctx.ledger, ctx.store, ctx.signer, state, data, samples), json_)
            return
        with output.progress(not json_) as show:
            submission = commit_and_reveal(
                ctx.ledger, ctx.store, ctx.signer, state, data, samples, on_progress=show
            )
        _report(submission, json_)

    run_command(body)

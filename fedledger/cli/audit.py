"""`fedledger audit history|verify`: the round history and per-round verdicts, from the chain and IPFS alone."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from aggregator.coordinator import make_rederiver
from fedledger.audit import TaskHistory, audit_summary, task_history, verify_task
from fedledger.cli import output
from fedledger.cli.options import Context, ContractOpt, IpfsOpt, JsonOpt, RpcOpt, run_command
from fedledger.codec import digest_hex

app = typer.Typer(
    help="Read and verify the round history from the chain and IPFS alone.", no_args_is_help=True
)
TaskFilterOpt = Annotated[int | None, typer.Option(min=1, help="One task (default: all).")]


def _histories(ctx: Context, task: int | None) -> list[TaskHistory]:
    ids = [task] if task is not None else range(1, ctx.ledger.task_count() + 1)
    return [task_history(ctx.ledger, task_id) for task_id in ids]


def history_json(history: TaskHistory) -> dict[str, Any]:
    """A task's history as plain JSON (digests as 0x hex)."""
    created = history.created
    return {
        "task_id": created.task_id,
        "owner": created.owner,
        "aggregator": created.aggregator,
        "initial_digest": digest_hex(created.initial_digest),
        "initial_cid": created.initial_cid,
        "quorum": created.quorum,
        "round_duration": created.round_duration,
        "strategy": created.strategy,
        "participants": [
            {"participant": p.participant, "added": p.added, "block": p.at.block_number}
            for p in history.participants
        ],
        "rounds": [
            {
                "round": r.round,
                "status": r.status,
                "deadline": r.opened.deadline if r.opened else None,
                "base_digest": digest_hex(r.opened.base_digest) if r.opened else None,
                "submissions": [
                    {
                        "index": i,
                        "participant": u.participant,
                        "digest": u.digest_hex,
                        "cid": u.cid,
                        "num_samples": u.num_samples,
                        "block": u.at.block_number,
                    }
                    for i, u in enumerate(r.submissions)
                ],
                "included": r.included,
                "global_digest": digest_hex(r.finalized.global_digest) if r.finalized else None,
                "global_cid": r.finalized.global_cid if r.finalized else None,
            }
            for r in history.rounds
        ],
    }


def _history(ctx: Context, task: int | None, as_json: bool) -> None:
    histories = _histories(ctx, task)
    if as_json:
        output.emit_json({"contract": ctx.ledger.address, "tasks": [history_json(h) for h in histories]})
        return
    for h in histories:
        data = history_json(h)
        output.table(
            f"task {data['task_id']} ({data['strategy']}, quorum {data['quorum']}), owner {data['owner']}",
            ["round", "status", "submitted", "included", "global digest", "global CID"],
            [
                [
                    r["round"],
                    r["status"],
                    len(r["submissions"]),
                    len(r["included"]),
                    output.short(r["global_digest"] or "-", 18),
                    output.short(r["global_cid"] or "-", 20),
                ]
                for r in data["rounds"]
            ],
        )


def _verify(ctx: Context, task: int | None, as_json: bool) -> None:
    rederive = make_rederiver(ctx.store)
    results: list[dict[str, Any]] = []
    all_verdicts = []
    with output.progress(not as_json) as show:
        for h in _histories(ctx, task):
            verdicts = verify_task(
                h,
                ctx.store,
                rederive,
                on_round=lambda v: show(f"task {v.task_id} round {v.round}: {v.verdict}"),
            )
            all_verdicts.extend(verdicts)
            results.append({"task_id": h.created.task_id, **audit_summary(verdicts)})
    summary = audit_summary(all_verdicts)
    if as_json:
        output.emit_json(
            {"ok": summary["ok"], "verified_rounds": summary["verified_rounds"], "tasks": results}
        )
    else:
        output.table(
            "audit verify",
            ["task", "round", "verdict", "global digest", "reason"],
            [
                [v.task_id, v.round, v.verdict, output.short(v.global_digest or "-", 18), v.reason]
                for v in all_verdicts
            ],
        )
        output.out.print(
            "[green]all finalized rounds verified[/green]"
            if summary["ok"]
            else "[red]some rounds do not verify[/red]"
        )
    if not summary["ok"]:
        raise SystemExit(1)


@app.command("history")
def history(
    task: TaskFilterOpt = None, rpc_url: RpcOpt = None, contract: ContractOpt = None, json_: JsonOpt = False
) -> None:
    """Every task's rounds, submissions and committed global models, from events alone."""
    run_command(lambda: _history(Context(rpc_url, contract, None), task, json_))


@app.command("verify")
def verify(
    task: TaskFilterOpt = None,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    ipfs_api: IpfsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Re-fetch every included update, re-aggregate, and check each committed global digest."""
    run_command(lambda: _verify(Context(rpc_url, contract, ipfs_api), task, json_))

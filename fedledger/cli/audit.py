"""`fedledger audit history|verify`: the round history and per-round verdicts, from the chain and IPFS alone.

Exit codes of `verify`: 0 every closed round verified; 1 some round breaks the rules (MISMATCH); 3 nothing broke
the rules, but something could not be checked (UNVERIFIED), or there was nothing to verify at all.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from fedledger.audit import DEFAULT_FETCH_BUDGET, RoundVerdict, audit_summary, verify_task
from fedledger.audit_cache import ENV_CACHE, VerifiedRounds, cache_namespace, default_path
from fedledger.cli import output
from fedledger.cli.options import (
    Context,
    ContractOpt,
    IpfsOpt,
    JsonOpt,
    RpcOpt,
    TaskOpt,
    require_extra,
    run_command,
)
from fedledger.cli.output import plural
from fedledger.cli.settings import resolve_address
from fedledger.exceptions import ConfigurationError
from fedledger.explorer import report_data, write_report
from fedledger.history import TaskHistory, history_json, task_history

app = typer.Typer(
    help="Read and verify the round history from the chain and IPFS alone.", no_args_is_help=True
)
TaskFilterOpt = Annotated[int | None, typer.Option(min=1, help="One task (default: all).")]
OwnerOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--owner",
        help="Only tasks this account created (repeatable; an address, or a dev account number on a devnet): "
        "others' tasks, junk included, then neither show nor count in the exit code.",
    ),
]
EXIT_MISMATCH = 1
EXIT_UNVERIFIED = 3


def _histories(ctx: Context, task: int | None, owners: list[str] | None = None) -> list[TaskHistory]:
    """The tasks to report on: one, or all of them, or those the given owners created."""
    if task is not None:
        ctx.ledger.get_task(task)  # a task that does not exist is an error, not an empty audit
        ids: list[int] = [task]
    elif owners:
        wanted = {resolve_address(ctx.w3, owner).lower() for owner in owners}
        ids = [c.task_id for c in ctx.ledger.tasks_created() if c.owner.lower() in wanted]
    else:
        ids = list(range(1, ctx.ledger.task_count() + 1))
    return [task_history(ctx.ledger, task_id) for task_id in ids]


def _weight(value: float) -> str:
    return f"{value:.3f}" if value else "-"


def _print_history(data: dict[str, Any]) -> None:
    limits = data["limits"]
    output.table(
        f"task {data['task_id']} ({data['strategy']}, quorum {data['quorum']}, cap "
        f"{limits['max_samples'] or 'none'}), owner {data['owner']}",
        ["round", "status", "submitted", "included", "excluded", "global digest", "global CID"],
        [
            [
                r["round"],
                r["status"],
                len(r["submissions"]),
                len(r["included"]),
                ", ".join(f"#{e['index']} {e['reason']}" for e in r["excluded"]) or "-",
                output.short(r["global_digest"] or "-", 18),
                output.short(r["global_cid"] or "-", 20),
            ]
            for r in data["rounds"]
        ],
    )
    output.table(
        f"task {data['task_id']}: every submission",
        ["round", "#", "participant", "outcome", "samples", "weight"],
        [
            [
                r["round"],
                s["index"],
                s["participant"],
                s["outcome"] or ("round failed" if r["status"] == "failed" else "pending"),
                s["num_samples"],
                _weight(s["weight"]),
            ]
            for r in data["rounds"]
            for s in r["submissions"]
        ],
    )


def _print_privacy(data: dict[str, Any]) -> None:
    """The private-round lines of `audit history`: the task's settings, then what each round posted and spent."""
    privacy = data["privacy"]
    if privacy is None:
        return
    if not privacy["usable"]:
        output.say(
            f"task {data['task_id']}: private rounds with unusable params {privacy['params']!r}: {privacy['error']}"
        )
    else:
        rounds = (
            f"at most {plural(privacy['max_rounds'], 'round')}" if privacy["max_rounds"] else "no round cap"
        )
        line = f"task {data['task_id']}: private rounds ({privacy['params']}), threshold "
        line += f"{privacy['threshold']}, {rounds}"
        dp = privacy["dp"]
        if dp is not None:
            budget = f"budget ε {dp['epsilon_budget']:.3g}" if dp["epsilon_budget"] else "no ε budget"
            after = dp["epsilon_after_max_rounds"]
            line += f"; {budget}" + (f", ε {after:.3g} after {privacy['max_rounds']} rounds" if after else "")
        output.say(line)
    delta = privacy["dp"]["delta"] if privacy["dp"] else None
    for r in data["rounds"]:
        p = r["private"]
        line = (
            f"round {r['round']} private: {plural(p['keys'], 'key')}, {plural(p['shares'], 'share')}, "
            f"{plural(p['uploads'], 'upload')}, {plural(p['unmasks'], 'unmask')}"
        )
        if p["epsilon_spent"] is not None:
            line += f"; ε spent {p['epsilon_spent']:.3g} (δ={delta!r})"
        output.say(line)
    if data["finished"] is not None:
        output.say(f"task {data['task_id']} finished after round {data['finished']}: no further round opens")


def _history(ctx: Context, task: int | None, owners: list[str] | None, as_json: bool) -> None:
    histories = [history_json(h) for h in _histories(ctx, task, owners)]
    if as_json:
        output.emit_json({"contract": ctx.ledger.address, "tasks": histories})
        return
    if not histories:
        output.say(f"no tasks on the contract at {ctx.ledger.address}")
    for data in histories:
        _print_history(data)
        _print_privacy(data)


def _print_verdicts(verdicts: list[RoundVerdict], summary: dict[str, Any]) -> None:
    output.table(
        "audit verify",
        ["task", "round", "verdict", "global digest", "reason"],
        [
            [v.task_id, v.round, v.verdict, output.short(v.global_digest or "-", 18), v.reason]
            for v in verdicts
        ],
    )
    for v in verdicts:
        for check in v.submissions:
            if check.status in ("mismatch", "unverified"):
                output.say(
                    f"  task {v.task_id} round {v.round}: {check.participant} (#{check.index}): {check.note}"
                )
        for note in v.notes:
            output.say(f"  task {v.task_id} round {v.round}: note: {note}")
    messages = {
        "ok": "[green]all closed rounds verified[/green]",
        "mismatch": "[red]MISMATCH: some rounds break the protocol's rules[/red]",
        "unverified": "[yellow]UNVERIFIED: nothing broke the rules, but some rounds could not be checked[/yellow]",
        "empty": "[yellow]nothing to verify: no closed rounds[/yellow]",
    }
    output.out.print(messages[summary["status"]])


def open_cache(ctx: Context) -> VerifiedRounds:
    """This user's cache of verified rounds, for the chain and contract ``ctx`` names."""
    namespace = cache_namespace(ctx.w3.eth.chain_id, ctx.ledger.genesis_hash(), ctx.ledger.address)
    return VerifiedRounds(default_path(), namespace)


def save_cache(cache: VerifiedRounds) -> None:
    """Keep the verdicts for next time; a cache that cannot be written costs speed, never the audit."""
    for problem in filter(None, [cache.problem]):
        output.warn(problem)
    if cache.rejected:
        output.warn(
            f"{plural(cache.rejected, 'entry', 'entries')} of the audit cache {cache.path} failed authentication "
            "(not written by this user's auditor); those rounds were verified again"
        )
    try:
        cache.save()
    except ConfigurationError as exc:
        output.warn(
            f"cannot write the audit cache ({exc}); verdicts are not cached. "
            f"Point ${ENV_CACHE} at a writable file, or pass --no-cache"
        )


def _verify(
    ctx: Context,
    task: int | None,
    owners: list[str] | None,
    from_round: int,
    use_cache: bool,
    as_json: bool,
    fetch_budget: float = DEFAULT_FETCH_BUDGET,
) -> None:
    results: list[dict[str, Any]] = []
    everything: list[RoundVerdict] = []
    cache = open_cache(ctx) if use_cache else None
    with output.progress(not as_json) as show:
        for h in _histories(ctx, task, owners):
            verdicts = verify_task(
                h,
                ctx.store,
                fetch_budget=fetch_budget,
                from_round=from_round,
                cache=cache,
                on_round=lambda v: show(f"task {v.task_id} round {v.round}: {v.verdict}"),
            )
            everything.extend(verdicts)
            results.append({"task_id": h.created.task_id, **audit_summary(verdicts)})
    summary = audit_summary(everything)
    if cache is not None:
        save_cache(cache)
    if as_json:
        output.emit_json(
            {
                "ok": summary["ok"],
                "status": summary["status"],
                "verified_rounds": summary["verified_rounds"],
                "tasks": results,
            }
        )
    else:
        _print_verdicts(everything, summary)
    if summary["status"] == "mismatch":
        raise typer.Exit(EXIT_MISMATCH)
    if summary["status"] != "ok":
        raise typer.Exit(EXIT_UNVERIFIED)


@app.command("history")
def history(
    task: TaskFilterOpt = None,
    owner: OwnerOpt = None,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Every task's rounds and every submission's outcome (included, or excluded with its reason), from events."""
    run_command(lambda: _history(Context(rpc_url, contract, None), task, owner, json_))


@app.command("verify")
def verify(
    task: TaskFilterOpt = None,
    owner: OwnerOpt = None,
    from_round: Annotated[int, typer.Option(min=1, help="Verify rounds from this one on.")] = 1,
    cache: Annotated[
        bool, typer.Option("--cache/--no-cache", help="Skip rounds this machine already verified as OK.")
    ] = True,
    fetch_budget: Annotated[
        float,
        typer.Option(
            min=0.0,
            metavar="SECONDS",
            help="The most time spent fetching one round's content, so an audit's time per round is at most "
            "this plus the time to check what arrived (each CID also has its own 30 s window): needed content "
            "not fetched by then makes the round UNVERIFIED; a recorded `unavailable` not re-checked by then is "
            "only noted.",
        ),
    ] = DEFAULT_FETCH_BUDGET,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    ipfs_api: IpfsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Re-check every outcome and re-derive every global model. Exit 0 all OK, 1 MISMATCH, 3 UNVERIFIED/nothing."""
    run_command(
        lambda: _verify(
            Context(rpc_url, contract, ipfs_api), task, owner, from_round, cache, json_, fetch_budget
        )
    )


def _evaluator(dataset: str | None) -> Any:
    """An ``evaluate(tensors) -> (metric, value)`` on the dataset's test set, or None (needs the [node] extra)."""
    if dataset is None:
        return None
    require_extra("node", "--eval-dataset")
    from fl_node.data import load_dataset
    from fl_node.train import evaluate

    split = load_dataset(dataset)  # type: ignore[arg-type]

    def score(tensors: Any) -> tuple[str, float]:
        metric = evaluate(tensors, split)
        return metric.name, metric.value

    return score


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigurationError(f"--out {out} is a file; name a folder for index.html and index.json")


def _write_page(data: dict[str, Any], out: Path) -> list[Path]:
    _check_out(out)
    try:
        return write_report(data, out)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the report into {out}: {exc.strerror or exc}") from None


def _report(
    ctx: Context, task: int, out: Path, dataset: str | None, watch: bool, interval: float, as_json: bool
) -> None:
    _check_out(out)  # before the audit's work, not after it
    evaluate = _evaluator(dataset)
    last = None
    while True:
        data = report_data(
            ctx.ledger,
            ctx.store,
            task,
            evaluate=evaluate,
            rpc_hint=ctx.endpoints.rpc_url,
            ipfs_hint=ctx.endpoints.ipfs_api or "",
        )
        fingerprint = json.dumps(data, sort_keys=True, default=str)
        if fingerprint != last:
            written = _write_page(data, out)
            last = fingerprint
            if as_json and not watch:
                output.emit_json(
                    {"task_id": task, "status": data["audit"]["status"], "files": [str(p) for p in written]}
                )
            else:
                output.say(
                    f"wrote {written[1]} ({data['audit']['status']}, {plural(len(data['rounds']), 'round')})"
                )
        if not watch:
            return
        time.sleep(interval)


@app.command("report")
def report(
    task: TaskOpt,
    out: Annotated[
        Path, typer.Option(help="Folder for index.html (self-contained) and its JSON twin index.json.")
    ],
    eval_dataset: Annotated[
        str | None,
        typer.Option(
            help="Also evaluate every global model on this dataset's test set (bikes, digits, mnist)."
        ),
    ] = None,
    watch: Annotated[
        bool, typer.Option(help="Regenerate the page as new rounds land (Ctrl-C stops).")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=1, max=3600, help="Seconds between checks with --watch.")
    ] = 10.0,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    ipfs_api: IpfsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Write an audit page for one task: lineage, contribution matrix, timeline, gas, verdicts; opens from disk."""
    run_command(
        lambda: _report(Context(rpc_url, contract, ipfs_api), task, out, eval_dataset, watch, interval, json_)
    )

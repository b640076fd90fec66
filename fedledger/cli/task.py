"""`fedledger task create|open|show`: the owner's side of a task, and its live state."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated

import typer

from fedledger import codec
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
    require_extra,
    run_command,
)
from fedledger.cli.output import plural
from fedledger.cli.private_status import private_rows, private_status
from fedledger.cli.settings import read_model_file, resolve_address
from fedledger.clock import describe, span
from fedledger.commit_reveal import round_windows
from fedledger.exceptions import ConfigurationError
from fedledger.history import task_history
from fedledger.ledger import Ledger
from fedledger.privacy.plan import PrivacyPlan, PrivacyRequest, plan_privacy
from fedledger.records import TaskLimits, TaskState
from fedledger.rules.robust import TrimmedMean
from fedledger.rules.strategies import strategy_from_spec
from fedledger.strategy_spec import parse_spec
from fedledger.tasks import Committee, launch_task

app = typer.Typer(help="Create and inspect training tasks.", no_args_is_help=True)

MAX_DURATION = 2**32 - 1  # the contract's limit for round durations and grace periods (seconds)
MAX_PARTICIPANTS = 4096  # the contract's limit
MAX_UINT64 = 2**64 - 1
DEFAULT_MAX_UPDATE_BYTES = 64 * 1024 * 1024
DEFAULT_QUORUM = 2  # of a task without private rounds (a private task's quorum defaults to its threshold)


def _initial_model_bytes(dataset: str, model_file: Path | None, seed: int) -> bytes:
    if model_file is not None:
        return read_model_file(model_file, "--model-file")
    require_extra("node", "building the initial model (task create without --model-file)")
    from fl_node.data import load_dataset
    from fl_node.model import initial_model

    return codec.encode(initial_model(load_dataset(dataset, seed=seed), seed=seed))  # type: ignore[arg-type]


def _members(ctx: Context, participants: str, flag: str = "--participants") -> list[str]:
    """Resolve and check the allowlist (or a committee) before anything is sent: no duplicates, no zero address."""
    members = [resolve_address(ctx.w3, p.strip()) for p in participants.split(",") if p.strip()]
    seen: set[str] = set()
    for member in members:
        if int(member, 16) == 0:
            raise ConfigurationError(f"{flag} names the zero address, which can never sign")
        if member.lower() in seen:
            raise ConfigurationError(f"{flag} names {member} twice")
        seen.add(member.lower())
    return members


MAX_COMMITTEE = 16  # the contract's largest committee


def _committee(ctx: Context, aggregators: str, threshold: int | None) -> tuple[list[str], int]:
    """Resolve and check an aggregator committee: 1..16 distinct members, 1 <= threshold <= members (default:
    a majority, n // 2 + 1)."""
    members = _members(ctx, aggregators, "--aggregators")
    if not members:
        raise ConfigurationError("--aggregators names nobody: give ADDR,ADDR,... or dev account numbers")
    if len(members) > MAX_COMMITTEE:
        raise ConfigurationError(f"--aggregators names {len(members)} members; a committee has at most 16")
    k = len(members) // 2 + 1 if threshold is None else threshold
    if not 1 <= k <= len(members):
        raise ConfigurationError(
            f"--threshold {k} must be between 1 and the {len(members)} members of --aggregators"
        )
    return members, k


@dataclass(frozen=True)
class TaskRequest:
    """What `task create` was asked for, before anything is checked or sent."""

    participants: str
    aggregator: str | None
    quorum: int | None  # None: left out
    round_duration: int
    strategy: str
    dataset: str
    model_file: Path | None
    seed: int
    open_round: bool
    limits: TaskLimits
    max_samples: int | None = None  # as given: None means the flag was left out
    privacy: PrivacyRequest = field(default_factory=PrivacyRequest)
    aggregators: str = ""  # a committee (README, "Aggregator committees"); "" for a single aggregator
    committee_threshold: int | None = None  # None: a majority of --aggregators
    reveal_period: int | None = None  # commit and reveal, with this many seconds to reveal (None: plain)


def _parameter_count(data: bytes) -> int:
    """The initial model's parameter count (a DP spec's ``dim``)."""
    return sum(int(array.size) for array in codec.decode(data).values())


def _settle_privacy(
    request: TaskRequest, members: list[str], data: bytes
) -> tuple[TaskRequest, PrivacyPlan | None]:
    """The request with its quorum settled, and the private-round plan (None for a task without one)."""
    if request.privacy.scheme is None:
        stray = request.privacy.stray_flags()
        if stray:
            raise ConfigurationError(f"{', '.join(stray)} only apply to private tasks: add --privacy secagg")
        return replace(request, quorum=DEFAULT_QUORUM if request.quorum is None else request.quorum), None
    plan = plan_privacy(
        request.privacy,
        rule=parse_spec(request.strategy),
        limits=request.limits,
        members=len(members),
        quorum=request.quorum,
        round_duration=request.round_duration,
        dim=_parameter_count(data),
    )
    return replace(request, quorum=plan.quorum), plan


def _check_rule(request: TaskRequest) -> str:
    """The canonical spec, refusing what no aggregator could run with this quorum or sample size."""
    spec = parse_spec(request.strategy)
    rule = strategy_from_spec(spec)
    assert request.quorum is not None  # settled by _settle_privacy
    if request.quorum < rule.min_updates():
        raise ConfigurationError(
            f"{rule.spec} needs at least {rule.min_updates()} valid updates per round; raise --quorum to "
            f"{rule.min_updates()} or more"
        )
    sampled = request.limits.clients_per_round
    if sampled and request.quorum > sampled:
        raise ConfigurationError(f"quorum {request.quorum} is larger than --clients-per-round {sampled}")
    return rule.spec


def _check_abuse(request: TaskRequest, spec: str) -> None:
    """Refuse settings that invite abuse: a sample-weighted rule without a cap, a trimmed mean trimming nothing."""
    parsed = parse_spec(spec)
    rule = strategy_from_spec(parsed)
    if parsed.weights_by_samples and request.max_samples is None:
        raise ConfigurationError(
            f"{rule.spec} weights each update by the samples its participant claims: without a cap one "
            "participant can claim 10^9 and take the whole model. Pass --max-samples N (the most one update may "
            "claim), or --max-samples 0 to accept any claim"
        )
    if isinstance(rule, TrimmedMean) and request.quorum and rule.trimmed(request.quorum) == 0:
        raise ConfigurationError(
            f"{rule.spec} trims floor({rule.beta!r} x {request.quorum}) = 0 updates at quorum {request.quorum}: "
            f"one attacker could move every coordinate. Raise --quorum to {math.ceil(1 / rule.beta)} or more, "
            f"or beta to {1 / request.quorum:.3g} or more"
        )


def _create(ctx: Context, request: TaskRequest, as_json: bool) -> None:
    # Validate everything before the first transaction: a half-made task on-chain helps nobody.
    members = _members(ctx, request.participants)
    data = _initial_model_bytes(request.dataset, request.model_file, request.seed)
    request, plan = _settle_privacy(request, members, data)
    assert request.quorum is not None
    spec = _check_rule(request)
    if not members and request.open_round:
        raise ConfigurationError(
            "no --participants: a round opened now could never reach its quorum. Pass --participants "
            "ADDR,ADDR,... (or dev account numbers), or --no-open to add them later with `fedledger participant add`"
        )
    if members and request.quorum > len(members):
        raise ConfigurationError(
            f"quorum {request.quorum} is larger than the {len(members)} participants given"
        )
    committee: tuple[list[str], int] | None = None
    if request.aggregators:
        if request.aggregator is not None:
            raise ConfigurationError(
                "give --aggregator (one aggregator) or --aggregators (a committee), not both"
            )
        committee = _committee(ctx, request.aggregators, request.committee_threshold)
    elif request.committee_threshold is not None:
        raise ConfigurationError(
            "--threshold is the number of --aggregators that must agree: give --aggregators"
        )
    # The aggregator defaults to whoever signs (not to dev account 0, which on a real chain is nobody's); a
    # committee task records its first member (rounds close by the committee's attestations, not by it).
    aggregator_address = (
        committee[0][0]
        if committee
        else resolve_address(ctx.w3, request.aggregator)
        if request.aggregator is not None
        else ctx.signer.address
    )
    if len(data) > request.limits.max_update_bytes:
        raise ConfigurationError(
            f"the initial model is {len(data)} bytes, above --max-update-bytes {request.limits.max_update_bytes}"
        )
    _check_abuse(request, spec)
    if request.reveal_period is not None and plan is not None:
        raise ConfigurationError(
            "--commit-reveal and --privacy do not go together: a private round's uploads are masked, so no "
            "participant can copy another's; leave out --commit-reveal"
        )
    extra = (plan is not None) + (request.reveal_period is not None) + (committee is not None)
    ctx.ledger.require_funds(ctx.signer, transactions=2 + len(members) + extra)
    created = launch_task(
        ctx.ledger,
        ctx.signer,
        ctx.store,
        data,
        participants=members,
        quorum=request.quorum,
        round_duration=request.round_duration,
        strategy=spec,
        limits=request.limits,
        aggregator=aggregator_address,
        committee=Committee(*committee) if committee is not None else None,
        privacy=plan.task if plan is not None else None,
        reveal_period=request.reveal_period,
        open_round=request.open_round,
    )
    task_id, cid, tx = created.task_id, created.initial_cid, created.create_tx
    _report_created(
        request, task_id, cid, data, members, spec, aggregator_address, plan, tx.gas_used, as_json, committee
    )


def _report_created(
    request: TaskRequest,
    task_id: int,
    cid: str,
    data: bytes,
    members: list[str],
    spec: str,
    aggregator_address: str,
    plan: PrivacyPlan | None,
    gas: int,
    as_json: bool,
    committee: tuple[list[str], int] | None = None,
) -> None:
    if as_json:
        output.emit_json(
            {
                "task_id": task_id,
                "initial_cid": cid,
                "initial_digest": codec.digest_hex(codec.model_digest(data)),
                "participants": members,
                "strategy": spec,
                "limits": asdict(request.limits),
                "gas": gas,
                "quorum": request.quorum,
                "privacy": plan.json() if plan else None,
                "committee": {"members": committee[0], "threshold": committee[1]} if committee else None,
                "commit_reveal": None
                if request.reveal_period is None
                else {"reveal_period": request.reveal_period},
            }
        )
    else:
        output.say(
            f"created task {task_id} ({spec}, quorum {request.quorum}, {plural(len(members), 'participant')}, "
            f"rounds of {span(request.round_duration)}, aggregator {aggregator_address}); initial model {cid}"
        )
        if plan is not None:
            output.say(_describe_plan(plan))
        if committee is not None:
            output.say(
                f"aggregator committee: {committee[1]} of {', '.join(committee[0])} must attest the same outcome"
            )
        if request.reveal_period is not None:
            output.say(
                f"updates are committed before each deadline and revealed within {span(request.reveal_period)} "
                "after it (commit and reveal)"
            )
        output.say(str(task_id))


def _describe_plan(plan: PrivacyPlan) -> str:
    task, spec = plan.task, plan.task.spec
    rounds = f"at most {plural(task.max_rounds, 'round')}" if task.max_rounds else "no round cap"
    text = (
        f"private rounds ({spec.canonical}): threshold {task.threshold}, {rounds}; phases: keys "
        f"{span(task.keys_period)}, shares {span(task.shares_period)}, unmask {span(task.unmask_period)}"
    )
    if spec.dp:
        text += f"; ε {task.epsilon_after(1):.3g} per round (δ={spec.delta!r})"
        if task.max_rounds:
            text += f", {task.epsilon_after(task.max_rounds):.3g} after {task.max_rounds}"
    return text


@app.command("create")
def create(
    participants: Annotated[str, typer.Option(help="Comma-separated addresses or dev account numbers.")] = "",
    aggregator: Annotated[
        str | None, typer.Option(help="Aggregator address or dev account number (default: the signer).")
    ] = None,
    aggregators: Annotated[
        str,
        typer.Option(
            help="A committee of aggregators instead of one: comma-separated addresses or dev account numbers "
            "(at most 16); a round closes when --threshold of them attest the same outcome."
        ),
    ] = "",
    committee_threshold: Annotated[
        int | None,
        typer.Option(
            "--threshold",
            min=1,
            max=MAX_COMMITTEE,
            help="With --aggregators: how many members must agree (default: a majority, n // 2 + 1).",
        ),
    ] = None,
    quorum: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_PARTICIPANTS,
            help="Minimum valid updates per round (default 2; a private task: its --secagg-threshold).",
        ),
    ] = None,
    round_duration: Annotated[
        int, typer.Option(min=1, max=MAX_DURATION, help="Seconds each round stays open.")
    ] = 600,
    strategy: Annotated[
        str,
        typer.Option(
            help="Aggregation rule: fedavg[:clip=C], fedsgd[:lr=X], median, trimmed_mean[:beta=B], "
            "krum[:f=F], multikrum[:f=F,m=M]."
        ),
    ] = "fedavg",
    max_samples: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=MAX_UINT64,
            help="Most samples one submission may claim; required for fedavg/fedsgd (0: no cap, said explicitly).",
        ),
    ] = None,
    max_update_bytes: Annotated[
        int, typer.Option(min=1, max=MAX_UINT64, help="Largest update in bytes (auditors apply it too).")
    ] = DEFAULT_MAX_UPDATE_BYTES,
    grace_period: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=MAX_DURATION,
            help="Seconds after a deadline before anyone may fail a round "
            "that reached quorum (default: one round duration).",
        ),
    ] = None,
    clients_per_round: Annotated[
        int, typer.Option(min=0, max=MAX_PARTICIPANTS, help="Participants sampled per round (0: everyone).")
    ] = 0,
    dataset: Annotated[
        str, typer.Option(help="Build the initial model for this dataset: bikes, digits or mnist.")
    ] = "bikes",
    model_file: Annotated[
        Path | None, typer.Option(help="Initial model as a canonical safetensors file.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the initial model.")] = 0,
    open_round: Annotated[bool, typer.Option("--open/--no-open", help="Open round 1 at once.")] = True,
    privacy: Annotated[
        str | None,
        typer.Option(
            help="Private rounds: 'secagg' (secure aggregation; updates are summed under masks). "
            "Needs --max-samples and fedavg or fedsgd."
        ),
    ] = None,
    clip: Annotated[
        float | None,
        typer.Option(min=0, help="Private: L2 norm each participant clips its update to (default 1.0)."),
    ] = None,
    scale_bits: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=30,
            help="Private: fixed-point bits (default: the largest <= 16 whose 32-bit sum cannot wrap).",
        ),
    ] = None,
    threshold: Annotated[
        int | None,
        typer.Option(
            "--secagg-threshold",
            min=1,
            max=MAX_PARTICIPANTS,
            help="Private: shares needed to unmask (default: participants // 2 + 1).",
        ),
    ] = None,
    keys_period: Annotated[
        int | None,
        typer.Option(
            min=1, max=MAX_DURATION, help="Private: seconds to advertise keys (default: round duration // 5)."
        ),
    ] = None,
    shares_period: Annotated[
        int | None,
        typer.Option(
            min=1, max=MAX_DURATION, help="Private: seconds to post shares (default: round duration // 5)."
        ),
    ] = None,
    unmask_period: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_DURATION,
            help="Private: seconds after the deadline to unmask (default: round duration // 5).",
        ),
    ] = None,
    dp_noise: Annotated[
        float | None, typer.Option(help="Private: DP noise multiplier z (distributed discrete Gaussian).")
    ] = None,
    dp_epsilon: Annotated[
        float | None,
        typer.Option(
            help="Private: DP budget epsilon; alone it sets the noise for --max-rounds (default 10) rounds, "
            "with --dp-noise it sets the round cap."
        ),
    ] = None,
    dp_delta: Annotated[
        float | None, typer.Option(help="Private: the delta of epsilon (default 1e-05).")
    ] = None,
    max_rounds: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=MAX_DURATION,
            help="Private: most rounds the task runs (default: none, or the DP budget's).",
        ),
    ] = None,
    commit_reveal: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_DURATION,
            metavar="SECONDS",
            help="Register updates by commit and reveal, with SECONDS after each deadline to reveal: no "
            "participant can copy another's update (README, 'Commit and reveal'). Not with --privacy.",
        ),
    ] = None,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    ipfs_api: IpfsOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Create a task (the signer owns it), add its participants and open round 1."""
    limits = TaskLimits(
        max_samples=max_samples or 0,
        max_update_bytes=max_update_bytes,
        grace_period=round_duration if grace_period is None else grace_period,
        clients_per_round=clients_per_round,
    )
    request = TaskRequest(
        participants,
        aggregator,
        quorum,
        round_duration,
        strategy,
        dataset,
        model_file,
        seed,
        open_round,
        limits,
        max_samples,
        PrivacyRequest(
            privacy,
            clip,
            scale_bits,
            threshold,
            keys_period,
            shares_period,
            unmask_period,
            dp_noise,
            dp_epsilon,
            dp_delta,
            max_rounds,
        ),
        aggregators,
        committee_threshold,
        commit_reveal,
    )
    ctx = Context(rpc_url, contract, ipfs_api, account, key_file)
    run_command(lambda: _create(ctx, request, json_))


@app.command("set-aggregator")
def set_aggregator(
    aggregator: Annotated[str, typer.Argument(help="New aggregator: address, or dev account number N.")],
    task: TaskOpt,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Hand the task to another aggregator (owner only); it takes over at once, also mid-round."""

    def body() -> None:
        ctx = Context(rpc_url, contract, None, account, key_file)
        address = resolve_address(ctx.w3, aggregator)
        if int(address, 16) == 0:
            raise ConfigurationError("the zero address cannot aggregate")
        tx = ctx.ledger.set_aggregator(ctx.signer, task, address)
        if json_:
            output.emit_json({"task_id": task, "aggregator": address, "gas": tx.gas_used})
        else:
            output.say(f"task {task} is now aggregated by {address}")

    run_command(body)


@app.command("set-committee")
def set_committee(
    task: TaskOpt,
    aggregators: Annotated[
        str, typer.Option(help="The new committee: comma-separated addresses or dev account numbers.")
    ],
    committee_threshold: Annotated[
        int | None,
        typer.Option(
            "--threshold",
            min=1,
            max=MAX_COMMITTEE,
            help="How many members must agree (default: a majority, n // 2 + 1).",
        ),
    ] = None,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Replace the task's aggregator committee (owner only); attestations of the old one no longer count."""

    def body() -> None:
        ctx = Context(rpc_url, contract, None, account, key_file)
        members, k = _committee(ctx, aggregators, committee_threshold)
        tx = ctx.ledger.set_committee(ctx.signer, task, members, k)
        _, _, epoch = ctx.ledger.committee(task)
        if json_:
            output.emit_json(
                {"task_id": task, "members": members, "threshold": k, "epoch": epoch, "gas": tx.gas_used}
            )
        else:
            output.say(f"task {task}: {k} of {', '.join(members)} must now attest each round (epoch {epoch})")

    run_command(body)


@app.command("open")
def open_(
    task: TaskOpt,
    rpc_url: RpcOpt = None,
    contract: ContractOpt = None,
    account: AccountOpt = None,
    key_file: KeyFileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Open the first round of a task created with --no-open."""

    def body() -> None:
        ctx = Context(rpc_url, contract, None, account, key_file)
        tx = ctx.ledger.open_round(ctx.signer, task)
        state = ctx.ledger.get_task(task)
        if json_:
            output.emit_json(
                {"task_id": task, "round": state.round, "deadline": state.deadline, "gas": tx.gas_used}
            )
        else:
            output.say(f"opened round {state.round} of task {task}; deadline {describe(state.deadline)}")

    run_command(body)


@app.command("show")
def show(task: TaskOpt, rpc_url: RpcOpt = None, contract: ContractOpt = None, json_: JsonOpt = False) -> None:
    """Show a task's live state: round, deadline, submissions, current model."""

    def body() -> None:
        ledger = Context(rpc_url, contract, None).ledger
        record = ledger.get_task(task)
        state = asdict(record)
        state["model_digest"] = codec.digest_hex(state["model_digest"])
        state["now"] = ledger.block_timestamp()
        privacy = private_status(ledger, record)
        members, k, epoch = ledger.committee(task)
        committee = {"members": members, "threshold": k, "epoch": epoch} if members else None
        reveals = _commit_reveal_status(ledger, record, ledger.next_block_time(state["now"]))
        if json_:
            output.emit_json({**state, "privacy": privacy, "committee": committee, "commit_reveal": reveals})
            return
        limits = state.pop("limits")
        rows: list[list[object]] = [[k, v] for k, v in state.items() if k not in ("deadline", "now")]
        rows.insert(6, ["deadline", describe(state["deadline"]) if state["round"] else "-"])
        rows += [[name, limits[name]] for name in limits]
        rows.append(["latest block time", describe(state["now"])])
        if privacy is not None:
            rows += private_rows(privacy)
        if committee is not None:
            rows.append(["committee", f"{k} of {', '.join(members)} (epoch {epoch})"])
        if reveals is not None:
            rows += _commit_reveal_rows(reveals)
        output.table(f"task {task}", ["field", "value"], rows)

    run_command(body)


def _commit_reveal_status(ledger: Ledger, record: TaskState, now: int) -> dict[str, object] | None:
    """A commit-reveal task's reveal period and its round's counts and windows (None: plain submissions)."""
    windows = round_windows(task_history(ledger, record.task_id), record)
    if windows is None:
        return None
    status: dict[str, object] = {"reveal_period": windows.reveal_period}
    if record.round_open:
        window = "commit" if windows.committing(now) else "reveal" if windows.revealing(now) else "closed"
        status |= {
            "window": window,  # commit, reveal, or closed (the round may close)
            "expected": windows.expected,
            "commits": windows.commits,
            "reveals": windows.reveals,
            "commit_end": windows.deadline,  # or earlier, once everyone committed
            "reveal_end": windows.reveal_end,
        }
    return status


def _commit_reveal_rows(status: dict[str, object]) -> list[list[object]]:
    rows: list[list[object]] = [
        ["commit and reveal", f"reveal period {span(int(str(status['reveal_period'])))}"]
    ]
    if "window" in status:
        rows += [
            ["window", status["window"]],
            ["commitments", f"{status['commits']} of {status['expected']}"],
            ["reveals", f"{status['reveals']} of {status['commits']}"],
            ["commits until", describe(int(str(status["commit_end"]))) + " (or once everyone committed)"],
            ["reveals until", describe(int(str(status["reveal_end"])))],
        ]
    return rows


@app.command("list")
def list_(rpc_url: RpcOpt = None, contract: ContractOpt = None, json_: JsonOpt = False) -> None:
    """List every task of the contract: owner, aggregator, rule, round and participants."""

    def body() -> None:
        ledger = Context(rpc_url, contract, None).ledger
        tasks = [ledger.get_task(created.task_id) for created in ledger.tasks_created()]
        if json_:
            output.emit_json(
                {
                    "tasks": [
                        {
                            "task_id": t.task_id,
                            "owner": t.owner,
                            "aggregator": t.aggregator,
                            "strategy": t.strategy,
                            "quorum": t.quorum,
                            "round": t.round,
                            "round_open": t.round_open,
                            "deadline": t.deadline,
                            "participants": t.participant_count,
                            "model_cid": t.model_cid,
                        }
                        for t in tasks
                    ]
                }
            )
            return
        output.table(
            f"{plural(len(tasks), 'task')} on {ledger.address}",
            ["task", "owner", "aggregator", "rule", "quorum", "participants", "round", "deadline"],
            [
                [
                    t.task_id,
                    t.owner,
                    t.aggregator,
                    t.strategy,
                    t.quorum,
                    t.participant_count,
                    (f"{t.round} (open)" if t.round_open else f"{t.round} (closed)")
                    if t.round
                    else "not opened",
                    describe(t.deadline) if t.round_open else "-",
                ]
                for t in tasks
            ],
        )

    run_command(body)

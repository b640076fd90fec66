"""`fedledger deploy`, `task ...` and `participant ...`: owner-side transactions and views."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from aggregator.strategies import strategy_from_spec
from fedledger import codec, output
from fedledger.cli_options import Context
from fedledger.exceptions import ConfigurationError
from fedledger.ledger import Ledger, connect
from fedledger.settings import resolve_address, resolve_endpoints, resolve_signer


def deploy(rpc_url: str | None, account: int | None, key_file: Path | None, as_json: bool) -> None:
    endpoints = resolve_endpoints(rpc_url, None, None)
    w3 = connect(endpoints.rpc_url)
    ledger, tx = Ledger.deploy(w3, resolve_signer(w3, account, key_file))
    if as_json:
        output.emit_json(
            {"contract_address": ledger.address, "deploy_block": tx.block_number, "gas": tx.gas_used}
        )
    else:
        output.say(
            f"deployed the round contract at {ledger.address} (block {tx.block_number}, {tx.gas_used} gas)"
        )


def _initial_model_bytes(dataset: str, model_file: Path | None, seed: int) -> bytes:
    if model_file is not None:
        data = model_file.read_bytes()
        codec.decode(data)  # refuse a non-canonical or malformed initial model before it goes on-chain
        return data
    from fl_node.data import load_dataset
    from fl_node.model import initial_model

    return codec.encode(initial_model(load_dataset(dataset, seed=seed), seed=seed))  # type: ignore[arg-type]


def task_create(
    ctx: Context,
    participants: str,
    aggregator: str,
    quorum: int,
    round_duration: int,
    strategy: str,
    dataset: str,
    model_file: Path | None,
    seed: int,
    open_round: bool,
    as_json: bool,
) -> None:
    spec = strategy_from_spec(strategy).spec
    members = [resolve_address(ctx.w3, p.strip()) for p in participants.split(",") if p.strip()]
    if quorum > max(len(members), 1):
        raise ConfigurationError(f"quorum {quorum} is larger than the {len(members)} participants given")
    data = _initial_model_bytes(dataset, model_file, seed)
    cid = ctx.store.put(data)
    task_id, tx = ctx.ledger.create_task(
        ctx.signer,
        aggregator=resolve_address(ctx.w3, aggregator),
        initial_digest=codec.model_digest(data),
        initial_cid=cid,
        quorum=quorum,
        round_duration=round_duration,
        strategy=spec,
    )
    for member in members:
        ctx.ledger.add_participant(ctx.signer, task_id, member)
    if open_round:
        ctx.ledger.open_round(ctx.signer, task_id)
    if as_json:
        output.emit_json(
            {
                "task_id": task_id,
                "initial_cid": cid,
                "initial_digest": codec.digest_hex(codec.model_digest(data)),
                "participants": members,
                "gas": tx.gas_used,
            }
        )
    else:
        output.say(
            f"created task {task_id} ({spec}, quorum {quorum}, {len(members)} participants, "
            f"rounds of {round_duration} s); initial model {cid}"
        )
        output.say(str(task_id))


def task_open(ctx: Context, task: int, as_json: bool) -> None:
    tx = ctx.ledger.open_round(ctx.signer, task)
    state = ctx.ledger.get_task(task)
    if as_json:
        output.emit_json(
            {"task_id": task, "round": state.round, "deadline": state.deadline, "gas": tx.gas_used}
        )
    else:
        output.say(f"opened round {state.round} of task {task}; deadline {state.deadline}")


def task_show(ctx: Context, task: int, as_json: bool) -> None:
    state = asdict(ctx.ledger.get_task(task))
    state["model_digest"] = codec.digest_hex(state["model_digest"])
    state["now"] = ctx.ledger.block_timestamp()
    if as_json:
        output.emit_json(state)
    else:
        output.table(f"task {task}", ["field", "value"], [[k, v] for k, v in state.items()])


def participant_change(ctx: Context, task: int, who: str, add: bool, as_json: bool) -> None:
    address = resolve_address(ctx.w3, who)
    change = ctx.ledger.add_participant if add else ctx.ledger.remove_participant
    tx = change(ctx.signer, task, address)
    if as_json:
        output.emit_json({"task_id": task, "participant": address, "added": add, "gas": tx.gas_used})
    else:
        output.say(f"{'added' if add else 'removed'} {address} {'to' if add else 'from'} task {task}")


def current_participants(ctx: Context, task: int) -> list[str]:
    """The allowlist in the order accounts joined (replayed from events)."""
    members: list[str] = []
    for change in ctx.ledger.participant_changes(task):
        if change.added:
            members.append(change.participant)
        elif change.participant in members:
            members.remove(change.participant)
    return members


def participant_list(ctx: Context, task: int, as_json: bool) -> None:
    members = current_participants(ctx, task)
    if as_json:
        output.emit_json({"task_id": task, "participants": members})
    else:
        output.table(
            f"task {task}: {len(members)} participants",
            ["#", "address"],
            [[i, m] for i, m in enumerate(members)],
        )

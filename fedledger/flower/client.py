"""The client side: a Flower mod that registers every training reply on-chain with the participant's own key.

Register it with ``ClientApp(mods=[ledger_mod()])``. For each *train* message it:

1. checks that the global model it was sent is the task's current model on-chain (the server cannot slip a
   model past the ledger: the participant refuses to train on it);
2. lets the user's own train function run;
3. encodes the reply's arrays as canonical safetensors, uploads them and registers digest, CID and the reply's
   ``num-examples`` (lowered to the participant's cap) in the task's open round, signed by the participant;
4. tags the reply with a ``fedledger`` ConfigRecord (participant, digest, CID, transaction).

Where things come from: the participant's key from the node's own config (``fedledger-key-file``, local to the
SuperNode; never from run_config, which every node sees), or in a simulation on a devnet or the embedded chain a
dev account chosen by ``partition-id`` (+1: account 0 owns the task). Endpoints and the task come from the node
config when set, else from the server's instruction (they are public). Any failure becomes a Flower error reply,
never an exception, so one client's trouble does not end the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ConfigRecord, Context, Error, Message, MessageType

from fedledger import codec
from fedledger.exceptions import ChainError, FedLedgerError
from fedledger.ledger import Ledger, Signer, connect
from fedledger.store import ContentStore, open_store

ERROR_CODE = 7700  # Flower error code of a fedledger refusal (Flower reserves small codes for itself)
KEYS = ("fedledger-rpc-url", "fedledger-contract", "fedledger-ipfs-api", "fedledger-task")


@dataclass(frozen=True)
class Participant:
    """Who this node is on-chain and where it talks to."""

    ledger: Ledger
    store: ContentStore
    signer: Signer
    task_id: int


Register = Callable[[Participant, int, bytes, str, int], Any]


def register_update(who: Participant, round_: int, digest: bytes, cid: str, num_samples: int) -> Any:
    """Register an uploaded update for ``round_`` (the default; a test may pass another to play a liar)."""
    return who.ledger.submit_update(who.signer, who.task_id, round_, digest, cid, num_samples)


@cache
def _endpoints(rpc_url: str, contract: str, ipfs_api: str) -> tuple[Ledger, ContentStore]:
    """One ledger and store per process and endpoints (Ray actors serve many nodes in turn)."""
    return Ledger(connect(rpc_url), contract), open_store(ipfs_api)


@cache
def _dev_accounts(ledger: Ledger) -> list[str]:
    """The node's dev accounts, asked once per process (every training message needs this node's one)."""
    return list(ledger.w3.eth.accounts)


def participant_for(msg: Message, ctx: Context) -> Participant:
    """This node's participant: endpoints from its node config, else from the server's instruction."""
    config = msg.content["config"] if "config" in msg.content.config_records else ConfigRecord()
    setting = {key: ctx.node_config.get(key, config.get(key)) for key in KEYS}
    missing = [key for key, value in setting.items() if value in (None, "")]
    if missing:
        raise FedLedgerError(f"the node knows no {', '.join(missing)}: set them in its node config")
    ledger, store = _endpoints(
        str(setting["fedledger-rpc-url"]),
        str(setting["fedledger-contract"]),
        str(setting["fedledger-ipfs-api"]),
    )
    key_file = ctx.node_config.get("fedledger-key-file")
    if key_file:
        signer = Signer.from_key(Path(str(key_file)).read_text().strip())
    else:
        index = int(ctx.node_config.get("fedledger-account", int(ctx.node_config.get("partition-id", 0)) + 1))
        accounts = _dev_accounts(ledger)
        if index >= len(accounts):  # the node may have more accounts by now: ask again before refusing
            _dev_accounts.cache_clear()
            accounts = _dev_accounts(ledger)
        if index >= len(accounts):
            raise FedLedgerError(f"dev account {index} does not exist on {setting['fedledger-rpc-url']!s}")
        signer = Signer(accounts[index])
    return Participant(ledger, store, signer, int(str(setting["fedledger-task"])))


def _arrays(msg: Message) -> dict[str, np.ndarray]:
    (record,) = msg.content.array_records.values()
    return {name: array.numpy() for name, array in record.items()}


def _refuse(msg: Message, reason: str) -> Message:
    return Message(Error(code=ERROR_CODE, reason=f"fedledger: {reason}"), reply_to=msg)


def ledger_mod(
    who: Callable[[Message, Context], Participant] = participant_for, register: Register = register_update
) -> Callable[[Message, Context, Callable[[Message, Context], Message]], Message]:
    """A Flower client mod that anchors every training reply on-chain (see the module docstring)."""

    def mod(msg: Message, ctx: Context, call_next: Callable[[Message, Context], Message]) -> Message:
        if msg.metadata.message_type != MessageType.TRAIN:
            return call_next(msg, ctx)
        try:
            participant = who(msg, ctx)
            view = participant.ledger.participant_view(participant.task_id, participant.signer.address)
            task = view.task  # one read for the task and this node's cap (participantView)
            if codec.model_digest(codec.encode(_arrays(msg))) != task.model_digest:
                return _refuse(
                    msg,
                    f"the global model sent for round {task.round} is not task "
                    f"{participant.task_id}'s model on-chain; not training on it",
                )
        except (FedLedgerError, ValueError, KeyError) as exc:
            return _refuse(msg, str(exc))
        reply = call_next(msg, ctx)
        if reply.has_error():
            return reply
        try:
            return _anchor(reply, participant, task.round, view.sample_cap, register)
        except (FedLedgerError, ValueError, KeyError, TypeError) as exc:
            return _refuse(msg, str(exc))

    return mod


def _anchor(reply: Message, who: Participant, round_: int, cap: int, register: Register) -> Message:
    """Upload and register the reply's arrays (claiming at most ``cap`` samples, 0: no cap); tag the reply with
    where they went."""
    (metrics,) = reply.content.metric_records.values()
    examples = int(metrics["num-examples"])  # type: ignore[arg-type]
    if examples <= 0:
        raise ValueError(f"num-examples must be positive, got {examples}")
    claimed = min(examples, cap) if cap else examples
    data = codec.encode(_arrays(reply))  # refuses non-float tensors (e.g. BatchNorm counters) by name
    digest, cid = codec.model_digest(data), who.store.put(data)
    tx = register(who, round_, digest, cid, claimed)
    if tx is None:
        raise ChainError("the update was not registered")
    reply.content["fedledger"] = ConfigRecord(
        {
            "participant": who.signer.address,
            "digest": codec.digest_hex(digest),
            "cid": cid,
            "round": round_,
            "num-samples": claimed,
            "tx": str(getattr(tx, "tx_hash", "")),
        }
    )
    return reply

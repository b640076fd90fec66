"""A thin typed layer over web3.py's contract object for the round contract.

It loads the ABI from the committed artifact (no Node, no compiler at run time), sends transactions as a
``Signer`` (a node-managed dev account, or a local private key for real chains), turns custom-error reverts into
``ContractRevertError`` with the contract's reason, and returns dataclass records instead of raw dicts. Events are
always queried by task (and round) topics: eth-tester's ``get_logs`` slows sharply as unfiltered events pile up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from eth_account import Account
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted, Web3RPCError

from fedledger import records as rec
from fedledger.artifact import load_artifact
from fedledger.exceptions import ChainError, ChainUnavailableError, ConfigurationError
from fedledger.revert import RevertDecoder, revert_data


def _revert_types() -> tuple[type[BaseException], ...]:
    """web3's revert errors, plus eth-tester's own when the embedded chain (the [demo] extra) is installed."""
    try:
        from eth_tester.exceptions import TransactionFailed
    except ImportError:
        return (ContractCustomError, ContractLogicError)
    return (ContractCustomError, ContractLogicError, TransactionFailed)


REVERTS = _revert_types()

EMBEDDED = "embedded"
T = TypeVar("T")


@dataclass(frozen=True)
class Signer:
    """Who sends a transaction: ``private_key`` None means the node holds the key (dev accounts)."""

    address: str
    private_key: str | None = None

    @classmethod
    def from_key(cls, private_key: str) -> Signer:
        return cls(Account.from_key(private_key).address, private_key)


def connect(rpc_url: str, timeout: float = 30.0) -> Web3:
    """Return a connected Web3: ``"embedded"`` for an in-process eth-tester chain, else a JSON-RPC URL."""
    if rpc_url == EMBEDDED:
        try:
            from web3 import EthereumTesterProvider
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise ConfigurationError(
                "the embedded chain needs the [demo] extra: pip install 'fedledger[demo]'"
            ) from None
        return Web3(EthereumTesterProvider())
    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        _ = w3.eth.chain_id  # one round trip: fail now, with a clear message, if nobody answers
    except (requests.RequestException, OSError) as exc:
        raise ChainUnavailableError(
            f"no Ethereum JSON-RPC node answers at {rpc_url} ({type(exc).__name__}). "
            "Start one with `fedledger devnet up` or pass --rpc-url."
        ) from None
    return w3


class Ledger:
    """The round contract at ``address`` on ``w3``."""

    def __init__(self, w3: Web3, address: str, *, from_block: int = 0, tx_timeout: float = 120.0) -> None:
        artifact = load_artifact()
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=artifact["abi"])
        self.from_block = from_block
        self.tx_timeout = tx_timeout
        self._revert = RevertDecoder(artifact["abi"])
        if not w3.eth.get_code(self.address):
            raise ChainError(
                f"no contract at {self.address} on chain {w3.eth.chain_id}: wrong address or a restarted devnet? "
                "Run `fedledger devnet up` again or pass the right --contract."
            )

    @classmethod
    def deploy(cls, w3: Web3, signer: Signer) -> tuple[Ledger, rec.TxResult]:
        """Deploy a fresh round contract from the committed artifact."""
        artifact = load_artifact()
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = _send(w3, factory.constructor(), signer, 120.0, RevertDecoder(artifact["abi"]))
        ledger = cls(w3, receipt["contractAddress"], from_block=receipt["blockNumber"])
        return ledger, _tx_result(receipt)

    # ------------------------------------------------------------------ transactions

    def create_task(
        self,
        signer: Signer,
        *,
        aggregator: str,
        initial_digest: bytes,
        initial_cid: str,
        quorum: int,
        round_duration: int,
        strategy: str,
    ) -> tuple[int, rec.TxResult]:
        """Create a task owned by ``signer``; returns its id (from the TaskCreated event)."""
        fn = self.contract.functions.createTask(
            Web3.to_checksum_address(aggregator),
            initial_digest,
            initial_cid,
            quorum,
            round_duration,
            strategy,
        )
        receipt = self._transact(fn, signer)
        (event,) = self.contract.events.TaskCreated().process_receipt(receipt)
        return int(event["args"]["taskId"]), _tx_result(receipt)

    def add_participant(self, signer: Signer, task_id: int, account: str) -> rec.TxResult:
        return self._tx(
            self.contract.functions.addParticipant(task_id, Web3.to_checksum_address(account)), signer
        )

    def remove_participant(self, signer: Signer, task_id: int, account: str) -> rec.TxResult:
        fn = self.contract.functions.removeParticipant(task_id, Web3.to_checksum_address(account))
        return self._tx(fn, signer)

    def open_round(self, signer: Signer, task_id: int) -> rec.TxResult:
        return self._tx(self.contract.functions.openRound(task_id), signer)

    def submit_update(
        self, signer: Signer, task_id: int, round_: int, digest: bytes, cid: str, num_samples: int
    ) -> rec.TxResult:
        fn = self.contract.functions.submitUpdate(task_id, round_, digest, cid, num_samples)
        return self._tx(fn, signer)

    def finalize_round(
        self,
        signer: Signer,
        task_id: int,
        round_: int,
        *,
        global_digest: bytes,
        global_cid: str,
        included_root: bytes,
        num_included: int,
    ) -> rec.TxResult:
        fn = self.contract.functions.finalizeRound(
            task_id, round_, global_digest, global_cid, included_root, num_included
        )
        return self._tx(fn, signer)

    def close_failed_round(self, signer: Signer, task_id: int, round_: int) -> rec.TxResult:
        return self._tx(self.contract.functions.closeFailedRound(task_id, round_), signer)

    def require_funds(self, signer: Signer, *, transactions: int = 1) -> None:
        """Raise ChainError, before anything is sent, when ``signer`` holds no ETH at all to pay for gas.

        A multi-step command calls this first, so that an unfunded signer cannot leave a half-done job on-chain.
        """
        balance = self._call(lambda: self.w3.eth.get_balance(Web3.to_checksum_address(signer.address)))
        gas_price = self._call(lambda: self.w3.eth.gas_price)
        needed = transactions * 300_000 * gas_price
        if balance == 0 or balance < needed:
            raise ChainError(
                f"{signer.address} holds {balance} wei on chain {self.w3.eth.chain_id}, not enough for "
                f"{transactions} transactions (about {needed} wei at the current gas price); fund it first"
            )

    # ------------------------------------------------------------------ views

    def task_count(self) -> int:
        return int(self._call(self.contract.functions.taskCount().call))

    def get_task(self, task_id: int) -> rec.TaskState:
        view = self._call(self.contract.functions.getTask(task_id).call)
        return rec.TaskState(task_id, *view)

    def is_participant(self, task_id: int, account: str) -> bool:
        fn = self.contract.functions.isParticipant(task_id, Web3.to_checksum_address(account))
        return bool(self._call(fn.call))

    def has_submitted(self, task_id: int, round_: int, account: str) -> bool:
        fn = self.contract.functions.hasSubmitted(task_id, round_, Web3.to_checksum_address(account))
        return bool(self._call(fn.call))

    def block_timestamp(self) -> int:
        """Timestamp of the latest block."""
        return int(self._call(lambda: self.w3.eth.get_block("latest")["timestamp"]))

    def next_block_time(self) -> int:
        """Best guess of the next block's timestamp, which the contract's deadline checks will see.

        An automining devnet mines only on transactions, so its latest block can be far in the past: the next
        block gets at least the wall-clock time (and never less than the latest block's, e.g. after time travel).
        """
        return max(self.block_timestamp() + 1, int(time.time()))

    # ------------------------------------------------------------------ events

    def _logs(self, event: str, **filters: int | str) -> list[Any]:
        getter = getattr(self.contract.events, event)
        logs = self._call(
            lambda: getter.get_logs(from_block=self.from_block, argument_filters=filters or None)
        )
        return sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"]))

    def tasks_created(self, task_id: int | None = None) -> list[rec.TaskCreated]:
        filters = {} if task_id is None else {"taskId": task_id}
        return [
            rec.TaskCreated(
                a["taskId"],
                a["owner"],
                a["aggregator"],
                bytes(a["initialDigest"]),
                a["initialCid"],
                a["quorum"],
                a["roundDuration"],
                a["strategy"],
                _position(log),
            )
            for log, a in _with_args(self._logs("TaskCreated", **filters))
        ]

    def participant_changes(self, task_id: int) -> list[rec.ParticipantChanged]:
        added = [(log, True) for log in self._logs("ParticipantAdded", taskId=task_id)]
        removed = [(log, False) for log in self._logs("ParticipantRemoved", taskId=task_id)]
        both = sorted(added + removed, key=lambda pair: (pair[0]["blockNumber"], pair[0]["logIndex"]))
        return [
            rec.ParticipantChanged(log["args"]["taskId"], log["args"]["participant"], is_add, _position(log))
            for log, is_add in both
        ]

    def rounds_opened(self, task_id: int, round_: int | None = None) -> list[rec.RoundOpened]:
        return [
            rec.RoundOpened(a["taskId"], a["round"], a["deadline"], bytes(a["baseDigest"]), _position(log))
            for log, a in _with_args(self._logs("RoundOpened", **_round_filter(task_id, round_)))
        ]

    def updates_submitted(self, task_id: int, round_: int | None = None) -> list[rec.UpdateSubmitted]:
        """Submissions in chain order: the position in this list is the submission index of the round."""
        return [
            rec.UpdateSubmitted(
                a["taskId"],
                a["round"],
                a["participant"],
                bytes(a["digest"]),
                a["cid"],
                a["numSamples"],
                _position(log),
            )
            for log, a in _with_args(self._logs("UpdateSubmitted", **_round_filter(task_id, round_)))
        ]

    def rounds_finalized(self, task_id: int, round_: int | None = None) -> list[rec.RoundFinalized]:
        return [
            rec.RoundFinalized(
                a["taskId"],
                a["round"],
                bytes(a["globalDigest"]),
                a["globalCid"],
                bytes(a["includedRoot"]),
                a["numIncluded"],
                _position(log),
            )
            for log, a in _with_args(self._logs("RoundFinalized", **_round_filter(task_id, round_)))
        ]

    def rounds_failed(self, task_id: int, round_: int | None = None) -> list[rec.RoundFailed]:
        return [
            rec.RoundFailed(a["taskId"], a["round"], _position(log))
            for log, a in _with_args(self._logs("RoundFailed", **_round_filter(task_id, round_)))
        ]

    # ------------------------------------------------------------------ plumbing

    def _tx(self, fn: Any, signer: Signer) -> rec.TxResult:
        return _tx_result(self._transact(fn, signer))

    def _transact(self, fn: Any, signer: Signer) -> Any:
        return _send(self.w3, fn, signer, self.tx_timeout, self._revert)

    def _call(self, thunk: Callable[[], T]) -> T:
        try:
            return thunk()
        except REVERTS as exc:
            raise self._revert.decode(revert_data(exc), f"view call: {exc}") from None
        except (requests.RequestException, OSError) as exc:
            raise ChainUnavailableError(f"the Ethereum node stopped answering: {exc}") from None


def _send(w3: Web3, fn: Any, signer: Signer, timeout: float, decoder: RevertDecoder) -> Any:
    """Sign (locally when a key is given), send, and wait for the receipt; decode reverts."""
    name = getattr(fn, "fn_name", "deploy")
    try:
        if signer.private_key is None:
            tx_hash = fn.transact({"from": signer.address})
        else:
            tx = fn.build_transaction(
                {
                    "from": signer.address,
                    "nonce": w3.eth.get_transaction_count(
                        Web3.to_checksum_address(signer.address), "pending"
                    ),
                }
            )
            signed = Account.sign_transaction(tx, signer.private_key)
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    except REVERTS as exc:
        raise decoder.decode(revert_data(exc), f"{name}: {exc}") from None
    except TimeExhausted:
        raise ChainError(f"{name}: no receipt after {timeout:.0f} s; is the chain mining?") from None
    except (requests.RequestException, OSError) as exc:
        raise ChainUnavailableError(f"{name}: the Ethereum node stopped answering ({exc})") from None
    except Web3RPCError as exc:
        raise ChainError(
            f"{name}: the node refused the transaction from {signer.address}: {_rpc_message(exc)}"
        ) from None
    if receipt["status"] != 1:
        raise ChainError(f"{name} failed on-chain (tx {receipt['transactionHash'].hex()})")
    return receipt


def _rpc_message(exc: Web3RPCError) -> str:
    """The node's own words for a refused transaction, with a hint for the common case of an unfunded signer."""
    message = str(getattr(exc, "message", "") or exc)
    if "insufficient funds" in message.lower():
        message += " (fund this account with ETH for gas, or sign with another one)"
    return message


def _tx_result(receipt: Any) -> rec.TxResult:
    return rec.TxResult(
        "0x" + bytes(receipt["transactionHash"]).hex(), int(receipt["gasUsed"]), int(receipt["blockNumber"])
    )


def _position(log: Any) -> rec.ChainPosition:
    return rec.ChainPosition(
        int(log["blockNumber"]), int(log["logIndex"]), "0x" + bytes(log["transactionHash"]).hex()
    )


def _with_args(logs: list[Any]) -> list[tuple[Any, Any]]:
    return [(log, log["args"]) for log in logs]


def _round_filter(task_id: int, round_: int | None) -> dict[str, int | str]:
    return {"taskId": task_id} if round_ is None else {"taskId": task_id, "round": round_}

"""The embedded chain: an in-process Ethereum node on pyrevm (the [demo] extra), behind a web3 provider.

Everything that differs between the embedded chain and a real node lives here, and nowhere else: the rest of
fedledger talks JSON-RPC to ``Web3(EmbeddedProvider())`` exactly as it talks to anvil. pyrevm runs the EVM (in
Rust) but keeps no chain: this module keeps the journal a node would (blocks, transactions, receipts, logs with an
index, nonces), mines one block per transaction (automine, like anvil and eth-tester) and answers the standard
methods in wire format (hex quantities and data), plus anvil's test methods (``evm_snapshot``, ``evm_revert``,
``evm_increaseTime``, ``evm_setNextBlockTimestamp``, ``evm_mine``, ``evm_setAutomine``, ``anvil_setStorageAt``).

Choices a reader should know:

* Clock: a block's timestamp is the wall clock plus a shift (moved by ``evm_increaseTime`` and
  ``evm_setNextBlockTimestamp``), and at least one second after its parent's (eth-tester's rule, which the tests'
  deadline models assume). ``eth_call`` at "latest" runs in the latest block's environment, as eth-tester and
  anvil do; ``eth_estimateGas`` and "pending" run in the next block's (the block a transaction would land in).
* Block hashes: the EVM's ``BLOCKHASH`` answers ``keccak(str(number))`` (revm's in-memory database, which pyrevm
  gives no way to seed), so the hashes reported are those, and the seed a sampled round draws from
  ``blockhash(block.number - 1)`` is the one an auditor recomputes. They repeat between two embedded chains;
  transaction hashes carry a per-chain salt, so keys built on a transaction hash (the audit cache) do not.
* Gas: one execution, then ``used + refunded`` plus a margin as the estimate (no binary search); fees are a
  fixed 1 gwei base fee charged to the sender, so an unfunded key is refused as on a node. Receipts show less gas
  than anvil for transactions that touch state an earlier one touched (4-20k less for fedledger's): pyrevm 0.3.7
  keeps every transaction in one journal, so accounts and slots stay warm, and its ``commit()``, which would end a
  transaction, leaves the EVM refusing every later call (``CallTooDeep``). Measure gas on a devnet.
* Reverts: ``eth_call``/``eth_estimateGas`` answer JSON-RPC error 3 with the revert data, so web3 raises its own
  ``ContractCustomError``; a transaction sent with its own gas limit that reverts is mined with status 0 (as on
  anvil), and ``fedledger.ledger`` replays it as a call to name the contract's error.
* Threads: one lock around every request (the Flower bridge serves the chain over HTTP from several threads).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import rlp
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.providers import BaseProvider
from web3.types import RPCEndpoint, RPCResponse

from fedledger.exceptions import ConfigurationError

CHAIN_ID = 131277322940537  # eth-tester's, so nothing that recorded the old embedded chain id changes
DEV_ACCOUNTS = 10
DEV_BALANCE = 10**24  # one million ether each, as eth-tester funds its accounts
BASE_FEE = 10**9  # 1 gwei, fixed: there is no fee market on a chain of one user
PRIORITY_FEE = 10**9
BLOCK_GAS_LIMIT = 30_000_000
CLIENT_VERSION = "fedledger-embedded/pyrevm-0.3.7"
ZERO_HASH = "0x" + "00" * 32
EMPTY_UNCLES = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
EMPTY_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
_OUTCOME = re.compile(r"^(Revert|Halt) \{ (?:reason: (?P<reason>[^,]+(?:\([^)]*\))?), )?gas_used: (?P<gas>\d+)"
                      r"(?:, output: 0x(?P<output>[0-9a-fA-F]*))? \}")  # fmt: skip


def dev_key(index: int) -> str:
    """The private key of dev account ``index``: 1, 2, 3... (eth-tester's keys; tests may sign with them)."""
    return f"0x{index + 1:064x}"


def extra_key(index: int) -> str:
    """The private key of account ``index`` (from 10 up) that ``fund_accounts`` adds: the keys the eth-tester
    chain used, so a federation's accounts are the ones they were."""
    return f"0x{0xFED000 + index:064x}"


class RPCError(Exception):
    """A JSON-RPC error answer: ``code``, ``message`` and, for reverts, ``data`` (hex)."""

    def __init__(self, code: int, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data

    def response(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return {"error": error}


@dataclass
class _Outcome:
    """One execution: success, output (revert data when it failed), gas used and refunded, logs."""

    success: bool
    output: bytes
    gas_used: int
    gas_refunded: int = 0
    logs: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    created: str | None = None
    reason: str = ""


@dataclass
class _Block:
    number: int
    timestamp: int
    transactions: list[str] = field(default_factory=list)
    gas_used: int = 0

    @property
    def hash(self) -> str:
        return block_hash(self.number)


def block_hash(number: int) -> str:
    """The hash of block ``number``: what pyrevm's ``BLOCKHASH`` answers for it (revm's in-memory database)."""
    return "0x" + keccak(str(number).encode()).hex()


def _qty(value: Any, default: int = 0) -> int:
    if value is None:
        return default
    if isinstance(value, int):
        return value
    return int(str(value), 16)


def _data(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return bytes.fromhex(str(value).removeprefix("0x"))


def _address(value: Any) -> str:
    return Web3.to_checksum_address(value if isinstance(value, str) else "0x" + bytes(value).hex())


def _hex(value: int) -> str:
    return hex(value)


class EmbeddedChain:
    """The engine and its journal; every public method holds the one lock. Use through ``EmbeddedProvider``."""

    def __init__(self, accounts: int = DEV_ACCOUNTS) -> None:
        from pyrevm import EVM, BlockEnv, CfgEnv, Env  # the [demo] extra; fedledger's core does not need it

        self._BlockEnv = BlockEnv
        self.lock = threading.RLock()
        self.salt = os.urandom(16)  # makes transaction hashes differ between two chains
        self.offset = 0
        self.next_timestamp: int | None = None
        self.automine = True
        self.blocks = [_Block(0, int(time.time()))]
        self.evm = EVM(
            env=Env(cfg=CfgEnv(chain_id=CHAIN_ID), block=self._env(0, self.blocks[0].timestamp)),
            gas_limit=BLOCK_GAS_LIMIT,
            spec_id="CANCUN",
        )
        self.nonces: dict[str, int] = {}
        self.keys: dict[str, str] = {}
        self.accounts: list[str] = []
        self.txs: dict[str, dict[str, Any]] = {}
        self.receipts: dict[str, dict[str, Any]] = {}
        self.pending: list[
            tuple[dict[str, Any], str, str]
        ] = []  # (tx fields, sender, hash) waiting for a block
        self.logs: list[dict[str, Any]] = []  # every log, in chain order
        self._log_keys: list[tuple[int, int]] = []  # (block, logIndex) per entry of ``logs``, for bisection
        self._by_address: dict[str, list[int]] = {}
        self._by_topic: dict[tuple[int, str], list[int]] = {}
        self._numbers: dict[str, int] = {}
        self._snapshots: dict[int, tuple[Any, _Journal]] = {}
        self._snapshot_ids = itertools.count(1)
        for index in range(accounts):
            self.add_account(dev_key(index))

    # ------------------------------------------------------------------ accounts and clock

    def add_account(self, private_key: str, balance: int = DEV_BALANCE) -> str:
        """Fund ``private_key``'s account and let the node sign for it (eth_sendTransaction, eth_accounts)."""
        with self.lock:
            address: str = Account.from_key(private_key).address
            if address not in self.keys:
                self.keys[address] = private_key
                self.accounts.append(address)
                self.evm.set_balance(address, balance)
            return address

    def _env(self, number: int, timestamp: int) -> Any:
        return self._BlockEnv(number=number, timestamp=timestamp, basefee=0, gas_limit=BLOCK_GAS_LIMIT)

    def _next_time(self) -> int:
        """The next block's timestamp: the shifted wall clock, at least one second after the latest block."""
        if self.next_timestamp is not None:
            return self.next_timestamp
        return max(int(time.time()) + self.offset, self.blocks[-1].timestamp + 1)

    # ------------------------------------------------------------------ execution

    def _execute(self, sender: str, to: str | None, data: bytes, value: int, gas: int) -> _Outcome:
        """Run one message in the EVM's current block environment; state changes stay (callers snapshot)."""
        evm = self.evm
        try:
            if to is None:
                self._sync_nonce(sender)
                created = evm.deploy(sender, data, value=value, gas=gas)
                output = b""
            else:
                created = None
                output = bytes(evm.message_call(sender, to, data, value=value, gas=gas))
        except RuntimeError as exc:
            match = _OUTCOME.match(str(exc))
            if match is None:  # refused before running (funds, gas, nonce): a node refuses the same way
                raise RPCError(-32000, f"transaction refused by the EVM: {exc}") from None
            output = bytes.fromhex(match["output"] or "")
            return _Outcome(False, output, int(match["gas"]), reason=match["reason"] or match.group(1))
        result = evm.result
        logs = [
            (log.address, list(log.topics), bytes(log.data[1])) for log in (result.logs if result else [])
        ]
        used = result.gas_used if result else 0
        refunded = result.gas_refunded if result else 0
        return _Outcome(True, output, used, refunded, logs, created)

    def _sync_nonce(self, sender: str) -> None:
        """Give the EVM the sender's nonce before a deployment: it derives the new address from it (message calls
        leave the EVM's nonce alone, so the journal keeps the truth)."""
        from pyrevm import AccountInfo

        nonce = self.nonces.get(sender, 0)
        if self.evm.basic(sender).nonce != nonce:
            balance = self.evm.get_balance(sender)
            self.evm.insert_account_info(sender, AccountInfo(nonce=nonce))
            self.evm.set_balance(sender, balance)

    def _dry_run(self, call: dict[str, Any], pending: bool) -> _Outcome:
        """Execute ``call`` without keeping its effects, in the latest block's environment or the next one's."""
        number = len(self.blocks) if pending else len(self.blocks) - 1
        timestamp = self._next_time() if pending else self.blocks[-1].timestamp
        self.evm.set_block_env(self._env(number, timestamp))
        checkpoint = self.evm.snapshot()
        try:
            sender = _address(call.get("from") or "0x" + "00" * 20)
            to = _address(call["to"]) if call.get("to") else None
            data = _data(call.get("data", call.get("input")))
            return self._execute(
                sender, to, data, _qty(call.get("value")), _qty(call.get("gas"), BLOCK_GAS_LIMIT)
            )
        finally:
            self.evm.revert(checkpoint)

    def call(self, call: dict[str, Any], block: Any) -> str:
        """eth_call at "pending" (the next block) or any other tag: the latest block's environment and the current
        state (no state of older blocks is kept)."""
        with self.lock:
            outcome = self._dry_run(call, pending=block == "pending")
            if not outcome.success:
                raise _reverted(outcome)
            return "0x" + outcome.output.hex()

    def estimate_gas(self, call: dict[str, Any]) -> str:
        """One execution in the next block's environment; an upper bound of what the transaction needs."""
        with self.lock:
            outcome = self._dry_run(call, pending=True)
            if not outcome.success:
                raise _reverted(outcome)
            needed = outcome.gas_used + outcome.gas_refunded
            return _hex(
                min(BLOCK_GAS_LIMIT, needed + needed // 4 + 20_000)
            )  # 63/64 rule and the SSTORE stipend

    # ------------------------------------------------------------------ transactions

    def send_transaction(self, tx: dict[str, Any]) -> str:
        """eth_sendTransaction from an account the node holds."""
        with self.lock:
            sender = _address(tx["from"])
            if sender not in self.keys:
                raise RPCError(-32000, f"unknown account {sender}: the embedded node holds no key for it")
            fields = dict(tx)
            fields.setdefault("nonce", self._pending_nonce(sender))
            if _qty(fields["nonce"]) != self._pending_nonce(sender):
                raise RPCError(-32000, f"nonce {_qty(fields['nonce'])} is not the account's next one")
            tx_hash = (
                "0x"
                + keccak(
                    self.salt + bytes.fromhex(sender[2:]) + _qty(fields["nonce"]).to_bytes(32, "big")
                ).hex()
            )
            return self._accept(fields, sender, tx_hash)

    def send_raw_transaction(self, raw: bytes) -> str:
        """eth_sendRawTransaction: decode a signed legacy or typed transaction, recover its sender, check it."""
        with self.lock:
            try:
                sender = Account.recover_transaction(raw)
                fields = _decode_raw(raw)
            except Exception as exc:
                raise RPCError(-32602, f"cannot decode the signed transaction: {exc}") from None
            chain_id = fields.get("chainId")
            if chain_id is not None and chain_id != CHAIN_ID:
                raise RPCError(-32000, f"invalid chain id {chain_id}: this chain is {CHAIN_ID}")
            nonce = self._pending_nonce(sender)
            if fields["nonce"] < nonce:
                raise RPCError(
                    -32000,
                    f"nonce too low: the account's next nonce is {nonce}, the transaction has {fields['nonce']}",
                )
            if fields["nonce"] > nonce:
                raise RPCError(
                    -32000,
                    f"nonce too high: the account's next nonce is {nonce}, the transaction has {fields['nonce']}",
                )
            return self._accept(fields, sender, "0x" + keccak(raw).hex())

    def _pending_nonce(self, sender: str) -> int:
        return self.nonces.get(sender, 0) + sum(1 for _, who, _ in self.pending if who == sender)

    def _accept(self, fields: dict[str, Any], sender: str, tx_hash: str) -> str:
        """Check the fee and the funds, fill the defaults, then mine it now (automine) or queue it."""
        if "gas" not in fields or fields["gas"] is None:
            fields["gas"] = _qty(self.estimate_gas({**fields, "from": sender}))
        gas = _qty(fields["gas"])
        if gas > BLOCK_GAS_LIMIT:
            raise RPCError(-32000, f"gas limit {gas} exceeds the block gas limit {BLOCK_GAS_LIMIT}")
        price = _effective_price(fields)
        if price < BASE_FEE:
            raise RPCError(-32000, f"max fee per gas {price} is below the base fee {BASE_FEE}")
        value = _qty(fields.get("value"))
        if self.evm.get_balance(sender) < gas * price + value:
            raise RPCError(-32003, f"insufficient funds for gas * price + value: {sender} holds too little")
        tx: dict[str, Any] = {
            "hash": tx_hash,
            "from": sender,
            "to": _address(fields["to"]) if fields.get("to") else None,
            "input": "0x" + _data(fields.get("data", fields.get("input"))).hex(),
            "value": _hex(value),
            "gas": _hex(gas),
            "gasPrice": _hex(price),
            "nonce": _hex(_qty(fields["nonce"])),
            "type": _hex(2 if "maxFeePerGas" in fields else 0),
            "chainId": _hex(CHAIN_ID),
            "v": "0x0", "r": "0x0", "s": "0x0",
            "blockHash": None, "blockNumber": None, "transactionIndex": None,
        }  # fmt: skip
        if "maxFeePerGas" in fields:
            tx["maxFeePerGas"] = _hex(_qty(fields["maxFeePerGas"]))
            tx["maxPriorityFeePerGas"] = _hex(_qty(fields.get("maxPriorityFeePerGas")))
            tx["accessList"] = []
        self.txs[tx_hash] = tx
        self.pending.append((tx, sender, tx_hash))
        if self.automine:
            self.mine()
        return tx_hash

    def mine(self, timestamp: int | None = None) -> None:
        """Mine one block holding every pending transaction, in the order they came."""
        with self.lock:
            if timestamp is not None:
                self.next_timestamp = timestamp
            stamp = self._next_time()
            if self.next_timestamp is not None:  # anvil's rule: the clock goes on from the timestamp set
                self.offset = self.next_timestamp - int(time.time())
                self.next_timestamp = None
            block = _Block(len(self.blocks), stamp)
            self.evm.set_block_env(self._env(block.number, stamp))
            queued, self.pending = self.pending, []
            for index, (tx, sender, tx_hash) in enumerate(queued):
                self._include(block, index, tx, sender, tx_hash)
            self.blocks.append(block)

    def _include(self, block: _Block, index: int, tx: dict[str, Any], sender: str, tx_hash: str) -> None:
        gas, price = _qty(tx["gas"]), _qty(tx["gasPrice"])
        to = tx["to"]
        try:
            outcome = self._execute(sender, to, _data(tx["input"]), _qty(tx["value"]), gas)
        except (
            RPCError
        ) as exc:  # refused by the EVM after it was accepted: mined as failed, like a node would
            outcome = _Outcome(False, b"", min(gas, 21_000), reason=exc.message)
        if outcome.success and outcome.gas_used > gas:  # pragma: no cover - revm keeps within the limit
            outcome = _Outcome(False, b"", gas)
        self.nonces[sender] = self.nonces.get(sender, 0) + 1
        self.evm.set_balance(sender, max(0, self.evm.get_balance(sender) - outcome.gas_used * price))
        block.gas_used += outcome.gas_used
        block.transactions.append(tx_hash)
        tx.update(blockHash=block.hash, blockNumber=_hex(block.number), transactionIndex=_hex(index))
        logs = []
        for offset, (address, topics, data) in enumerate(outcome.logs if outcome.success else []):
            log = {
                "address": _address(address),
                "topics": [t if t.startswith("0x") else "0x" + t for t in topics],
                "data": "0x" + data.hex(),
                "blockNumber": _hex(block.number),
                "blockHash": block.hash,
                "transactionHash": tx_hash,
                "transactionIndex": _hex(index),
                "logIndex": _hex(self._block_log_count(block) + offset),
                "removed": False,
            }
            logs.append(log)
            self._index_log(log, block.number)
        self.receipts[tx_hash] = {
            "transactionHash": tx_hash,
            "transactionIndex": _hex(index),
            "blockHash": block.hash,
            "blockNumber": _hex(block.number),
            "from": sender,
            "to": to,
            "contractAddress": _address(outcome.created) if outcome.created else None,
            "cumulativeGasUsed": _hex(block.gas_used),
            "gasUsed": _hex(outcome.gas_used),
            "effectiveGasPrice": _hex(price),
            "logs": logs,
            "logsBloom": "0x" + "00" * 256,
            "status": "0x1" if outcome.success else "0x0",
            "type": tx["type"],
        }

    def _block_log_count(self, block: _Block) -> int:
        return sum(len(self.receipts[h]["logs"]) for h in block.transactions[:-1])

    def _index_log(self, log: dict[str, Any], number: int) -> None:
        position = len(self.logs)
        self.logs.append(log)
        self._log_keys.append((number, _qty(log["logIndex"])))
        self._by_address.setdefault(log["address"].lower(), []).append(position)
        for slot, topic in enumerate(log["topics"]):
            self._by_topic.setdefault((slot, topic.lower()), []).append(position)

    # ------------------------------------------------------------------ reads

    def block_number(self, tag: Any) -> int | None:
        """A block tag or number as a mined block's number (None for one not mined yet)."""
        latest = len(self.blocks) - 1
        if tag in (None, "latest", "safe", "finalized"):
            return latest
        if tag == "earliest":
            return 0
        if tag == "pending":
            return latest + 1
        number = _qty(tag)
        return number if number <= latest else None

    def block(self, tag: Any, full: bool) -> dict[str, Any] | None:
        with self.lock:
            number = self.block_number(tag)
            if number is None:
                return None
            if number == len(self.blocks):
                block, hash_ = _Block(number, self._next_time()), None
            else:
                block = self.blocks[number]
                hash_ = block.hash
            return {
                "number": _hex(number),
                "hash": hash_,
                "parentHash": block_hash(number - 1) if number else ZERO_HASH,
                "nonce": "0x0000000000000000",
                "sha3Uncles": EMPTY_UNCLES,
                "logsBloom": "0x" + "00" * 256,
                "transactionsRoot": EMPTY_ROOT,
                "stateRoot": EMPTY_ROOT,
                "receiptsRoot": EMPTY_ROOT,
                "miner": "0x" + "00" * 20,
                "difficulty": "0x0",
                "totalDifficulty": "0x0",
                "mixHash": ZERO_HASH,
                "extraData": "0x",
                "size": "0x0",
                "gasLimit": _hex(BLOCK_GAS_LIMIT),
                "gasUsed": _hex(block.gas_used),
                "timestamp": _hex(block.timestamp),
                "baseFeePerGas": _hex(BASE_FEE),
                "transactions": [self.txs[h] for h in block.transactions]
                if full
                else list(block.transactions),
                "uncles": [],
            }

    def block_by_hash(self, wanted: Any, full: bool) -> dict[str, Any] | None:
        with self.lock:
            number = self._hash_numbers().get(_as_list(wanted)[0].lower())
            return None if number is None else self.block(number, full)

    def _hash_numbers(self) -> dict[str, int]:
        """Block hash -> number, kept as blocks are mined (and rebuilt after a revert)."""
        while len(self._numbers) < len(self.blocks):
            self._numbers[block_hash(len(self._numbers))] = len(self._numbers)
        return self._numbers

    def get_logs(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """eth_getLogs from the index: the smallest candidate list (by address or by a topic), then filtered."""
        with self.lock:
            if query.get("blockHash"):
                number = self._hash_numbers().get(_as_list(query["blockHash"])[0].lower())
                if number is None:
                    raise RPCError(-32000, f"unknown block {query['blockHash']}")
                start = end = number
            else:
                first = self.block_number(query.get("fromBlock", "latest"))
                last = self.block_number(query.get("toBlock", "latest"))
                latest = len(self.blocks) - 1
                start = latest + 1 if first is None else first
                end = latest if last is None or last > latest else last
            addresses = _as_list(query.get("address"))
            topics = [(slot, _as_list(t)) for slot, t in enumerate(query.get("topics") or [])]
            candidates: list[list[int]] = []
            if addresses:
                candidates.append(_merged(self._by_address.get(a.lower(), []) for a in addresses))
            for slot, wanted in topics:
                if wanted:
                    candidates.append(_merged(self._by_topic.get((slot, t.lower()), []) for t in wanted))
            pool = min(candidates, key=len) if candidates else list(range(len(self.logs)))
            keys = [self._log_keys[i] for i in pool]
            low, high = bisect.bisect_left(keys, (start, -1)), bisect.bisect_right(keys, (end, 1 << 62))
            address_set = {a.lower() for a in addresses}
            found = []
            for i in pool[low:high]:
                log = self.logs[i]
                if address_set and log["address"].lower() not in address_set:
                    continue
                if all(
                    not wanted
                    or (
                        slot < len(log["topics"])
                        and log["topics"][slot].lower() in {t.lower() for t in wanted}
                    )
                    for slot, wanted in topics
                ):
                    found.append(log)
            return found

    def balance(self, address: str) -> int:
        with self.lock:
            return self.evm.get_balance(_address(address))

    def code(self, address: str) -> str:
        """The runtime code at ``address``, as deployed: revm pads the code it keeps with up to 33 zero bytes
        (and so pyrevm's ``get_code`` answers), so its true length is asked of ``EXTCODESIZE``."""
        with self.lock:
            target = _address(address)
            padded = bytes(self.evm.get_code(target) or b"")
            if not padded:
                return "0x"
            probe = bytes.fromhex("73" + target[2:] + "3b60005260206000fd")  # revert(extcodesize(target))
            checkpoint = self.evm.snapshot()
            try:
                outcome = self._execute("0x" + "00" * 20, None, probe, 0, 100_000)
            finally:
                self.evm.revert(checkpoint)
            return "0x" + padded[: int.from_bytes(outcome.output, "big")].hex()

    def transaction_count(self, address: str, tag: Any) -> int:
        with self.lock:
            sender = _address(address)
            return self._pending_nonce(sender) if tag == "pending" else self.nonces.get(sender, 0)

    def storage(self, address: str, slot: int) -> str:
        with self.lock:
            return "0x" + self.evm.storage(_address(address), slot).to_bytes(32, "big").hex()

    def set_storage(self, address: str, slot: int, value: int) -> None:
        with self.lock:
            self.evm.insert_account_storage(_address(address), slot, value)

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> int:
        with self.lock:
            ident = next(self._snapshot_ids)
            self._snapshots[ident] = (self.evm.snapshot(), self._journal())
            return ident

    def revert(self, ident: int) -> bool:
        """Go back to snapshot ``ident``, dropping later ones; the snapshot itself stays usable (hardhat and
        anvil consume it: a test that reverts to one point again and again would have to take it again)."""
        with self.lock:
            taken = self._snapshots.get(ident)
            if taken is None:
                return False
            checkpoint, journal = taken
            self.evm.revert(checkpoint)
            self._restore(journal)
            for later in [i for i in self._snapshots if i > ident]:
                del self._snapshots[later]
            self._snapshots[ident] = (self.evm.snapshot(), journal)
            return True

    def _journal(self) -> _Journal:
        return _Journal(
            len(self.blocks), self.blocks[-1].transactions[:], self.blocks[-1].gas_used, dict(self.nonces),
            len(self.logs), set(self.txs), self.offset, self.next_timestamp, list(self.pending),
        )  # fmt: skip

    def _restore(self, journal: _Journal) -> None:
        del self.blocks[journal.blocks :]
        self._numbers = {h: n for h, n in self._numbers.items() if n < journal.blocks}
        self.blocks[-1].transactions, self.blocks[-1].gas_used = journal.last_txs[:], journal.last_gas
        self.nonces = dict(journal.nonces)
        for index_list in itertools.chain(self._by_address.values(), self._by_topic.values()):
            while index_list and index_list[-1] >= journal.logs:
                index_list.pop()
        del self.logs[journal.logs :], self._log_keys[journal.logs :]
        for tx_hash in set(self.txs) - journal.txs:
            del self.txs[tx_hash]
            self.receipts.pop(tx_hash, None)
        self.offset, self.next_timestamp, self.pending = (
            journal.offset,
            journal.next_timestamp,
            list(journal.pending),
        )


@dataclass(frozen=True)
class _Journal:
    """What a snapshot must restore besides the EVM's state."""

    blocks: int
    last_txs: list[str]
    last_gas: int
    nonces: dict[str, int]
    logs: int
    txs: set[str]
    offset: int
    next_timestamp: int | None
    pending: list[tuple[dict[str, Any], str, str]]


def _merged(lists: Iterable[list[int]]) -> list[int]:
    chosen = [lst for lst in lists if lst]
    if len(chosen) <= 1:
        return chosen[0] if chosen else []
    return list(dict.fromkeys(heapq.merge(*chosen)))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) if isinstance(v, str) else "0x" + bytes(v).hex() for v in value if v is not None]
    return [value if isinstance(value, str) else "0x" + bytes(value).hex()]


def _reverted(outcome: _Outcome) -> RPCError:
    if outcome.reason and outcome.reason != "Revert":
        return RPCError(-32000, f"execution halted: {outcome.reason}")
    return RPCError(3, "execution reverted", "0x" + outcome.output.hex())


def _effective_price(fields: dict[str, Any]) -> int:
    if fields.get("maxFeePerGas") is not None:
        tip = _qty(fields.get("maxPriorityFeePerGas"))
        return min(_qty(fields["maxFeePerGas"]), BASE_FEE + tip)
    return _qty(fields.get("gasPrice"), BASE_FEE)


def _decode_raw(raw: bytes) -> dict[str, Any]:
    """The fields of a signed transaction (legacy RLP or EIP-2718 typed), with ints and a hex ``to``/``data``."""
    if raw and raw[0] < 0x7F:
        fields = dict(TypedTransaction.from_bytes(HexBytes(raw)).as_dict())
    else:  # legacy: rlp([nonce, gasPrice, gas, to, value, data, v, r, s])
        nonce, price, gas, to_, value, data, v, _, _ = rlp.decode(raw)
        number = [int.from_bytes(x, "big") for x in (nonce, price, gas, value, v)]
        fields = {"nonce": number[0], "gasPrice": number[1], "gas": number[2], "to": to_, "value": number[3],
                  "data": data, "chainId": (number[4] - 35) // 2 if number[4] >= 35 else None}  # fmt: skip
    to = fields.get("to")
    fields["to"] = "0x" + bytes(to).hex() if to else None
    fields["data"] = "0x" + bytes(fields.get("data") or b"").hex()
    return fields


class EmbeddedProvider(BaseProvider):
    """A web3 provider that answers JSON-RPC from an ``EmbeddedChain`` in this process (wire-format answers)."""

    def __init__(self, chain: EmbeddedChain | None = None) -> None:
        super().__init__()
        self.chain = chain if chain is not None else EmbeddedChain()

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        """Answer one request: ``{"jsonrpc", "id", "result"}`` or ``{"jsonrpc", "id", "error"}``."""
        try:
            result = self._answer(str(method), list(params or []))
        except RPCError as exc:
            return {"jsonrpc": "2.0", "id": 0, **exc.response()}  # type: ignore[typeddict-item]
        return {"jsonrpc": "2.0", "id": 0, "result": result}

    def _answer(self, method: str, params: list[Any]) -> Any:
        chain = self.chain
        with chain.lock:
            match method:
                case "eth_chainId":
                    return _hex(CHAIN_ID)
                case "net_version":
                    return str(CHAIN_ID)
                case "web3_clientVersion":
                    return CLIENT_VERSION
                case "net_listening":
                    return True
                case "eth_syncing":
                    return False
                case "eth_blockNumber":
                    return _hex(len(chain.blocks) - 1)
                case "eth_accounts":
                    return list(chain.accounts)
                case "eth_gasPrice":
                    return _hex(BASE_FEE + PRIORITY_FEE)
                case "eth_maxPriorityFeePerGas":
                    return _hex(PRIORITY_FEE)
                case "eth_feeHistory":
                    blocks = max(1, _qty(params[0]))
                    return {
                        "oldestBlock": _hex(max(0, len(chain.blocks) - blocks)),
                        "baseFeePerGas": [_hex(BASE_FEE)] * (blocks + 1),
                        "gasUsedRatio": [0.0] * blocks,
                        "reward": [[_hex(PRIORITY_FEE)] * len(params[2] if len(params) > 2 else [])] * blocks,
                    }
                case "eth_getBlockByNumber":
                    return chain.block(params[0], bool(params[1]) if len(params) > 1 else False)
                case "eth_getBlockByHash":
                    return chain.block_by_hash(params[0], bool(params[1]) if len(params) > 1 else False)
                case "eth_getBalance":
                    return _hex(chain.balance(params[0]))
                case "eth_getTransactionCount":
                    return _hex(
                        chain.transaction_count(params[0], params[1] if len(params) > 1 else "latest")
                    )
                case "eth_getStorageAt":
                    return chain.storage(params[0], _qty(params[1]))
                case "eth_getCode":
                    return chain.code(params[0])
                case "eth_call":
                    return chain.call(params[0], params[1] if len(params) > 1 else "latest")
                case "eth_estimateGas":
                    return chain.estimate_gas(params[0])
                case "eth_sendTransaction":
                    return chain.send_transaction(params[0])
                case "eth_sendRawTransaction":
                    return chain.send_raw_transaction(_data(params[0]))
                case "eth_getTransactionReceipt":
                    return chain.receipts.get(str(params[0]).lower())
                case "eth_getTransactionByHash":
                    return chain.txs.get(str(params[0]).lower())
                case "eth_getLogs":
                    return chain.get_logs(params[0])
                case "evm_snapshot":
                    return _hex(chain.snapshot())
                case "evm_revert":
                    return chain.revert(_qty(params[0]))
                case "evm_increaseTime":
                    chain.offset += _qty(params[0])
                    return _hex(chain.offset)
                case "evm_setNextBlockTimestamp":
                    wanted = _qty(params[0])
                    if wanted <= chain.blocks[-1].timestamp:
                        raise RPCError(-32000, f"timestamp {wanted} is not after the latest block's")
                    chain.next_timestamp = wanted
                    return None
                case "evm_mine":
                    chain.mine(_qty(params[0]) if params and params[0] is not None else None)
                    return "0x0"
                case "evm_setAutomine":
                    chain.automine = bool(params[0])
                    return None
                case "anvil_setStorageAt" | "hardhat_setStorageAt":
                    chain.set_storage(params[0], _qty(params[1]), int.from_bytes(_data(params[2]), "big"))
                    return True
            raise RPCError(-32601, f"the embedded chain does not support {method}")


def embedded_web3() -> Web3:
    """A Web3 on a fresh embedded chain; ConfigurationError if pyrevm (the [demo] extra) is missing."""
    try:
        import pyrevm  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ConfigurationError(
            "the embedded chain needs the [demo] extra: pip install 'fedledger[demo]'"
        ) from None
    return Web3(EmbeddedProvider())


def is_embedded(w3: Web3) -> bool:
    """Whether ``w3`` talks to an embedded chain of this process (gone when the process ends)."""
    return isinstance(w3.provider, EmbeddedProvider)


def fund_accounts(w3: Web3, count: int) -> list[str]:
    """The first ``count`` node-held accounts of an embedded chain, adding funded ones beyond its ten."""
    chain = _chain(w3)
    with chain.lock:
        while len(chain.accounts) < count:
            chain.add_account(extra_key(len(chain.accounts)))
        return chain.accounts[:count]


def add_account(w3: Web3, private_key: str) -> str:
    """Fund ``private_key``'s account on an embedded chain and let the node hold it; return its address."""
    return _chain(w3).add_account(private_key)


def advance_time(w3: Web3, to_timestamp: int) -> int:
    """Mine a block at ``to_timestamp``, or at once if the chain is already there (standard methods: works on
    anvil too); return the new block's timestamp."""
    if to_timestamp > int(w3.eth.get_block("latest")["timestamp"]):
        w3.provider.make_request(RPCEndpoint("evm_setNextBlockTimestamp"), [to_timestamp])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])
    return int(w3.eth.get_block("latest")["timestamp"])


def set_automine(w3: Web3, on: bool) -> None:
    """Mine each transaction at once (the default) or keep them pending until ``mine``."""
    w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [on])


def mine(w3: Web3) -> None:
    """Mine one block (with every pending transaction)."""
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def set_storage(w3: Web3, address: str, slot: int, value: int) -> None:
    """Write a contract's storage word (tests that build a state no transactions could build quickly)."""
    w3.provider.make_request(
        RPCEndpoint("anvil_setStorageAt"), [address, hex(slot), "0x" + value.to_bytes(32, "big").hex()]
    )


def _chain(w3: Web3) -> EmbeddedChain:
    if not isinstance(w3.provider, EmbeddedProvider):
        raise ConfigurationError("this is not an embedded chain: only the embedded chain creates accounts")
    return w3.provider.chain

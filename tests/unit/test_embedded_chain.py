"""The embedded chain (fedledger.embedded_chain) behaves like a node to web3: receipts, logs, reverts with the
contract's own errors, signed transactions and their nonces, the clock, snapshots, and block hashes that agree
with the EVM's BLOCKHASH."""

from __future__ import annotations

import itertools
import threading

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractCustomError, Web3RPCError

from fedledger.artifact import load_artifact
from fedledger.embedded_chain import (
    CHAIN_ID,
    EmbeddedProvider,
    advance_time,
    dev_key,
    fund_accounts,
    is_embedded,
)
from fedledger.exceptions import ContractRevertError
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect
from fedledger.records import TaskLimits
from fedledger.revert import RevertDecoder, revert_data

CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
# Runtime code: return (timestamp, number, blockhash(number - 1)) as three words; deployed by a 12-byte prefix.
CLOCK_RUNTIME = bytes.fromhex("42600052436020526001430340604052606060" + "00f3")
CLOCK_INIT = (
    bytes.fromhex(f"60{len(CLOCK_RUNTIME):02x}600c60003960{len(CLOCK_RUNTIME):02x}6000f3") + CLOCK_RUNTIME
)


@pytest.fixture
def w3() -> Web3:
    return connect(EMBEDDED)


def _task(ledger: Ledger, owner: Signer) -> int:
    task, _ = ledger.create_task(
        owner, aggregator=owner.address, initial_digest=b"\x01" * 32, initial_cid=CID, quorum=1,
        round_duration=600, strategy="fedavg", limits=TaskLimits(),
    )  # fmt: skip
    return task


def _clock(w3: Web3) -> tuple[str, tuple[int, int, bytes]]:
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "data": CLOCK_INIT})  # type: ignore[typeddict-item]
    address = w3.eth.get_transaction_receipt(tx)["contractAddress"]
    assert address is not None

    def read() -> tuple[int, int, bytes]:
        out = bytes(w3.eth.call({"to": address}))
        return int.from_bytes(out[:32]), int.from_bytes(out[32:64]), out[64:96]

    return address, read()


def test_deploy_and_a_transaction_give_receipts_with_their_fields(w3: Web3) -> None:
    # Prepare
    owner = Signer(w3.eth.accounts[0])
    # Execute
    ledger, deployed = Ledger.deploy(w3, owner)
    task = _task(ledger, owner)
    receipt = w3.eth.get_transaction_receipt(w3.eth.get_block("latest")["transactions"][0])  # type: ignore[index]
    # Assert: a contract the client recognises, one block per transaction, logs in the receipt
    assert is_embedded(w3) and w3.eth.chain_id == CHAIN_ID
    assert deployed.block_number == 1 and receipt["blockNumber"] == 2 == w3.eth.block_number
    assert receipt["status"] == 1 and receipt["from"] == owner.address and receipt["to"] == ledger.address
    assert (
        0 < receipt["gasUsed"] < 1_000_000
        and receipt["logs"][0]["transactionHash"] == receipt["transactionHash"]
    )
    assert ledger.get_task(task).owner == owner.address
    assert w3.eth.get_transaction_count(owner.address) == 2


def test_logs_filter_by_address_topic_or_list_and_block_range(w3: Web3) -> None:
    # Prepare: three tasks in blocks 2, 3, 4 (each emits TaskCreated with the task id as its first indexed topic)
    owner = Signer(w3.eth.accounts[0])
    ledger, _ = Ledger.deploy(w3, owner)
    tasks = [_task(ledger, owner) for _ in range(3)]
    every = w3.eth.get_logs({"address": ledger.address, "fromBlock": 0, "toBlock": "latest"})
    created = every[0]["topics"][0]
    second, third = (t.to_bytes(32, "big") for t in tasks[1:])
    # Execute
    by_topic = w3.eth.get_logs({"fromBlock": 0, "topics": [created, [second, third]]})  # type: ignore[list-item]
    in_range = w3.eth.get_logs({"address": ledger.address, "fromBlock": 3, "toBlock": 3})
    by_hash = w3.eth.get_logs({"blockHash": w3.eth.get_block(4)["hash"]})  # type: ignore[typeddict-item]
    wildcard = w3.eth.get_logs({"fromBlock": 0, "topics": [None, third]})  # type: ignore[list-item]
    elsewhere = w3.eth.get_logs({"address": "0x" + "11" * 20, "fromBlock": 0})
    # Assert
    assert [log["blockNumber"] for log in by_topic] == [3, 4]
    assert {log["blockNumber"] for log in in_range} == {3} and in_range == [
        e for e in every if e["blockNumber"] == 3
    ]
    assert by_hash == [e for e in every if e["blockNumber"] == 4]
    assert wildcard and all(bytes(log["topics"][1]) == third for log in wildcard)
    assert elsewhere == []


def test_a_revert_carries_its_data_and_decodes_to_the_contract_error(w3: Web3) -> None:
    # Prepare: a stranger calls openRound on a task it does not own
    owner = Signer(w3.eth.accounts[0])
    ledger, _ = Ledger.deploy(w3, owner)
    task = _task(ledger, owner)
    fn = ledger.contract.functions.openRound(task)
    # Execute
    with pytest.raises(ContractCustomError) as by_estimate:
        fn.transact({"from": w3.eth.accounts[3]})
    mined = fn.transact({"from": w3.eth.accounts[3], "gas": 300_000})
    with pytest.raises(ContractRevertError) as by_ledger:
        ledger.open_round(Signer(w3.eth.accounts[3]), task)
    # Assert: the refusal names the contract's error; a transaction with its own gas limit is mined with status 0
    error = RevertDecoder(load_artifact()["abi"]).decode(revert_data(by_estimate.value), "openRound")
    assert isinstance(error, ContractRevertError) and error.error_name.startswith("FederatedRounds")
    assert by_ledger.value.error_name == error.error_name
    assert w3.eth.get_transaction_receipt(mined)["status"] == 0


def test_signed_raw_transactions_are_accepted_and_a_wrong_nonce_refused(w3: Web3) -> None:
    # Prepare: a fresh key, funded by a dev account
    key = "0x" + "ab" * 32
    sender = Account.from_key(key).address
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": sender, "value": 10**18})
    tx = {"to": w3.eth.accounts[1], "value": 5, "gas": 21_000, "maxFeePerGas": 3 * 10**9,
          "maxPriorityFeePerGas": 10**9, "nonce": 0, "chainId": CHAIN_ID}  # fmt: skip
    legacy = {"to": w3.eth.accounts[1], "value": 6, "gas": 21_000, "gasPrice": 2 * 10**9, "nonce": 1,
              "chainId": CHAIN_ID}  # fmt: skip
    before = w3.eth.get_balance(w3.eth.accounts[1])
    # Execute
    first = w3.eth.send_raw_transaction(Account.sign_transaction(tx, key).raw_transaction)
    second = w3.eth.send_raw_transaction(Account.sign_transaction(legacy, key).raw_transaction)
    with pytest.raises(Web3RPCError) as replayed:
        w3.eth.send_raw_transaction(Account.sign_transaction(tx, key).raw_transaction)
    with pytest.raises(Web3RPCError) as other_chain:
        w3.eth.send_raw_transaction(
            Account.sign_transaction({**tx, "nonce": 2, "chainId": 1}, key).raw_transaction
        )
    # Assert
    assert (
        w3.eth.get_transaction_receipt(first)["status"]
        == 1
        == w3.eth.get_transaction_receipt(second)["status"]
    )
    assert w3.eth.get_transaction(first)["from"] == sender
    assert w3.eth.get_balance(w3.eth.accounts[1]) == before + 11
    assert w3.eth.get_transaction_count(sender) == 2
    assert "nonce too low" in str(replayed.value) and "chain id" in str(other_chain.value)


def test_an_unfunded_key_is_refused_for_gas(w3: Web3) -> None:
    # Prepare
    key = "0x" + "cd" * 32
    tx = {
        "to": w3.eth.accounts[1],
        "value": 0,
        "gas": 21_000,
        "gasPrice": 10**9,
        "nonce": 0,
        "chainId": CHAIN_ID,
    }
    # Execute / Assert
    with pytest.raises(Web3RPCError, match="insufficient funds"):
        w3.eth.send_raw_transaction(Account.sign_transaction(tx, key).raw_transaction)


def test_time_advances_block_timestamps_and_calls_see_the_latest_block(w3: Web3) -> None:
    # Prepare
    address, (stamp, number, _) = _clock(w3)
    latest = w3.eth.get_block("latest")
    # Execute
    reached = advance_time(w3, latest["timestamp"] + 3600)
    after = w3.eth.call({"to": address})
    # Assert: eth_call runs in the latest block (its timestamp and number), which is now an hour on
    assert (stamp, number) == (latest["timestamp"], latest["number"])
    assert reached == latest["timestamp"] + 3600 == w3.eth.get_block("latest")["timestamp"]
    assert int.from_bytes(bytes(after)[:32]) == reached and int.from_bytes(bytes(after)[32:64]) == number + 1
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": w3.eth.accounts[1], "value": 1})
    assert w3.eth.get_block("latest")["timestamp"] > reached


def test_blockhash_in_the_evm_is_the_hash_the_chain_reports(w3: Web3) -> None:
    # Prepare
    _clock(w3)
    address, _ = _clock(w3)
    # Execute
    out = bytes(w3.eth.call({"to": address}))
    number, previous = int.from_bytes(out[32:64]), out[64:96]
    # Assert
    assert previous == bytes(w3.eth.get_block(number - 1)["hash"]) and any(previous)
    assert w3.eth.get_block(number)["parentHash"] == w3.eth.get_block(number - 1)["hash"]


def test_snapshot_and_revert_restore_state_blocks_and_logs(w3: Web3) -> None:
    # Prepare
    owner = Signer(w3.eth.accounts[0])
    ledger, _ = Ledger.deploy(w3, owner)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    blocks = w3.eth.block_number
    # Execute: a task after the snapshot, then back, twice (the snapshot stays usable)
    for _ in range(2):
        _task(ledger, owner)
        assert ledger.task_count() == 1
        w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
    # Assert
    assert ledger.task_count() == 0 and w3.eth.block_number == blocks
    assert w3.eth.get_logs({"address": ledger.address, "fromBlock": 0}) == []
    assert w3.eth.get_transaction_count(owner.address) == 1
    assert _task(ledger, owner) == 1


def test_more_accounts_are_funded_and_held_by_the_node(w3: Web3) -> None:
    # Execute
    accounts = fund_accounts(w3, 12)
    # Assert: ten dev accounts with eth-tester's keys, then two more, all funded and usable
    assert accounts[:10] == w3.eth.accounts[:10] and len(w3.eth.accounts) == 12
    assert accounts[1] == Account.from_key(dev_key(1)).address
    tx = w3.eth.send_transaction({"from": accounts[11], "to": accounts[0], "value": 1})
    assert w3.eth.get_transaction_receipt(tx)["status"] == 1


def test_two_chains_do_not_share_transaction_hashes() -> None:
    # Prepare / Execute: the same transaction on two fresh chains
    hashes = []
    for _ in range(2):
        w3 = Web3(EmbeddedProvider())
        hashes.append(
            w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": w3.eth.accounts[1], "value": 1})
        )
    # Assert
    assert hashes[0] != hashes[1]


def test_transactions_from_several_threads_each_get_their_own_block(w3: Web3) -> None:
    # Prepare: four senders, twenty transfers each, sent side by side (the Flower bridge serves from threads)
    senders = w3.eth.accounts[1:5]
    start = w3.eth.block_number

    def send(sender: str) -> None:
        for _ in range(20):
            w3.eth.send_transaction({"from": sender, "to": w3.eth.accounts[0], "value": 1})

    # Execute
    threads = [threading.Thread(target=send, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Assert: every transaction mined once, in its own block, nonces without gaps
    assert w3.eth.block_number == start + 80
    assert [w3.eth.get_transaction_count(s) for s in senders] == [20] * 4
    blocks = [w3.eth.get_block(n) for n in range(start + 1, start + 81)]
    assert all(len(b["transactions"]) == 1 for b in blocks)
    assert all(b["timestamp"] > a["timestamp"] for a, b in itertools.pairwise(blocks))

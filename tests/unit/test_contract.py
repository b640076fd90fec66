"""The round contract's behaviour through web3.py on the embedded chain, deployed from the committed artifact.

One test per custom-error path plus the two round lifecycles (finalize, fail). The exhaustive per-function suite is
tests/contracts/FederatedRounds.test.js; this one proves the artifact the Python side ships behaves the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import pytest
from eth_abi import decode as abi_decode
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak, to_checksum_address
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD

from fedledger.artifact import load_artifact

DURATION = 3600
QUORUM = 2
INITIAL_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
UPDATE_CID = "bafkreidivzimqfqtoqxkrpge6bjyhlvxqs3rhe73owtmdulaxr5do5in7u"
GLOBAL_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
ZERO = b"\x00" * 32


def digest(label: str) -> bytes:
    return sha256(label.encode()).digest()


def bits(*indices: int) -> bytes:
    """Inclusion bitmap with bit i set per submission index i (as fedledger/inclusion.py encodes it)."""
    return sum(1 << i for i in indices).to_bytes(32, "big")


INITIAL = digest("initial model")


def _revert_data(exc: BaseException) -> bytes:
    """Raw revert data (selector + args) from web3's ContractCustomError or eth-tester's TransactionFailed.

    web3's eth-tester provider re-raises the revert as a message string; the original, with the bytes, is its
    ``__context__``.
    """
    for err in (exc, exc.__context__):
        if isinstance(err, ContractCustomError) and isinstance(err.data, str):
            return bytes.fromhex(err.data.removeprefix("0x"))
        if isinstance(err, TransactionFailed) and err.args:
            arg = err.args[0]
            arg = arg.args[0] if isinstance(arg, Exception) and arg.args else arg
            if isinstance(arg, bytes):
                return arg
    raise AssertionError(f"no revert data in {exc!r}")


def _decode_error(abi: list[dict[str, Any]], data: bytes) -> tuple[str, tuple[Any, ...]]:
    """(error name, decoded args) for revert data, matched against the ABI's error entries."""
    for entry in abi:
        if entry["type"] != "error":
            continue
        types = [p["type"] for p in entry["inputs"]]
        if keccak(text=f"{entry['name']}({','.join(types)})")[:4] == data[:4]:
            args = abi_decode(types, data[4:])
            return entry["name"], tuple(
                to_checksum_address(a) if t == "address" else a for t, a in zip(types, args)
            )
    raise AssertionError(f"revert data {data.hex()} matches no error of the ABI")


@dataclass
class Chain:
    """The deployed contract with named accounts; task 1 exists (quorum 2, alice, bob and carol allowlisted)."""

    w3: Web3
    rounds: Contract
    owner: str
    agg: str
    alice: str
    bob: str
    carol: str
    stranger: str

    def tx(self, fn: Any, sender: str) -> Any:
        """Send ``fn`` from ``sender`` and return the receipt."""
        return self.w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))

    def events(self, receipt: Any, name: str) -> list[dict[str, Any]]:
        return [dict(e["args"]) for e in self.rounds.events[name]().process_receipt(receipt, errors=DISCARD)]

    def task(self, task_id: int = 1) -> dict[str, Any]:
        names = [c["name"] for c in _outputs(self.rounds, "getTask")]
        return dict(zip(names, self.rounds.functions.getTask(task_id).call()))

    def travel_to(self, timestamp: int) -> None:
        """Make the next block's timestamp ``timestamp``."""
        self.w3.provider.ethereum_tester.time_travel(timestamp)  # type: ignore[attr-defined]

    def open(self) -> int:
        """Open round 1 of task 1; returns its deadline."""
        self.tx(self.rounds.functions.openRound(1), self.owner)
        return int(self.task()["deadline"])

    def submit(self, sender: str, label: str, round_: int = 1) -> Any:
        return self.tx(self.rounds.functions.submitUpdate(1, round_, digest(label), UPDATE_CID, 100), sender)

    def finalize(self, included: bytes, num_included: int, round_: int = 1, sender: str | None = None) -> Any:
        fn = self.rounds.functions.finalizeRound(1, round_, digest("g1"), GLOBAL_CID, included, num_included)
        return self.tx(fn, sender or self.agg)

    @contextmanager
    def reverts(self, name: str, *args: Any) -> Iterator[None]:
        """Assert the block raises the contract's custom error ``name`` with exactly ``args``."""
        with pytest.raises((ContractCustomError, TransactionFailed)) as info:
            yield
        assert _decode_error(self.rounds.abi, _revert_data(info.value)) == (name, args)


def _outputs(contract: Contract, fn_name: str) -> list[dict[str, Any]]:
    (entry,) = [e for e in contract.abi if e.get("name") == fn_name and e["type"] == "function"]
    return list(entry["outputs"][0]["components"])


@pytest.fixture(scope="module")
def artifact() -> dict[str, Any]:
    return load_artifact()


@pytest.fixture(scope="module")
def deployed(artifact: dict[str, Any]) -> Chain:
    w3 = Web3(EthereumTesterProvider())
    owner, agg, alice, bob, carol, stranger = w3.eth.accounts[:6]
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": owner}))
    rounds = w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])
    c = Chain(w3, rounds, owner, agg, alice, bob, carol, stranger)
    c.tx(rounds.functions.createTask(agg, INITIAL, INITIAL_CID, QUORUM, DURATION, "fedavg"), owner)
    for p in (alice, bob, carol):
        c.tx(rounds.functions.addParticipant(1, p), owner)
    return c


@pytest.fixture
def chain(deployed: Chain) -> Iterator[Chain]:
    """The deployed chain, rolled back after each test (deploying afresh costs about 0.3 s)."""
    tester = deployed.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    snapshot = tester.take_snapshot()
    yield deployed
    tester.revert_to_snapshot(snapshot)


# ---------------------------------------------------------------------------------------------- lifecycles


def test_finalized_round_opens_next_round_on_the_new_global_model(chain: Chain) -> None:
    # Prepare
    chain.open()
    for who, label in ((chain.alice, "a"), (chain.bob, "b"), (chain.carol, "c")):
        chain.submit(who, label)

    # Execute: everyone submitted, so no need to wait for the deadline
    receipt = chain.finalize(bits(0, 2), 2)

    # Assert
    assert chain.events(receipt, "RoundFinalized") == [
        {
            "taskId": 1,
            "round": 1,
            "globalDigest": digest("g1"),
            "globalCid": GLOBAL_CID,
            "includedRoot": bits(0, 2),
            "numIncluded": 2,
        }
    ]
    (opened,) = chain.events(receipt, "RoundOpened")
    assert (opened["round"], opened["baseDigest"]) == (2, digest("g1"))
    task = chain.task()
    assert (task["round"], task["submissions"], task["modelDigest"], task["modelCid"]) == (
        2,
        0,
        digest("g1"),
        GLOBAL_CID,
    )


def test_round_below_quorum_at_deadline_fails_and_reopens_on_the_same_base(chain: Chain) -> None:
    # Prepare
    deadline = chain.open()
    chain.submit(chain.alice, "a")
    chain.travel_to(deadline)

    # Execute: anyone may close it
    receipt = chain.tx(chain.rounds.functions.closeFailedRound(1, 1), chain.stranger)

    # Assert
    assert chain.events(receipt, "RoundFailed") == [{"taskId": 1, "round": 1}]
    (opened,) = chain.events(receipt, "RoundOpened")
    assert (opened["round"], opened["baseDigest"]) == (2, INITIAL)
    assert chain.task()["modelCid"] == INITIAL_CID
    chain.submit(chain.alice, "a2", round_=2)  # the new round takes submissions again


def test_submit_gas_is_flat_in_participants_and_well_under_60k(chain: Chain) -> None:
    def submit_gas(n: int) -> int:
        rounds = chain.rounds.functions
        chain.tx(rounds.createTask(chain.agg, INITIAL, INITIAL_CID, 1, DURATION, "fedavg"), chain.owner)
        task_id = rounds.taskCount().call()
        chain.tx(rounds.addParticipant(task_id, chain.stranger), chain.owner)
        for i in range(1, n):
            chain.tx(rounds.addParticipant(task_id, to_checksum_address(f"0x{2000 + i:040x}")), chain.owner)
        chain.tx(rounds.openRound(task_id), chain.owner)
        fn = rounds.submitUpdate(task_id, 1, digest("u"), UPDATE_CID, 1000)
        return int(chain.tx(fn, chain.stranger)["gasUsed"])

    gas2, gas50 = submit_gas(2), submit_gas(50)

    assert gas2 == gas50
    assert gas2 < 50_000


# ---------------------------------------------------------------------------------------------- custom errors

CreateArgs = Callable[[str], tuple[Any, ...]]


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("aggregator", lambda agg: ("0x" + "00" * 20, INITIAL, INITIAL_CID, QUORUM, DURATION, "fedavg")),
        ("initialDigest", lambda agg: (agg, ZERO, INITIAL_CID, QUORUM, DURATION, "fedavg")),
        ("initialCid", lambda agg: (agg, INITIAL, "", QUORUM, DURATION, "fedavg")),
        ("quorum", lambda agg: (agg, INITIAL, INITIAL_CID, 0, DURATION, "fedavg")),
        ("roundDuration", lambda agg: (agg, INITIAL, INITIAL_CID, QUORUM, 0, "fedavg")),
        ("strategy", lambda agg: (agg, INITIAL, INITIAL_CID, QUORUM, DURATION, "")),
    ],
)
def test_rejects_task_with_unusable_parameter(chain: Chain, name: str, args: CreateArgs) -> None:
    with chain.reverts("FederatedRoundsInvalidParameter", name):
        chain.tx(chain.rounds.functions.createTask(*args(chain.agg)), chain.owner)


def test_rejects_unknown_task(chain: Chain) -> None:
    with chain.reverts("FederatedRoundsUnknownTask", 7):
        chain.tx(chain.rounds.functions.openRound(7), chain.owner)


def test_rejects_allowlist_change_by_non_owner(chain: Chain) -> None:
    with chain.reverts("FederatedRoundsNotOwner", 1, chain.agg):
        chain.tx(chain.rounds.functions.addParticipant(1, chain.stranger), chain.agg)


def test_rejects_finalize_by_non_aggregator(chain: Chain) -> None:
    chain.travel_to(chain.open())
    with chain.reverts("FederatedRoundsNotAggregator", 1, chain.owner):
        chain.finalize(bits(0, 1), 2, sender=chain.owner)


def test_rejects_submission_from_account_not_on_allowlist(chain: Chain) -> None:
    chain.open()
    with chain.reverts("FederatedRoundsNotParticipant", 1, chain.stranger):
        chain.submit(chain.stranger, "s")


def test_rejects_adding_a_participant_twice(chain: Chain) -> None:
    with chain.reverts("FederatedRoundsAlreadyParticipant", 1, chain.alice):
        chain.tx(chain.rounds.functions.addParticipant(1, chain.alice), chain.owner)


def test_rejects_opening_the_first_round_twice(chain: Chain) -> None:
    chain.open()
    with chain.reverts("FederatedRoundsRoundAlreadyOpen", 1, 1):
        chain.tx(chain.rounds.functions.openRound(1), chain.agg)


def test_rejects_submission_before_the_first_round_opens(chain: Chain) -> None:
    with chain.reverts("FederatedRoundsNoOpenRound", 1):
        chain.submit(chain.alice, "a")


def test_rejects_submission_naming_another_round(chain: Chain) -> None:
    chain.open()
    with chain.reverts("FederatedRoundsWrongRound", 1, 1, 2):
        chain.submit(chain.alice, "a", round_=2)


def test_rejects_submission_at_the_deadline(chain: Chain) -> None:
    deadline = chain.open()
    chain.travel_to(deadline)
    with chain.reverts("FederatedRoundsDeadlinePassed", 1, 1, deadline):
        chain.submit(chain.alice, "a")


def test_rejects_second_submission_in_same_round(chain: Chain) -> None:
    chain.open()
    chain.submit(chain.alice, "a")
    with chain.reverts("FederatedRoundsAlreadySubmitted", 1, 1, chain.alice):
        chain.submit(chain.alice, "a-again")


def test_rejects_finalize_before_deadline_while_a_participant_is_missing(chain: Chain) -> None:
    deadline = chain.open()
    chain.submit(chain.alice, "a")
    chain.submit(chain.bob, "b")
    with chain.reverts("FederatedRoundsRoundStillRunning", 1, 1, deadline):
        chain.finalize(bits(0, 1), 2)


def test_rejects_finalize_below_quorum(chain: Chain) -> None:
    chain.travel_to(chain.open())
    with chain.reverts("FederatedRoundsQuorumNotMet", 1, 1, 1, QUORUM):
        chain.finalize(bits(0), 1)


def test_rejects_including_more_updates_than_submitted(chain: Chain) -> None:
    deadline = chain.open()
    chain.submit(chain.alice, "a")
    chain.submit(chain.bob, "b")
    chain.travel_to(deadline)
    with chain.reverts("FederatedRoundsTooManyIncluded", 1, 1, 3, 2):
        chain.finalize(bits(0, 1, 2), 3)


@pytest.mark.parametrize("bitmap", [bits(0), bits(0, 2), ZERO], ids=["count-off", "past-last", "zero"])
def test_rejects_inclusion_bitmap_that_does_not_match_the_submissions(chain: Chain, bitmap: bytes) -> None:
    deadline = chain.open()
    chain.submit(chain.alice, "a")
    chain.submit(chain.bob, "b")
    chain.travel_to(deadline)
    with chain.reverts("FederatedRoundsBadInclusion", 1, 1, bitmap):
        chain.finalize(bitmap, 2)


def test_rejects_closing_a_round_before_its_deadline(chain: Chain) -> None:
    deadline = chain.open()
    with chain.reverts("FederatedRoundsRoundStillRunning", 1, 1, deadline):
        chain.tx(chain.rounds.functions.closeFailedRound(1, 1), chain.stranger)


def test_rejects_closing_a_round_that_reached_quorum(chain: Chain) -> None:
    deadline = chain.open()
    chain.submit(chain.alice, "a")
    chain.submit(chain.bob, "b")
    chain.travel_to(deadline)
    with chain.reverts("FederatedRoundsQuorumReached", 1, 1, 2, QUORUM):
        chain.tx(chain.rounds.functions.closeFailedRound(1, 1), chain.stranger)


def test_aggregator_may_fail_a_round_with_quorum_after_its_deadline(chain: Chain) -> None:
    # Prepare: quorum reached, but (say) the updates turned out invalid
    deadline = chain.open()
    chain.submit(chain.alice, "a")
    chain.submit(chain.bob, "b")
    chain.travel_to(deadline)
    # Execute
    receipt = chain.tx(chain.rounds.functions.closeFailedRound(1, 1), chain.agg)
    # Assert
    assert [e["round"] for e in chain.events(receipt, "RoundFailed")] == [1]
    assert chain.task()["round"] == 2

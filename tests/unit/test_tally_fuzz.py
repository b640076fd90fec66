"""Differential fuzz of the contract's reason tally (``_tally`` in contracts/FederatedRounds.sol, which reads the
reason bytes 32 at a time with SWAR tricks) against a byte-by-byte Python reference, for 1 to 200 reasons.

A round with n submissions takes 2n transactions to build (allowlist, submit); for n up to 200 the round's
submission count is instead written straight into the contract's storage on the embedded chain, which the test
checks through ``getTask`` before every finalize. Everything else (guards, tally, events) runs in the EVM.
"""

from __future__ import annotations

from typing import Any

from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.logs import DISCARD

from fedledger.embedded_chain import advance_time, mine, set_storage
from fedledger.exceptions import ContractRevertError
from fedledger.inclusion import REASON_CODES
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect
from fedledger.records import TaskLimits

CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
QUORUM = 2
TASKS_SLOT = 1  # `mapping(uint256 => Task) _tasks` follows `uint256 _taskCount`
OUTLIER = REASON_CODES["outlier"]
MAX_REASON = max(REASON_CODES.values())
LENGTHS = st.one_of(
    st.sampled_from([1, 2, 31, 32, 33, 63, 64, 65, 95, 96, 97, 128, 160, 199, 200]), st.integers(1, 200)
)
KNOWN = st.sampled_from([0, 0, 0, OUTLIER, *range(1, MAX_REASON + 1)])
BYTE = st.one_of(KNOWN, KNOWN, KNOWN, st.integers(MAX_REASON + 1, 255))


class Chain:
    """Task 1 with round 1 open past its deadline; ``finalize`` sets the submission count and restores the chain."""

    def __init__(self) -> None:
        self.w3 = connect(EMBEDDED)
        self.owner, self.aggregator = Signer(self.w3.eth.accounts[0]), Signer(self.w3.eth.accounts[1])
        self.ledger, _ = Ledger.deploy(self.w3, self.owner)
        self.task, _ = self.ledger.create_task(
            self.owner, aggregator=self.aggregator.address, initial_digest=b"\x01" * 32, initial_cid=CID,
            quorum=QUORUM, round_duration=10, strategy="median", limits=TaskLimits(0, 1 << 20, 0, 0),
        )  # fmt: skip
        self.ledger.open_round(self.owner, self.task)
        advance_time(self.w3, self.ledger.block_timestamp() + 100)
        self.snapshot = self.w3.testing.snapshot()  # type: ignore[attr-defined]

    def _set_submissions(self, count: int) -> None:
        slot = int.from_bytes(keccak(self.task.to_bytes(32, "big") + TASKS_SLOT.to_bytes(32, "big"))) + 1
        word = int.from_bytes(self.w3.eth.get_storage_at(self.ledger.address, slot), "big")
        word = (word & ~(0xFFFFFFFF << 128)) | (count << 128)  # Task.submissions
        set_storage(self.w3, self.ledger.address, slot, word)
        mine(self.w3)
        assert self.ledger.get_task(self.task).submissions == count

    def finalize(self, reasons: bytes) -> tuple[str, Any]:
        """("ok", (numIncluded, includedRoot)) or (error name, error args)."""
        self.w3.testing.revert(self.snapshot)  # type: ignore[attr-defined]
        self._set_submissions(len(reasons))
        try:
            tx = self.ledger.finalize_round(
                self.aggregator, self.task, 1, global_digest=b"\x02" * 32, global_cid=CID, reasons=reasons
            )
        except ContractRevertError as exc:
            return exc.error_name, tuple(exc.error_args)
        receipt = self.w3.eth.get_transaction_receipt(tx.tx_hash)  # type: ignore[arg-type]
        (event,) = self.ledger.contract.events.RoundFinalized().process_receipt(receipt, errors=DISCARD)
        return "ok", (event["args"]["numIncluded"], bytes(event["args"]["includedRoot"]))


def reference(reasons: bytes) -> tuple[str, Any]:
    """The tally byte by byte: every code known, at least one included, included + outliers >= quorum."""
    if any(b > MAX_REASON for b in reasons):
        return "FederatedRoundsUnknownReason", (1, 1)
    included = reasons.count(0)
    valid = included + reasons.count(OUTLIER)
    if included == 0 or valid < QUORUM:
        return "FederatedRoundsQuorumNotMet", (1, 1, valid, QUORUM)
    return "ok", (included, keccak(reasons))


CHAIN: list[Chain] = []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_contract_tally_agrees_with_a_bytewise_reference(data: st.DataObject) -> None:
    # Prepare
    if not CHAIN:
        CHAIN.append(Chain())
    length = data.draw(LENGTHS, label="length")
    reasons = bytes(data.draw(st.lists(BYTE, min_size=length, max_size=length), label="reasons"))

    # Execute
    got = CHAIN[0].finalize(reasons)

    # Assert
    assert got == reference(reasons)

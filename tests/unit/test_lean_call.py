"""Views sent straight to the provider (fedledger.lean_call) return exactly what web3's ``fn.call()`` returns, and
fail the same way."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address
from federation import Federation
from hypothesis import given
from hypothesis import strategies as st
from web3._utils.abi import map_abi_data
from web3._utils.normalizers import BASE_RETURN_NORMALIZERS
from web3.exceptions import ContractCustomError

from fedledger import lean_call

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
words = st.binary(min_size=32, max_size=32)


@given(
    owners=st.lists(addresses, max_size=4),
    pair=st.tuples(st.integers(0, 2**64), addresses, st.lists(words, max_size=3)),
    fixed=st.tuples(st.integers(0, 255), st.integers(0, 255)),
    text=st.text(max_size=8),
    blob=st.binary(max_size=40),
)
def test_outputs_are_normalized_as_web3_normalizes_them(
    owners: list[str], pair: tuple[int, str, list[bytes]], fixed: tuple[int, int], text: str, blob: bytes
) -> None:
    # Prepare: values as eth_abi decodes them (tuples everywhere, lowercase addresses)
    types = ["address[]", "(uint256,address,bytes32[])", "uint8[2]", "string", "bytes", "address"]
    decoded = (tuple(owners), (pair[0], pair[1], tuple(pair[2])), fixed, text, blob, pair[1])
    # Execute
    ours = [lean_call.normalize(t, v) for t, v in zip(types, decoded, strict=True)]
    # Assert: equal values and equal container types (lists for arrays, tuples for tuples), checksummed addresses
    theirs = map_abi_data(list(BASE_RETURN_NORMALIZERS), types, decoded)
    assert ours == theirs
    assert [type(x) for x in ours] == [type(x) for x in theirs]
    assert ours[-1] == to_checksum_address(pair[1])


def test_every_view_the_ledger_reads_matches_web3s_call(tmp_path: Path) -> None:
    # Prepare: a task with a sample cap, so the views return non-trivial structs
    fed = Federation(tmp_path, caps={0: 7})
    contract, sender = fed.ledger.contract, fed.owner.address
    person = fed.people[0].address
    calls = [
        contract.functions.getTask(fed.task),
        contract.functions.sampleCap(fed.task, person),
        contract.functions.isParticipant(fed.task, person),
        contract.functions.taskCount(),
    ]
    if fed.ledger.offers("participantView"):
        calls.append(contract.functions.participantView(fed.task, person))
    # Execute / Assert: the same values and types as web3's own path
    for fn in calls:
        ours = lean_call.view(fed.w3, fn, sender)
        assert ours == fn.call({"from": sender}), fn.fn_name
        assert type(ours) is type(fn.call({"from": sender})), fn.fn_name


def test_a_revert_raises_web3s_own_error_with_the_contracts_data(tmp_path: Path) -> None:
    # Prepare: a task that does not exist
    fed = Federation(tmp_path)
    fn = fed.ledger.contract.functions.getTask(999)
    with pytest.raises(ContractCustomError) as theirs:
        fn.call({"from": fed.owner.address})
    # Execute / Assert
    with pytest.raises(ContractCustomError) as ours:
        lean_call.view(fed.w3, fn, fed.owner.address)
    assert ours.value.data == theirs.value.data
    # ... and the ledger turns it into the contract's reason, as before
    with pytest.raises(Exception, match="task 999 does not exist"):
        fed.ledger.get_task(999)


def test_a_transaction_sent_straight_is_mined_like_web3s_and_a_refused_one_raises_its_error(
    tmp_path: Path,
) -> None:
    # Prepare: two participants of an open round; one update each, one sent through web3, one straight
    fed = Federation(tmp_path)
    submit = fed.ledger.contract.functions.submitUpdate
    cid = fed.store.put(fed.initial)
    first, second = fed.people[0].address, fed.people[1].address
    # Execute
    via_web3 = fed.w3.eth.wait_for_transaction_receipt(
        submit(fed.task, 1, b"\x01" * 32, cid, 10).transact({"from": first})
    )
    straight = fed.w3.eth.wait_for_transaction_receipt(
        lean_call.transact(fed.w3, submit(fed.task, 1, b"\x02" * 32, cid, 10), second)
    )
    # Assert: both mined, with the same event shape
    assert via_web3["status"] == straight["status"] == 1
    assert (
        len(via_web3["logs"]) == len(straight["logs"])
        and straight["logs"][0]["topics"][0] == via_web3["logs"][0]["topics"][0]
    )
    assert [u.participant for u in fed.ledger.updates_submitted(fed.task, 1)] == [first, second]
    # ... and a second submission is refused at estimate time with the contract's error, nothing mined
    with pytest.raises(ContractCustomError) as refused:
        lean_call.transact(fed.w3, submit(fed.task, 1, b"\x03" * 32, cid, 10), second)
    assert fed.ledger._revert.decode(refused.value.data, "").error_name == "FederatedRoundsAlreadySubmitted"
    assert len(fed.ledger.updates_submitted(fed.task, 1)) == 2

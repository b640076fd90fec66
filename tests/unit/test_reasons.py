"""Outcomes are one enum whose names and bytes are the README's reason table, and a failed fetch gets its reason
from one function, the same for the aggregator and the auditor (a drift would read as a false MISMATCH)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from fedledger import codec
from fedledger.cid import compute_cid
from fedledger.exceptions import (
    ContentMismatchError,
    ContentNotFoundError,
    ContentTooLargeError,
    InvalidCIDError,
    StoreError,
    StoreUnavailableError,
    ValidationError,
)
from fedledger.fetching import RoundFetcher
from fedledger.inclusion import decode_outcomes, encode_outcomes
from fedledger.rules.reasons import BY_CODE, FETCH_REASONS, Reason, fetch_failure
from fedledger.store import LocalStore

ROOT = Path(__file__).resolve().parents[2]


def readme_reason_table() -> list[tuple[int, str]]:
    """(code, outcome) of each row of the README's "Outcomes" table, in the table's order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [
        (int(code), name) for code, name in re.findall(r"^\| (\d+) \| `(\w+)` \|", text, flags=re.MULTILINE)
    ]


def test_reason_names_bytes_and_order_are_the_readme_table() -> None:
    # Prepare
    table = readme_reason_table()

    # Assert: the same names with the same bytes, listed in the order the protocol checks them
    assert [(reason.code, reason.value) for reason in Reason] == table


def test_the_contract_knows_exactly_the_enum_codes() -> None:
    # Prepare
    source = (ROOT / "contracts" / "FederatedRounds.sol").read_text(encoding="utf-8")
    match = re.search(r"MAX_REASON = (\d+);", source)

    # Assert: codes 0..MAX_REASON, each used once
    assert match is not None
    assert sorted(BY_CODE) == list(range(int(match.group(1)) + 1))


def test_outcomes_encode_to_the_enum_bytes_and_decode_to_its_members() -> None:
    # Execute
    encoded = encode_outcomes(["included", Reason.OUTLIER, "not_sampled"])
    decoded = decode_outcomes(encoded)

    # Assert
    assert encoded == bytes([0, 12, 13])
    assert decoded == [Reason.INCLUDED, Reason.OUTLIER, Reason.NOT_SAMPLED]
    assert all(isinstance(outcome, Reason) for outcome in decoded)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ContentTooLargeError("stopped at the limit"), Reason.TOO_LARGE),
        (ContentMismatchError("bytes do not hash to the CID"), Reason.CID_MISMATCH),
        (InvalidCIDError("a CIDv0 names no verifiable content"), Reason.CID_MISMATCH),
        (ContentNotFoundError("not found within 30 s"), Reason.UNAVAILABLE),
        (StoreUnavailableError("the daemon is down"), Reason.UNAVAILABLE),
        (StoreError("any other store failure"), Reason.UNAVAILABLE),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_each_fetch_failure_maps_to_the_reason_the_readme_gives(error: StoreError, reason: Reason) -> None:
    # Execute
    got = fetch_failure(error)

    # Assert
    assert got == reason
    assert got in FETCH_REASONS


def test_the_round_fetcher_records_each_failure_with_the_one_mapping(tmp_path: Path) -> None:
    # Prepare: a real store holding a large update, a tampered one; a missing CID and a CIDv0
    store = LocalStore(tmp_path)
    large = store.put(codec.encode({"w": np.zeros(64, np.float32)}))
    tampered = store.put(b"honest bytes")
    store._path(tampered).write_bytes(b"other bytes")  # the file no longer has its CID's identity
    missing = compute_cid(b"nobody stored this")
    cidv0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"

    # Execute
    with RoundFetcher(store, max_bytes=100, per_update=1.0) as fetcher:
        fetched = fetcher.fetch_cids([large, tampered, missing, cidv0])
        reasons = {cid: f.reason for cid, f in fetched.items()}
        with pytest.raises(ValidationError) as caught:
            fetched[tampered].read()  # what the judge records for the submission

    # Assert
    assert reasons == {
        large: Reason.TOO_LARGE,
        tampered: Reason.CID_MISMATCH,
        missing: Reason.UNAVAILABLE,
        cidv0: Reason.CID_MISMATCH,
    }
    assert caught.value.reason == Reason.CID_MISMATCH

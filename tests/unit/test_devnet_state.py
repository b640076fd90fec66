"""A damaged chain state never destroys the last good copy (no anvil needed: these are the file rules)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedledger.devnet.chain_node import keep_good_copy, usable_state
from fedledger.exceptions import DevnetError

DUMP = {"block": {}, "accounts": {"0x01": {}}, "best_block_number": 42, "blocks": [], "transactions": []}


def _files(tmp_path: Path) -> tuple[Path, Path]:
    state = tmp_path / "state.json"
    return state, state.with_suffix(".json.good")


@pytest.mark.parametrize("damage", ["{}", "", '{"accounts": {}}', "[1, 2]", '{"block": '])
def test_a_damaged_state_is_restored_from_the_good_copy_which_survives(tmp_path: Path, damage: str) -> None:
    # Prepare: a good copy of a real-looking dump, then a damaged state file
    state, good = _files(tmp_path)
    good.write_text(json.dumps(DUMP))
    state.write_text(damage)

    # Execute
    loads, note = usable_state(state)

    # Assert
    assert loads and "restored the last good copy" in note
    assert json.loads(state.read_text()) == DUMP and json.loads(good.read_text()) == DUMP
    assert state.with_suffix(".json.damaged").read_text() == damage


def test_a_damaged_state_without_a_good_copy_is_refused_and_kept(tmp_path: Path) -> None:
    state, good = _files(tmp_path)
    state.write_text("{}")

    with pytest.raises(DevnetError, match="damaged"):
        usable_state(state)
    assert state.read_text() == "{}" and not good.exists()


def test_keep_good_copy_copies_only_a_real_dump(tmp_path: Path) -> None:
    state, good = _files(tmp_path)
    good.write_text(json.dumps(DUMP))
    state.write_text("{}")

    keep_good_copy(state)
    assert json.loads(good.read_text()) == DUMP

    newer = {**DUMP, "best_block_number": 43}
    state.write_text(json.dumps(newer))
    keep_good_copy(state)
    assert json.loads(good.read_text()) == newer

"""Where commands find the devnet: like git finds `.git`, from the current folder upwards; $FEDLEDGER_STATE and
explicit settings win; when nothing is found the error is one line that says where it looked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedledger.cli.settings import ENV_CONTRACT, ENV_IPFS, ENV_RPC, ENV_STATE, resolve_endpoints, state_path
from fedledger.exceptions import ConfigurationError

STATE = {
    "rpc_url": "http://127.0.0.1:8545",
    "contract_address": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "ipfs_api": "http://127.0.0.1:5001",
    "deploy_block": 7,
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder whose devnet state lies in .fedledger/, with no setting in the environment."""
    for name in (ENV_STATE, ENV_RPC, ENV_CONTRACT, ENV_IPFS):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".fedledger").mkdir()
    (tmp_path / ".fedledger" / "devnet.json").write_text(json.dumps(STATE))
    return tmp_path


def test_a_command_in_a_subfolder_finds_the_devnet_of_the_folder_above(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    deeper = project / "examples" / "flower"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    # Execute
    found = resolve_endpoints(None, None, None)
    # Assert
    assert state_path() == (project / ".fedledger" / "devnet.json").resolve()
    assert (found.rpc_url, found.contract, found.ipfs_api, found.from_block) == (
        STATE["rpc_url"],
        STATE["contract_address"],
        STATE["ipfs_api"],
        7,
    )


def test_the_nearest_devnet_state_wins_over_one_further_up(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    inner = project / "inner"
    (inner / ".fedledger").mkdir(parents=True)
    (inner / ".fedledger" / "devnet.json").write_text(json.dumps({**STATE, "rpc_url": "http://127.0.0.1:9"}))
    monkeypatch.chdir(inner / ".fedledger")
    # Execute
    found = resolve_endpoints(None, None, None)
    # Assert
    assert found.rpc_url == "http://127.0.0.1:9"


def test_fedledger_state_and_explicit_settings_win_over_the_lookup(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    other = project / "other.json"
    other.write_text(json.dumps({**STATE, "rpc_url": "http://127.0.0.1:7", "ipfs_api": "http://127.0.0.1:6"}))
    monkeypatch.chdir(project)
    monkeypatch.setenv(ENV_STATE, str(other))
    monkeypatch.setenv(ENV_IPFS, "http://127.0.0.1:5")
    # Execute
    found = resolve_endpoints(None, "0x" + "ab" * 20, None)
    # Assert
    assert state_path() == other
    assert (found.rpc_url, found.contract, found.ipfs_api, found.from_block) == (
        "http://127.0.0.1:7",
        "0x" + "ab" * 20,
        "http://127.0.0.1:5",
        0,
    )


def test_no_devnet_anywhere_is_one_line_naming_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: a folder with no state above it (tmp_path's parents belong to pytest, not to a devnet)
    for name in (ENV_STATE, ENV_RPC, ENV_CONTRACT, ENV_IPFS):
        monkeypatch.delenv(name, raising=False)
    if any((folder / ".fedledger" / "devnet.json").is_file() for folder in tmp_path.resolve().parents):
        pytest.skip("a devnet state file lies above the temporary folder")
    monkeypatch.chdir(tmp_path)
    # Execute
    with pytest.raises(ConfigurationError) as caught:
        resolve_endpoints(None, None, None)
    # Assert
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path.resolve()) in message and "fedledger devnet up" in message
    assert state_path() == tmp_path.resolve() / ".fedledger" / "devnet.json"  # where `devnet up` writes it

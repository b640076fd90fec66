"""The devnet's chain: anvil (Foundry's local node, from npm) with its state persisted to a file.

Why anvil rather than `hardhat node`: the chain is the audit trail, so the devnet must keep it across `devnet down`
/ `devnet up` and survive a crash. anvil loads and dumps its whole chain (blocks, receipts, logs, state) with
``--state FILE``, and dumps it every ``--state-interval`` seconds while running, so a SIGKILL loses at most that
interval. Hardhat's node has no such option; it stays the build and contract-test tool. anvil uses the same
chain id (31337) and the same 20 dev accounts (the standard test mnemonic), so nothing else changes for users.

anvil writes its state file in place; a crash in the middle of a dump could leave it torn, so ``up`` keeps the
last state that loaded (``STATE.good``) and falls back to it, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import requests

from fedledger.devnet import processes
from fedledger.exceptions import DevnetError
from fedledger.files import write_atomic

DEV_ACCOUNTS = 20  # Hardhat's count (anvil's default is 10): `--account 0..19` on the devnet
ANVIL = Path("node_modules") / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
SAVE_INTERVAL = 1  # seconds between state dumps while running: what a crash can lose
CHAIN_ID = 31337


def rpc_answers(rpc_url: str, timeout: float = 2.0) -> int | None:
    """Return the chain id if a JSON-RPC node answers at ``rpc_url``, else None."""
    try:
        response = requests.post(
            rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=timeout
        )
        return int(response.json()["result"], 16)
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


def block_height(rpc_url: str, timeout: float = 2.0) -> int | None:
    """The latest block number, or None when the node does not answer."""
    try:
        response = requests.post(
            rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
            timeout=timeout,
        )
        return int(response.json()["result"], 16)
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


ANVIL_STATE_KEYS = ("accounts", "block", "blocks", "best_block_number")  # what every anvil dump holds


def _anvil_state_bytes(path: Path) -> bytes | None:
    """The bytes of ``path`` when they are an anvil dump (valid JSON is not enough: ``{}`` loads as an empty chain)."""
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except (ValueError, OSError):
        return None
    return raw if isinstance(data, dict) and all(key in data for key in ANVIL_STATE_KEYS) else None


def _looks_like_anvil_state(path: Path) -> bool:
    return _anvil_state_bytes(path) is not None


def usable_state(state_file: Path) -> tuple[bool, str]:
    """Make sure ``state_file`` is a state anvil can load: restore the last good copy when it is torn.

    The good copy itself is never overwritten here: ``keep_good_copy`` refreshes it only after the chain loaded
    and answered. Returns (whether a state will be loaded, a sentence about what was found) for `devnet up`.
    """
    good = state_file.with_suffix(state_file.suffix + ".good")
    if not state_file.exists():
        return False, "no chain state yet"
    if _looks_like_anvil_state(state_file):
        return True, "chain state loaded"
    if not _looks_like_anvil_state(good):
        raise DevnetError(
            f"the chain state {state_file} is damaged (not an anvil state dump) and there is no good earlier "
            "copy; start over with `fedledger devnet up --fresh` (it keeps the damaged file in chain/archive/)"
        )
    damaged = state_file.with_suffix(state_file.suffix + ".damaged")
    shutil.copyfile(state_file, damaged)
    shutil.copyfile(good, state_file)
    return True, (
        f"the chain state was damaged (kept as {damaged.name}); restored the last good copy ({good.name})"
    )


def keep_good_copy(state_file: Path) -> None:
    """After anvil loaded ``state_file`` and answered: keep it as the last good copy (read once, written whole)."""
    raw = _anvil_state_bytes(
        state_file
    )  # anvil rewrites the file every second: validate the very bytes copied
    if raw is not None:
        write_atomic(state_file.with_suffix(state_file.suffix + ".good"), raw)


def start_chain_node(
    port: int, log_path: Path, state_file: Path, timeout: float = 60.0
) -> tuple[int, str, int]:
    """Start anvil on 127.0.0.1:``port`` with ``state_file``; return (pid, rpc_url, chain_id) once it answers."""
    processes.ensure_port_free(port, "chain node")
    anvil = processes.PROJECT_ROOT / ANVIL
    if not anvil.exists():
        raise DevnetError(f"anvil is not installed ({anvil} is missing): run `make setup` (npm ci) first")
    state_file.parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(anvil),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chain-id",
        str(CHAIN_ID),
        "--accounts",
        str(DEV_ACCOUNTS),
        "--state",
        str(state_file),
        "--state-interval",
        str(SAVE_INTERVAL),
        "--silent",
    ]
    proc = processes.spawn(command, log_path, dict(os.environ))
    rpc_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chain_id = rpc_answers(rpc_url)
        if chain_id is not None:
            return proc.pid, rpc_url, chain_id
        if not processes.is_alive(proc.pid, proc):
            raise DevnetError(
                f"the chain node exited during start-up; last lines of {log_path}:\n{processes.log_tail(log_path)}"
            )
        time.sleep(0.1)
    processes.stop(proc.pid, proc=proc)
    raise DevnetError(f"the chain node did not answer within {timeout:.0f} s; see {log_path}")

"""The compiled round contract (ABI and bytecode), read from the artifact that ships inside the package, and the
registry of every contract version this client can read.

A participant or an auditor needs neither Node nor a compiler: the artifact is committed and packaged.
Maintainers regenerate it with ``make compile`` (``tools/compile_contract.py``) after editing ``contracts/``;
a unit test fails when it is stale.

Contracts evolve without a version constant in the contract: a deployed version is known by the keccak256 of its
runtime code. ``artifacts/history.json`` maps that hash to the version's ABI (with its compiler and source hashes),
one entry per version ever released; ``make compile`` adds today's, so a client keeps reading the contracts that
older releases deployed for as long as their entry stays (drop one only when this client can no longer read it).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from eth_utils.crypto import keccak

CONTRACT_NAME = "FederatedRounds"
ARTIFACT_NAME = f"{CONTRACT_NAME}.json"
HISTORY_NAME = "history.json"


def load_artifact() -> dict[str, Any]:
    """The committed artifact: ``contractName``, ``abi``, ``bytecode``, ``deployedBytecode``, ``compiler``."""
    text = resources.files("fedledger").joinpath("artifacts", ARTIFACT_NAME).read_text(encoding="utf-8")
    artifact: dict[str, Any] = json.loads(text)
    return artifact


def code_hash(runtime_code: bytes) -> str:
    """``0x`` + keccak256 of a contract's runtime code: what names a deployed contract version."""
    return "0x" + keccak(runtime_code).hex()


def history_entry(artifact: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An artifact's registry entry: (runtime-code hash, {abi, compiler, sourceSha256})."""
    code = bytes.fromhex(str(artifact["deployedBytecode"]).removeprefix("0x"))
    entry: dict[str, Any] = {k: artifact[k] for k in ("abi", "compiler", "sourceSha256") if k in artifact}
    return code_hash(code), entry


def load_history() -> dict[str, dict[str, Any]]:
    """The committed registry of released contract versions: runtime-code hash -> entry (empty when absent)."""
    path = resources.files("fedledger").joinpath("artifacts", HISTORY_NAME)
    if not path.is_file():
        return {}
    history: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return history


def known_versions() -> dict[str, dict[str, Any]]:
    """Every contract version this client reads, by runtime-code hash: the history plus today's artifact."""
    current_hash, current = history_entry(load_artifact())
    return {**load_history(), current_hash: current}

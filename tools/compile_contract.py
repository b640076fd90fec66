"""Build tool: compile the round contract into the committed artifact that everything else deploys and talks to.

The artifact (``fedledger/artifacts/FederatedRounds.json``) ships inside the package, so a participant or an auditor
needs neither Node nor a compiler: ``fedledger.artifact.load_artifact`` reads it. This module is not part of the
runtime package: maintainers run it from a checkout (``make compile``) after editing ``contracts/``; ``--check``
fails when the artifact is stale (a unit test runs that).

The compiler version and settings come from ``contracts/solc.json``, the one file ``hardhat.config.js`` reads too,
and the source unit names are Hardhat's (Hardhat 3 names project files ``project/contracts/X.sol``), so Hardhat's
bytecode and ours are the same bytes; a test checks it. With ``appendCBOR`` off no metadata hash is appended, so
neither paths nor comments reach the bytecode.

Writing the artifact also registers it in ``fedledger/artifacts/history.json`` (runtime-code hash -> ABI), which
keeps every version ever compiled: clients read the contracts older releases deployed (``fedledger.artifact``).

Usage::

    python tools/compile_contract.py            # rewrite the artifact (`make compile`)
    python tools/compile_contract.py --check    # exit 1 if the committed artifact differs from a fresh compile
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from fedledger.artifact import (
    ARTIFACT_NAME,
    CONTRACT_NAME,
    HISTORY_NAME,
    history_entry,
    load_artifact,
    load_history,
)
from fedledger.exceptions import ConfigurationError

__all__ = ["compile_contracts", "find_solc", "load_artifact", "main", "render_artifact", "write_artifact"]
HARDHAT_SOURCE_PREFIX = "project/"

_REPO_ROOT = Path(__file__).resolve().parents[1]
# The one compiler configuration: hardhat.config.js reads the same file (the npm solc package must match "version").
SOLC_CONFIG = _REPO_ROOT / "contracts" / "solc.json"
_SOLC = json.loads(SOLC_CONFIG.read_text(encoding="utf-8"))
SOLC_VERSION: str = _SOLC["version"]
SOLC_SETTINGS: dict[str, Any] = _SOLC["settings"]
_OUTPUT_SELECTION = {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}}


def repo_root() -> Path:
    """The source checkout this module lives in (holds ``contracts/``, ``scripts/`` and ``node_modules/``)."""
    return _REPO_ROOT


def artifact_path() -> Path:
    """Where the committed artifact lives in the source tree."""
    return _REPO_ROOT / "fedledger" / "artifacts" / ARTIFACT_NAME


def find_solc() -> Path:
    """Pick the compiler binary: ``$SOLC_BINARY``, else a py-solc-x solc 0.8.28, else ``scripts/solcjs``.

    Returns
    -------
    Path of an executable that answers ``--version`` and ``--standard-json`` like native solc.

    Raises
    ------
    ConfigurationError
        If none is available.
    """
    import solcx
    from packaging.version import Version
    from solcx.install import get_executable

    if env := os.environ.get("SOLC_BINARY"):
        return Path(env)
    if Version(SOLC_VERSION) in solcx.get_installed_solc_versions():
        return Path(get_executable(SOLC_VERSION))
    wrapper = _REPO_ROOT / "scripts" / "solcjs"
    if (_REPO_ROOT / "node_modules" / "solc" / "solc.js").is_file():
        return wrapper
    raise ConfigurationError(
        f"no solc {SOLC_VERSION}: set SOLC_BINARY, install it with py-solc-x, or run `npm ci` for solc-js"
    )


def _sources(contracts_dir: Path) -> dict[str, Path]:
    """Map each Hardhat source unit name to its file, sorted by name."""
    files = sorted(contracts_dir.glob("*.sol"))
    if not files:
        raise ConfigurationError(f"no .sol files in {contracts_dir}")
    return {f"{HARDHAT_SOURCE_PREFIX}contracts/{f.name}": f for f in files}


def compile_contracts(contracts_dir: Path | None = None, solc_binary: Path | None = None) -> dict[str, Any]:
    """Compile ``contracts/*.sol`` and return the artifact of the round contract.

    Parameters
    ----------
    contracts_dir:
        Folder of ``.sol`` files; defaults to the checkout's ``contracts/``.
    solc_binary:
        Compiler to run; defaults to :func:`find_solc`.

    Returns
    -------
    ``{"contractName", "abi", "bytecode", "deployedBytecode", "compiler": {"version", "settings"},
    "sourceSha256": {"contracts/X.sol": hex}}``.

    Raises
    ------
    ConfigurationError
        If there is no compiler or the pinned version is not the one found.
    solcx.exceptions.SolcError
        If the sources do not compile.
    """
    import solcx

    contracts_dir = contracts_dir or _REPO_ROOT / "contracts"
    solc_binary = solc_binary or find_solc()
    version = solcx.wrapper.get_version_str_from_solc_binary(solc_binary)  # e.g. 0.8.28+commit.7893614a
    if not version.startswith(SOLC_VERSION + "+"):
        raise ConfigurationError(
            f"{solc_binary} is solc {version}; the contract is built with {SOLC_VERSION}"
        )

    sources = _sources(contracts_dir)
    blobs = {name: path.read_bytes() for name, path in sources.items()}
    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": blob.decode("utf-8")} for name, blob in blobs.items()},
        "settings": {**SOLC_SETTINGS, "outputSelection": _OUTPUT_SELECTION},
    }
    output = solcx.compile_standard(standard_input, solc_binary=solc_binary)
    unit = f"{HARDHAT_SOURCE_PREFIX}contracts/{CONTRACT_NAME}.sol"
    contract = output["contracts"][unit][CONTRACT_NAME]
    return {
        "contractName": CONTRACT_NAME,
        "abi": contract["abi"],
        "bytecode": "0x" + contract["evm"]["bytecode"]["object"],
        "deployedBytecode": "0x" + contract["evm"]["deployedBytecode"]["object"],
        "compiler": {"version": version, "settings": SOLC_SETTINGS},
        "sourceSha256": {
            name.removeprefix(HARDHAT_SOURCE_PREFIX): hashlib.sha256(blob).hexdigest()
            for name, blob in blobs.items()
        },
    }


def history_path() -> Path:
    """Where the committed registry of contract versions lives in the source tree."""
    return _REPO_ROOT / "fedledger" / "artifacts" / HISTORY_NAME


def render_history(artifact: dict[str, Any], history: dict[str, Any]) -> str:
    """The registry with ``artifact`` added (kept when already there), in the artifact's byte-stable text form."""
    key, entry = history_entry(artifact)
    return render_artifact({**history, key: entry})


def render_artifact(artifact: dict[str, Any]) -> str:
    """The artifact's one byte-stable text form: sorted keys, two-space indent, trailing newline."""
    return json.dumps(artifact, sort_keys=True, indent=2) + "\n"


def write_artifact(path: Path | None = None) -> Path:
    """Compile and write the artifact to ``path`` (default: the committed one); returns the path written."""
    path = path or artifact_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    artifact = compile_contracts()
    path.write_text(render_artifact(artifact), encoding="utf-8")
    history_path().write_text(render_history(artifact, load_history()), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python tools/compile_contract.py``."""
    parser = argparse.ArgumentParser(prog="tools/compile_contract.py", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed artifact is stale")
    args = parser.parse_args(argv)
    if not args.check:
        print(f"wrote {write_artifact()}")
        return 0
    fresh = render_artifact(compile_contracts())
    target = artifact_path()
    committed = target.read_text(encoding="utf-8") if target.is_file() else ""
    history = history_path().read_text(encoding="utf-8") if history_path().is_file() else ""
    if committed != fresh or history != render_history(json.loads(fresh), load_history()):
        print(
            f"{target} is stale: it differs from a fresh compile of contracts/ (or {HISTORY_NAME} lacks it). "
            "Run `make compile` and commit the result.",
            file=sys.stderr,
        )
        return 1
    print(f"{target} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())

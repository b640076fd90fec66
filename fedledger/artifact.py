"""The compiled round contract (ABI and bytecode), read from the artifact that ships inside the package.

A participant or an auditor needs neither Node nor a compiler: the artifact is committed and packaged.
Maintainers regenerate it with ``make compile`` (``tools/compile_contract.py``) after editing ``contracts/``;
a unit test fails when it is stale.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

CONTRACT_NAME = "FederatedRounds"
ARTIFACT_NAME = f"{CONTRACT_NAME}.json"


def load_artifact() -> dict[str, Any]:
    """The committed artifact: ``contractName``, ``abi``, ``bytecode``, ``deployedBytecode``, ``compiler``."""
    text = resources.files("fedledger").joinpath("artifacts", ARTIFACT_NAME).read_text(encoding="utf-8")
    artifact: dict[str, Any] = json.loads(text)
    return artifact

"""The house's rooms: the protocol core imports no face (cli, devnet, demo) and no side (fl_node, aggregator);
the two sides never import each other; and an auditor's commands run without torch.

Imports are read from the sources (an import made by another test would fool a runtime check), including imports
inside functions: a lazy import still ties the core to what it imports.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FACES = {"fedledger.cli", "fedledger.devnet", "fedledger.demo"}
HEAVY = {"torch", "sklearn", "matplotlib"}


def imports_of(path: Path) -> set[str]:
    """Every module name a file imports (absolute names; relative imports are not used in this project)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def reaches(names: set[str], forbidden: set[str]) -> set[str]:
    return {n for n in names for f in forbidden if n == f or n.startswith(f + ".")}


CORE_MODULES = sorted((ROOT / "fedledger").glob("*.py"))


@pytest.mark.parametrize("module", CORE_MODULES, ids=lambda p: p.name)
def test_core_module_imports_no_face_no_side_and_no_torch(module: Path) -> None:
    # Execute
    bad = reaches(imports_of(module), FACES | {"fl_node", "aggregator"} | HEAVY)

    # Assert (the CLI entry point __main__ is the one core file allowed to start the face)
    if module.name == "__main__.py":
        bad -= reaches(bad, {"fedledger.cli"})
    assert not bad, f"fedledger/{module.name} reaches {sorted(bad)}"


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("fl_node", {"aggregator"} | FACES),
        ("aggregator", {"fl_node", "torch", "sklearn"} | FACES),
        ("fedledger/devnet", {"fl_node", "aggregator", "fedledger.cli", "fedledger.demo"} | HEAVY),
        # the Flower adapter stands on the core and the two sides, never on the CLI or the demo
        ("fedledger/flower", {"fedledger.cli", "fedledger.demo", "fedledger.explorer", "fedledger.devnet"}),
        ("fedledger/explorer", {"fedledger.cli", "fedledger.demo", "fedledger.flower", "fedledger.devnet"} | HEAVY),
        ("fedledger/privacy", {"fl_node", "aggregator"} | FACES | HEAVY),
    ],
)
def test_rooms_keep_their_doors_shut(package: str, forbidden: set[str]) -> None:
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = reaches(imports_of(path), forbidden)
        assert not bad, f"{path.relative_to(ROOT)} reaches {sorted(bad)}"


def test_audit_commands_load_without_torch_sklearn_or_matplotlib() -> None:
    # Prepare: a fresh interpreter in which importing any heavy extra fails loudly
    script = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {sorted(HEAVY)!r}: raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from fedledger.cli.app import app\n"
        "sys.argv = ['fedledger', 'audit', 'verify', '--help']\n"
        "app()\n"
    )

    # Execute
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )

    # Assert
    assert done.returncode == 0, done.stderr
    assert "Re-check every outcome" in done.stdout


def test_node_train_without_the_node_extra_names_the_extra_to_install() -> None:
    script = (
        "import sys, importlib.abc, importlib.util\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'torch' else real(name, *a)\n"
        "from fedledger.cli.app import app\n"
        "sys.argv = ['fedledger', 'node', 'train', '--task', '1', '--rpc-url', 'embedded']\n"
        "app()\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )

    assert done.returncode == 2
    assert "pip install 'fedledger[node]'" in done.stderr


def test_flower_adapter_imports_without_torch_and_loads_no_face() -> None:
    # Prepare: a fresh interpreter where `import torch` fails (a ServerApp host may have no torch at all)
    script = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "import fedledger.flower.setup\n"
        "faces = sorted(m for m in sys.modules if m.split('.')[:2] in (['fedledger', 'cli'], ['fedledger', 'demo']))\n"
        "print(','.join(faces))\n"
    )

    # Execute
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )

    # Assert: the import succeeded and pulled in neither the CLI nor the demo
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""

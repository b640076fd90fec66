"""The house's rooms, checked over every module of fedledger/, aggregator/ and fl_node/.

Every module belongs to one room, and each room may import only in its allowed directions:

* ``rules`` (``fedledger.rules``): what decides a round; numpy, the standard library and the core's plain modules
  (codec, records, exceptions, strategy_spec) only, and nothing they reach may be more (no web3, no store, no I/O);
* ``core`` (the flat ``fedledger`` modules and ``fedledger.privacy``): no face (cli, devnet, demo, explorer,
  flower), no side (aggregator, fl_node), no torch;
* the sides: ``aggregator`` (the coordinator) and ``fl_node`` (the participant) never import each other nor a
  face; the aggregator never imports torch;
* the faces: ``explorer`` and ``devnet`` stand on the core; the Flower adapter on the core and the sides, never on
  the CLI or the demo; ``cli`` and ``demo`` may reach everything;

and no module imports itself back through others (no import cycles).

Imports are read from the sources (an import made by another test would fool a runtime check). The room rules
count imports inside functions too: a lazy import still ties a module to what it imports. Cycles are checked
twice. At import time (module-level imports, ``if TYPE_CHECKING:`` blocks included, since the type checker
follows them and a cycle hidden there is still a cycle of ideas): such a cycle can meet a half-initialised module
and crash depending on which module is imported first. And counting imports inside functions too: those run only
once every module has loaded, so they cannot crash, which is exactly why they were used to hide a cycle
(``strategies`` imported ``robust`` inside ``strategy_from_spec`` while ``robust`` imported ``strategies``); a
face may still import lazily to keep an optional extra (torch) off the import path, as long as that closes no
cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("fedledger", "aggregator", "fl_node")
FACES = {"fedledger.cli", "fedledger.devnet", "fedledger.demo"}
HEAVY = {"torch", "sklearn", "matplotlib"}
ADAPTERS = {"fedledger.explorer", "fedledger.flower"}
# what the rules may stand on besides themselves: the core's plain modules, each needing only numpy and stdlib
PLAIN_CORE = {"fedledger.codec", "fedledger.records", "fedledger.exceptions", "fedledger.strategy_spec"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {
    module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
}


def _inside(name: str, prefixes: set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _import_nodes(path: Path, *, module_level: bool) -> list[ast.Import | ast.ImportFrom]:
    """The file's import statements; with ``module_level``, not those inside a function body."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            elif module_level and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def imports_of(path: Path, *, module_level: bool = False) -> set[str]:
    """Every name a file imports: modules, and ``module.name`` for each name taken from one."""
    names: set[str] = set()
    for node in _import_nodes(path, module_level=module_level):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        else:
            assert node.level == 0 and node.module, (
                f"{path.relative_to(ROOT)}: relative import (use absolute ones)"
            )
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _owner(name: str) -> str | None:
    """The project module a dotted name is, or lives in (None: not the project's)."""
    parts = name.split(".")
    return next(
        (".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in MODULES), None
    )


def project_edges(path: Path, *, module_level: bool) -> set[str]:
    """The project modules a file imports (``from pkg import sub`` is an edge to ``pkg.sub``, not to ``pkg``)."""
    edges: set[str] = set()
    for node in _import_nodes(path, module_level=module_level):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            assert node.module is not None
            subs = [f"{node.module}.{alias.name}" for alias in node.names]
            targets = [sub if sub in MODULES else node.module for sub in subs]
        edges.update(owner for owner in map(_owner, targets) if owner is not None)
    return edges


@dataclass(frozen=True)
class Room:
    name: str
    forbidden: frozenset[str]  # module prefixes this room must not import


CORE_FORBIDDEN = frozenset(FACES | ADAPTERS | {"fl_node", "aggregator"} | HEAVY)
ROOMS = {
    "rules": Room("rules", CORE_FORBIDDEN | {"web3", "eth_utils", "eth_abi", "requests"}),
    "core": Room("core", CORE_FORBIDDEN),
    "aggregator": Room("aggregator", frozenset({"fl_node", "torch", "sklearn"} | FACES | ADAPTERS)),
    "fl_node": Room("fl_node", frozenset({"aggregator"} | FACES | ADAPTERS)),
    "devnet": Room(
        "devnet", frozenset({"fl_node", "aggregator", "fedledger.cli", "fedledger.demo"} | ADAPTERS | HEAVY)
    ),
    "explorer": Room(
        "explorer",
        frozenset(
            {
                "fl_node",
                "aggregator",
                "fedledger.cli",
                "fedledger.demo",
                "fedledger.flower",
                "fedledger.devnet",
            }
            | HEAVY
        ),
    ),
    # the Flower adapter stands on the core and the two sides, never on the CLI or the demo
    "flower": Room(
        "flower", frozenset({"fedledger.cli", "fedledger.demo", "fedledger.explorer", "fedledger.devnet"})
    ),
    "face": Room("face", frozenset()),
}


def room_of(module: str) -> str:
    """The room a module lives in."""
    top = module.split(".")[0]
    if top in ("aggregator", "fl_node"):
        return top
    if _inside(module, {"fedledger.rules"}):
        return "rules"
    if _inside(module, {"fedledger.cli", "fedledger.demo"}):
        return "face"
    for room in ("devnet", "explorer", "flower"):
        if _inside(module, {f"fedledger.{room}"}):
            return room
    if _inside(module, {"fedledger.privacy"}) or module.count(".") <= 1:
        return "core"
    raise AssertionError(f"{module} is in no room: give its package a room in tests/unit/test_layering.py")


def test_every_module_of_the_three_packages_is_in_a_room() -> None:
    # Execute
    rooms = {module: room_of(module) for module in MODULES}

    # Assert (a sanity check on the scan itself: each room holds modules)
    assert set(rooms.values()) == set(ROOMS)
    assert rooms["fedledger.rules.judge"] == "rules" and rooms["fedledger.audit"] == "core"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_only_in_its_rooms_directions(module: str) -> None:
    # Prepare
    room = ROOMS[room_of(module)]

    # Execute
    bad = {name for name in imports_of(MODULES[module]) if _inside(name, set(room.forbidden))}

    # Assert (the CLI entry point __main__ is the one core module allowed to start the face)
    if module == "fedledger.__main__":
        bad = {name for name in bad if not _inside(name, {"fedledger.cli"})}
    assert not bad, f"{module} ({room.name}) imports {sorted(bad)}"


def test_rules_stand_on_numpy_the_standard_library_and_the_plain_core_only() -> None:
    # Prepare: everything the rules reach, through the project modules they import (at any depth)
    todo = sorted(m for m in MODULES if room_of(m) == "rules")
    via: dict[str, str] = dict.fromkeys(todo, "")  # module -> the module whose import reached it
    outside: list[str] = []
    while todo:
        module = todo.pop()
        for name in sorted(imports_of(MODULES[module])):
            top = name.split(".")[0]
            if top not in PACKAGES and top not in sys.stdlib_module_names and top != "numpy":
                outside.append(f"{module} -> {name}")
        for target in sorted(project_edges(MODULES[module], module_level=False) - via.keys()):
            via[target] = module
            todo.append(target)

    # Assert
    beyond = [
        f"{via[m]} -> {m}"
        for m in sorted(via)
        if m != "fedledger" and room_of(m) != "rules" and not _inside(m, PLAIN_CORE)
    ]
    assert not beyond, f"the rules may stand only on {sorted(PLAIN_CORE)}, but: {', '.join(beyond)}"
    assert not outside, (
        f"the rules (and the core they stand on) may import only numpy and the stdlib: {outside}"
    )


def import_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted; a self-loop counts too."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges[v]:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return cycles


def test_cycle_finder_finds_a_cycle_and_names_its_modules() -> None:
    # Prepare: a -> b -> c -> a, and d -> a outside the cycle
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    # Execute
    cycles = import_cycles(edges)

    # Assert
    assert cycles == [["a", "b", "c"]]


@pytest.mark.parametrize("module_level", [True, False], ids=["at-import-time", "counting-lazy-imports"])
def test_no_module_imports_itself_back_through_others(module_level: bool) -> None:
    # Prepare: the import graph of every project module
    edges = {m: project_edges(path, module_level=module_level) - {m} for m, path in MODULES.items()}

    # Execute
    cycles = import_cycles(edges)

    # Assert: name the edges that close each cycle, so the failure says what to cut
    lines = [
        f"{' <-> '.join(cycle)}: "
        + ", ".join(f"{a} -> {b}" for a in cycle for b in sorted(edges[a]) if b in cycle)
        for cycle in cycles
    ]
    assert not cycles, "import cycles:\n" + "\n".join(lines)


def run_python(script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter from the project root (what an import does there, from scratch)."""
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )


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
    done = run_python(script)

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

    done = run_python(script)

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
    done = run_python(script)

    # Assert: the import succeeded and pulled in neither the CLI nor the demo
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""

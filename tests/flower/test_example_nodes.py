"""How many nodes the example's run is made for: `num-clients` 0 (the default) takes the nodes connected when the
run starts, so `flwr run . local` works with however many SuperNodes Flower's local simulation has (2 unless
`--federation-config num-supernodes=N`); N > 0 waits for N and otherwise says in one message what to change."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("flwr", reason="the [flower] extra (make test installs it)")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flower"


class Grid:
    """The part of Flower's Grid the wait reads: node ids, appearing over time."""

    def __init__(self, *counts: int) -> None:
        self.counts = list(counts)

    def get_node_ids(self) -> list[int]:
        count = self.counts.pop(0) if len(self.counts) > 1 else self.counts[0]
        return list(range(count))


@pytest.fixture
def wait_for_nodes(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from fedledger_flower_example.server_app import _wait_for_nodes

    yield _wait_for_nodes
    sys.modules.pop("fedledger_flower_example.server_app", None)


def test_num_clients_zero_takes_the_nodes_connected_once_their_number_settles(wait_for_nodes) -> None:  # type: ignore[no-untyped-def]
    # Prepare: nodes join one by one, then stay at 2 (Flower's local simulation default)
    grid = Grid(0, 0, 1, 2)
    # Execute
    nodes = wait_for_nodes(grid, 0, timeout=30, settle=0.5)
    # Assert
    assert nodes == 2


def test_num_clients_n_waits_for_n_nodes(wait_for_nodes) -> None:  # type: ignore[no-untyped-def]
    # Prepare
    grid = Grid(1, 2, 3, 4, 4)
    # Execute
    nodes = wait_for_nodes(grid, 4, timeout=30, settle=0.5)
    # Assert
    assert nodes == 4


def test_too_few_nodes_is_one_message_saying_what_to_change(wait_for_nodes) -> None:  # type: ignore[no-untyped-def]
    # Prepare: 2 nodes (a default `flwr run . local`) but a run made for 4
    grid = Grid(2)
    # Execute
    with pytest.raises(RuntimeError) as caught:
        wait_for_nodes(grid, 4, timeout=0.5, settle=0.1)
    # Assert
    message = str(caught.value)
    assert message.startswith("2 Flower node(s) connected") and "num-clients" in message
    assert "num-supernodes" in message and "\n" not in message

"""A task for a Flower run to anchor on: on the embedded default (for simulations) or on a devnet's chain.

The embedded default keeps the chain in the ServerApp's process and serves it to the ClientApps' processes over
loopback (``EmbeddedChainServer``); the content store is a local directory every process reads. On a devnet the
clients talk to its node and IPFS daemon directly. By default dev account 0 owns and aggregates the task and dev
accounts 1..N are its participants, one per Flower node (``partition-id`` + 1); on a chain whose node manages no
accounts, pass the owner's ``Signer`` (its private key) and the participants' addresses.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from web3 import Web3

from fedledger import codec
from fedledger.endpoints import resolve_endpoints
from fedledger.exceptions import ConfigurationError
from fedledger.flower.bridge import EmbeddedChainServer
from fedledger.ledger import EMBEDDED, Ledger, Signer, connect, embedded_accounts
from fedledger.records import TaskLimits
from fedledger.store import ContentStore, LocalStore, open_store
from fedledger.tasks import launch_task


@dataclass(frozen=True)
class Anchor:
    """Where a Flower run is anchored: the aggregator's view, and the endpoints its clients are told."""

    ledger: Ledger
    store: ContentStore
    signer: Signer
    task_id: int
    endpoints: dict[str, str]


@contextmanager
def anchored_task(
    num_clients: int,
    initial: codec.Tensors,
    spec: str,
    *,
    rpc_url: str = EMBEDDED,
    contract: str | None = None,
    ipfs_api: str | None = None,
    store_dir: Path | None = None,
    round_duration: int = 3600,
    quorum: int | None = None,
    owner: Signer | None = None,
    participants: Sequence[str] | None = None,
) -> Iterator[Anchor]:
    """Deploy (or reuse) the round contract, create a task for ``num_clients`` nodes, yield its ``Anchor``.

    The quorum defaults to a majority of the nodes, so that one bad update does not fail a round. ``owner``
    (default: the node's dev account 0) creates and aggregates the task; ``participants`` (default: dev accounts
    1..``num_clients``) are the addresses whose updates it accepts.
    """
    with ExitStack() as stack:
        if rpc_url == EMBEDDED:
            w3 = connect(EMBEDDED)
            embedded_accounts(w3, num_clients + 1)
            ledger, _ = Ledger.deploy(w3, Signer(w3.eth.accounts[0]))
            folder = store_dir or Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="fedledger-flower-"))
            )
            store: ContentStore = LocalStore(folder)
            bridge = stack.enter_context(EmbeddedChainServer(w3))
            client_rpc, client_ipfs = bridge.url, f"local:{folder}"
        else:
            endpoints = resolve_endpoints(rpc_url or None, contract, ipfs_api)
            w3 = connect(endpoints.rpc_url)
            owner = owner or _dev_account(w3, 0)
            ledger = (
                Ledger(w3, endpoints.contract, from_block=endpoints.from_block)
                if endpoints.contract
                else Ledger.deploy(w3, owner)[0]
            )
            store = open_store(endpoints.ipfs_api or f"local:{store_dir}")
            client_rpc, client_ipfs = endpoints.rpc_url, endpoints.ipfs_api or f"local:{store_dir}"
        owner = owner or _dev_account(ledger.w3, 0)
        members = list(
            participants or [_dev_account(ledger.w3, i).address for i in range(1, num_clients + 1)]
        )
        task_id = launch_task(
            ledger,
            owner,
            store,
            codec.encode(initial),
            participants=members,
            quorum=quorum or num_clients // 2 + 1,
            round_duration=round_duration,
            strategy=spec,
            limits=TaskLimits(grace_period=round_duration),
        ).task_id
        client_view = {
            "fedledger-rpc-url": client_rpc,
            "fedledger-contract": ledger.address,
            "fedledger-ipfs-api": client_ipfs,
        }
        yield Anchor(ledger, store, owner, task_id, client_view)


def _dev_account(w3: Web3, index: int) -> Signer:
    """The node's dev account ``index`` (devnets and the embedded chain manage their accounts' keys)."""
    accounts = w3.eth.accounts
    if index >= len(accounts):
        raise ConfigurationError(
            f"the chain's node manages {len(accounts)} accounts, no dev account {index}: pass the task owner's "
            "key and the participants' addresses"
        )
    return Signer(accounts[index])

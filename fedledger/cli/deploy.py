"""`fedledger deploy`: put a fresh round contract on a chain (the devnet deploys its own)."""

from __future__ import annotations

from fedledger.cli import output
from fedledger.cli.options import AccountOpt, JsonOpt, KeyFileOpt, RpcOpt, run_command
from fedledger.cli.settings import resolve_endpoints, resolve_signer
from fedledger.ledger import Ledger, connect


def deploy(
    rpc_url: RpcOpt = None, account: AccountOpt = None, key_file: KeyFileOpt = None, json_: JsonOpt = False
) -> None:
    """Deploy a fresh round contract (for chains other than the devnet, which deploys its own)."""

    def body() -> None:
        endpoints = resolve_endpoints(rpc_url, None, None)
        w3 = connect(endpoints.rpc_url)
        ledger, tx = Ledger.deploy(w3, resolve_signer(w3, account, key_file))
        if json_:
            output.emit_json(
                {"contract_address": ledger.address, "deploy_block": tx.block_number, "gas": tx.gas_used}
            )
        else:
            output.say(
                f"deployed the round contract at {ledger.address} (block {tx.block_number}, {tx.gas_used} gas)"
            )

    run_command(body)

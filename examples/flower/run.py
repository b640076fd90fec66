"""Run the anchored Flower app with Flower's simulation engine: `python run.py [--clients 4] [--rounds 3] [--devnet]`.

On the embedded default nothing else is needed; with `--devnet`, start one first (`fedledger devnet up`, in this
folder or any folder above it; $FEDLEDGER_STATE, $FEDLEDGER_RPC_URL, $FEDLEDGER_CONTRACT, $FEDLEDGER_IPFS_API win).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--devnet", action="store_true", help="anchor on `fedledger devnet up` instead")
    parser.add_argument("--result-file", default="", help="write the run's audit summary here (JSON)")
    args = parser.parse_args()
    os.environ["FEDLEDGER_NUM_SERVER_ROUNDS"] = str(args.rounds)
    os.environ["FEDLEDGER_NUM_CLIENTS"] = str(args.clients)
    if args.devnet:
        _point_at_devnet()
    else:
        os.environ["FEDLEDGER_RPC_URL"] = "embedded"
    os.environ["FEDLEDGER_RESULT_FILE"] = args.result_file
    logging.getLogger("flwr").setLevel(logging.WARNING)

    from fedledger_flower_example.client_app import app as client_app
    from fedledger_flower_example.server_app import app as server_app
    from flwr.simulation import run_simulation

    run_simulation(
        server_app=server_app,
        client_app=client_app,
        num_supernodes=args.clients,
        backend_config={"client_resources": {"num_cpus": 2, "num_gpus": 0.0}},
    )


def _point_at_devnet() -> None:
    """Resolve the devnet's endpoints here, before any Flower process starts: a problem is one line, not a trace."""
    from fedledger.cli.settings import ENV_CONTRACT, ENV_IPFS, ENV_RPC, open_ledger, resolve_endpoints
    from fedledger.exceptions import FedLedgerError

    try:
        endpoints = resolve_endpoints(None, None, None)
        open_ledger(endpoints)  # one round trip: is the chain there?
    except FedLedgerError as exc:
        sys.exit(f"error: {exc}")
    os.environ[ENV_RPC] = endpoints.rpc_url
    os.environ[ENV_CONTRACT] = endpoints.contract or ""
    os.environ[ENV_IPFS] = endpoints.ipfs_api or ""


if __name__ == "__main__":
    main()

"""The embedded chain, served over loopback JSON-RPC for the other processes of a Flower simulation.

Flower's simulation engine runs each ClientApp in a Ray actor, another process, which cannot reach an in-process
eth-tester chain. This bridge answers standard JSON-RPC on 127.0.0.1 by handing each request to the embedded Web3
of the process that owns the chain, at the level web3 itself would (after its request formatting, through the
eth-tester middleware), and writes the answer back in wire format (quantities as hex, bytes as hex). One request
at a time: eth-tester is not thread-safe. On a devnet or a real chain, clients talk to the node and need no bridge.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from web3 import Web3
from web3.types import RPCEndpoint

from fedledger.ledger import EMBEDDED_GAS_LIMIT
from fedledger.revert import revert_data


def to_wire(value: Any) -> Any:
    """A web3 result in JSON-RPC wire form: ints as hex quantities, bytes as hex data, mappings as objects."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    return str(value)


def _estimate_by_one_call(w3: Web3, params: list[Any]) -> Any:
    """eth_estimateGas as one eth_call (which raises the revert, if any) and the embedded gas limit.

    eth-tester estimates gas by a binary search that runs the transaction about 14 times in Python: for the
    clients of a simulation that was most of a registration's time. The limit is an upper bound of any fedledger
    transaction (``EMBEDDED_GAS_LIMIT``); the unused gas is refunded, so receipts show the true gas used.
    """
    called = w3.manager._make_request(
        RPCEndpoint("eth_call"), [params[0], params[1] if len(params) > 1 else "latest"]
    )
    return called if "error" in called else {"result": EMBEDDED_GAS_LIMIT}


class EmbeddedChainServer:
    """Serve ``w3`` (an embedded chain) at ``url`` until ``close`` (or the end of a ``with`` block)."""

    def __init__(self, w3: Web3) -> None:
        lock = threading.Lock()
        funded = w3.eth.accounts[0]

        def answer(request: dict[str, Any]) -> dict[str, Any]:
            method, params = request["method"], list(request.get("params", []))
            calls = method in ("eth_call", "eth_estimateGas") and params and isinstance(params[0], dict)
            if calls and int(params[0].get("from") or "0x0", 16) == 0:
                params[0] = {
                    **params[0],
                    "from": funded,
                }  # nodes run calls from anyone; eth-tester wants funds
            with lock:
                try:
                    if method == "eth_estimateGas":
                        response = _estimate_by_one_call(w3, params)
                    else:
                        response = w3.manager._make_request(method, params)
                except Exception as exc:  # noqa: BLE001 -- a revert or a refusal becomes a JSON-RPC error
                    data = revert_data(exc)
                    error: dict[str, Any] = {
                        "code": 3 if data else -32000,
                        "message": f"execution reverted: {exc}",
                    }
                    if data:
                        error["data"] = "0x" + data.hex()
                    return {"jsonrpc": "2.0", "id": request.get("id"), "error": error}
            body = {"jsonrpc": "2.0", "id": request.get("id")}
            if "error" in response:
                body["error"] = dict(response["error"])
            else:
                body["result"] = to_wire(response.get("result"))
            return body

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                reply = [answer(r) for r in request] if isinstance(request, list) else answer(request)
                body = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The embedded chain, served over loopback JSON-RPC for the other processes of a Flower simulation.

Flower's simulation engine runs each ClientApp in a Ray actor, another process, which cannot reach an in-process
chain. This bridge answers standard JSON-RPC on 127.0.0.1 by handing each request, as it came, to the embedded
provider's ``make_request`` (which already answers in wire format), one at a time. On a devnet or a real chain,
clients talk to the node and need no bridge.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from web3 import Web3
from web3.types import RPCEndpoint


class EmbeddedChainServer:
    """Serve ``w3`` (an embedded chain) at ``url`` until ``close`` (or the end of a ``with`` block)."""

    def __init__(self, w3: Web3) -> None:
        lock = threading.Lock()
        provider = w3.provider

        def answer(request: dict[str, Any]) -> dict[str, Any]:
            method, params = request["method"], list(request.get("params", []))
            with lock:
                try:
                    response: dict[str, Any] = dict(provider.make_request(RPCEndpoint(method), params))
                except Exception as exc:
                    response = {"error": {"code": -32602, "message": f"{type(exc).__name__}: {exc}"}}
            body = {"jsonrpc": "2.0", "id": request.get("id")}
            if "error" in response:
                body["error"] = dict(response["error"])
            else:
                body["result"] = response.get("result")
            return body

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive (HTTP/1.1) spares a TCP handshake per request; without Nagle, the answer is not held
            # back waiting for the client's delayed ACK of the headers.
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

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

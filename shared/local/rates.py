"""The local stack's second price source (issue 14): a stub of an HTTP rates service.

``GET /rates`` answers ``{"rates": {pair: "value"}}`` in the format
:mod:`shared.pricing.rates` reads. Unless a test moves them apart, its prices follow the
local Chainlink-compatible feeds (read from anvil on every request), so the two sources
agree the way two honest ones do. ``POST /overrides`` with ``{"EUR/USD": "1.30"}`` pins a
pair (``null`` unpins it); ``POST /status`` with ``{"status": 503}`` makes it fail
(``200`` heals it). Binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared.chain.rpc import JsonRpc
from shared.pricing import feeds

HOST = "127.0.0.1"
MAX_BODY = 16 * 1024


class RatesStub:
    def __init__(self, rpc_url: str, feed_map: dict[str, str], port: int = 0) -> None:
        self.feed_map = dict(feed_map)
        self.overrides: dict[str, str] = {}
        self.status = 200
        self._rpc = JsonRpc([rpc_url], timeout_s=5.0)
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the local stack has its own logs

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/rates":
                    self._answer(404, {"error": "not found"})
                elif stub.status != 200:
                    self._answer(stub.status, {"error": "failing on purpose"})
                else:
                    self._answer(200, {"rates": stub.rates()})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._answer(413, {"error": "too large"})
                    return
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._answer(400, {"error": "not JSON"})
                    return
                if self.path == "/overrides" and isinstance(body, dict):
                    stub.override(body)
                    self._answer(200, {"overrides": stub.overrides})
                elif self.path == "/status" and isinstance(body.get("status"), int):
                    stub.status = int(body["status"])
                    self._answer(200, {"status": stub.status})
                else:
                    self._answer(400, {"error": "POST /overrides {pair: value} or /status"})

        self._server = ThreadingHTTPServer((HOST, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="rates-stub", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    def start(self) -> RatesStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def override(self, changes: dict[str, Any]) -> None:
        with self._lock:
            for pair, value in changes.items():
                if value is None:
                    self.overrides.pop(str(pair), None)
                else:
                    self.overrides[str(pair)] = str(Decimal(str(value)))

    def rates(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for pair, feed in self.feed_map.items():
            try:
                r = feeds.latest(self._rpc, pair, feed)
            except feeds.FeedUnreadable:
                continue  # an unreadable feed: the pair is missing from the answer
            out[pair] = format((Decimal(r.answer) / 10**r.decimals).normalize(), "f")
        with self._lock:
            out.update(self.overrides)
        return out

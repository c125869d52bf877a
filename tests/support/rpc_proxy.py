"""A fault-injecting JSON-RPC proxy for tests: sits in front of a real node (anvil)
and, on demand, lags behind it, answers errors or HTTP 500, answers nothing useful,
or refuses wide ``eth_getLogs`` ranges the way hosted providers do.

Hand-written because it is a test double of *misbehaving* providers; no library
fakes those. It binds 127.0.0.1 on a free port and serves from a daemon thread::

    with RpcProxy(anvil_url) as proxy:
        proxy.lag(3)                                   # 3 blocks behind the node
        proxy.fail("eth_getLogs", Fault.HTTP_500)      # or RPC_ERROR, NULL, EMPTY_BODY
        proxy.max_log_range(2)                         # -32005 beyond 2 blocks
        proxy.rewrite("eth_getBlockByNumber", lie)     # lie(params, node's result)
        JsonRpc([proxy.url, anvil_url])
        proxy.requests["eth_getLogs"]                  # what reached the proxy
        proxy.forwarded["eth_sendRawTransaction"]      # what reached the node
        proxy.raw_txs                                  # every signed tx sent to it
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

LOCAL_HOST = "127.0.0.1"
ANY_METHOD = "*"
RANGE_ERROR_CODE = -32005


class Fault(StrEnum):
    RPC_ERROR = "rpc_error"  # a JSON-RPC error object (HTTP 200)
    HTTP_500 = "http_500"  # an HTTP 500 with a plain-text body
    NULL = "null"  # {"result": null}
    EMPTY_BODY = "empty_body"  # HTTP 200 with no body at all
    DROP = "drop"  # the connection closed without an answer (a node that died)
    # The request reaches the node, then the answer is lost: a node that accepted a
    # transaction and died before it said so
    FORWARD_THEN_500 = "forward_then_500"
    FORWARD_THEN_DROP = "forward_then_drop"


# A status the handler answers by closing the connection, without any HTTP answer.
_DROP = 0


class _Refused(Exception):
    """A lagging node's error answer (e.g. "header not found" for a block beyond it)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Rule:
    fault: Fault
    code: int
    message: str
    remaining: int | None  # None: until cleared


@dataclass(frozen=True)
class LogQuery:
    """An eth_getLogs range as it reached the proxy, and whether it was refused."""

    from_block: int
    to_block: int
    refused: bool

    @property
    def width(self) -> int:
        return self.to_block - self.from_block + 1


class RpcProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()
        self.raw_txs: list[str] = []
        self.log_queries: list[LogQuery] = []
        self._lock = threading.Lock()
        self._rules: dict[str, _Rule] = {}
        self._rewrites: dict[str, Callable[[list[Any], Any], Any]] = {}
        self._lag = 0
        self._lag_head = True
        self._max_range: int | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, body = proxy._handle(self.rfile.read(length))
                if status == _DROP:
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet test output

        self._server = ThreadingHTTPServer((LOCAL_HOST, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="rpc-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("proxy not started")
        return f"http://{LOCAL_HOST}:{self._server.server_address[1]}"

    # -- behaviour switches ---------------------------------------------------------------

    def lag(self, blocks: int, *, head: bool = True) -> None:
        """Answer as if the chain were ``blocks`` shorter: null blocks and receipts, no
        logs and ``eth_call`` at the fake head ("header not found" beyond it).
        ``head=False`` keeps ``eth_blockNumber`` honest (a load-balanced provider whose
        head is fresh but whose log index is not)."""
        with self._lock:
            self._lag, self._lag_head = blocks, head

    def fail(
        self,
        method: str,
        fault: Fault,
        *,
        code: int = -32603,
        message: str = "internal error",
        times: int | None = None,
    ) -> None:
        """Answer ``method`` (or ``ANY_METHOD``) with ``fault``, ``times`` times or until
        ``heal()``."""
        with self._lock:
            self._rules[method] = _Rule(fault, code, message, times)

    def rewrite(self, method: str, answer: Callable[[list[Any], Any], Any]) -> None:
        """Answer ``method`` with ``answer(params, the node's result)`` until ``heal()``:
        a node that lies (or has a bug) in a well-formed answer."""
        with self._lock:
            self._rewrites[method] = answer

    def max_log_range(self, blocks: int | None) -> None:
        """Refuse eth_getLogs ranges wider than ``blocks`` (-32005), as providers do."""
        with self._lock:
            self._max_range = blocks

    def heal(self) -> None:
        with self._lock:
            self._rules.clear()
            self._rewrites.clear()
            self._lag, self._lag_head, self._max_range = 0, True, None

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.forwarded.clear()
            self.raw_txs.clear()
            self.log_queries.clear()

    # -- request handling -----------------------------------------------------------------

    def _handle(self, raw: bytes) -> tuple[int, bytes]:
        request = json.loads(raw)
        method, params, rid = request["method"], request.get("params", []), request.get("id")
        with self._lock:
            self.requests[method] += 1
            if method == "eth_sendRawTransaction":
                self.raw_txs.append(str(params[0]))
            rule = self._rules.get(method) or self._rules.get(ANY_METHOD)
            if rule is not None and rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules = {k: v for k, v in self._rules.items() if v is not rule}
            lag, lag_head, max_range = self._lag, self._lag_head, self._max_range
            rewrite = self._rewrites.get(method)

        if rule is not None and rule.fault in (Fault.FORWARD_THEN_500, Fault.FORWARD_THEN_DROP):
            self._forward(raw)
            return (
                (500, b"upstream unavailable")
                if rule.fault is Fault.FORWARD_THEN_500
                else (
                    _DROP,
                    b"",
                )
            )
        if rule is not None:
            return self._faulty(rule, rid)
        if rewrite is not None:
            return 200, _result(rid, rewrite(params, self._upstream(method, params)))
        if method == "eth_getLogs":
            refused = self._log_range_refusal(params, max_range, rid)
            if refused is not None:
                return refused
        if lag:
            try:
                answered = self._lagging(method, params, lag, lag_head)
            except _Refused as refusal:
                return self._faulty(_Rule(Fault.RPC_ERROR, refusal.code, str(refusal), 1), rid)
            if answered is not None:
                return 200, _result(rid, answered[0])
        return 200, self._forward(raw)

    def _faulty(self, rule: _Rule, rid: Any) -> tuple[int, bytes]:
        if rule.fault is Fault.DROP:
            return _DROP, b""
        if rule.fault is Fault.HTTP_500:
            return 500, b"upstream unavailable"
        if rule.fault is Fault.EMPTY_BODY:
            return 200, b""
        if rule.fault is Fault.NULL:
            return 200, _result(rid, None)
        error = {"code": rule.code, "message": rule.message}
        return 200, json.dumps({"jsonrpc": "2.0", "id": rid, "error": error}).encode()

    def _log_range_refusal(
        self, params: list[Any], max_range: int | None, rid: Any
    ) -> tuple[int, bytes] | None:
        query = params[0]
        start, end = int(query["fromBlock"], 16), int(query["toBlock"], 16)
        refused = max_range is not None and end - start + 1 > max_range
        with self._lock:
            self.log_queries.append(LogQuery(start, end, refused))
        if not refused:
            return None
        error = {
            "code": RANGE_ERROR_CODE,
            "message": f"query exceeds max block range {max_range}",
        }
        return 200, json.dumps({"jsonrpc": "2.0", "id": rid, "error": error}).encode()

    def _lagging(
        self, method: str, params: list[Any], lag: int, lag_head: bool
    ) -> tuple[Any] | None:
        """The answer of a node ``lag`` blocks behind, or None to forward unchanged."""
        fake_head = max(int(self._upstream("eth_blockNumber", []), 16) - lag, 0)
        if method == "eth_blockNumber":
            return (hex(fake_head),) if lag_head else None
        if method == "eth_getBlockByNumber":
            tag = params[0]
            if tag in ("latest", "pending"):
                return (self._upstream(method, [hex(fake_head), *params[1:]]),)
            if tag in ("finalized", "safe"):
                block = self._upstream(method, params)
                if block is not None and int(block["number"], 16) > fake_head:
                    block = self._upstream(method, [hex(fake_head), *params[1:]])
                return (block,)
            if tag != "earliest" and int(tag, 16) > fake_head:
                return (None,)
            return None
        if method == "eth_getLogs":
            query = dict(params[0])
            start, end = int(query["fromBlock"], 16), int(query["toBlock"], 16)
            if start > fake_head:
                return ([],)
            query["toBlock"] = hex(min(end, fake_head))
            return (self._upstream(method, [query]),)
        if method == "eth_call":
            tag = params[1] if len(params) > 1 else "latest"
            if tag in ("latest", "pending"):
                return (self._upstream(method, [params[0], hex(fake_head)]),)
            if tag not in ("earliest", "finalized", "safe") and int(tag, 16) > fake_head:
                raise _Refused(-32000, "header not found")
            return None
        if method == "eth_getTransactionReceipt":
            receipt = self._upstream(method, params)
            if receipt is not None and int(receipt["blockNumber"], 16) > fake_head:
                return (None,)
            return (receipt,)
        return None

    def _upstream(self, method: str, params: list[Any]) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        reply = json.loads(self._forward(body.encode()))
        if reply.get("error"):
            raise RuntimeError(f"upstream {method} failed: {reply['error']}")
        return reply.get("result")

    def _forward(self, raw: bytes) -> bytes:
        method = json.loads(raw).get("method")
        with self._lock:
            self.forwarded[method] += 1
        request = urllib.request.Request(
            self.upstream, data=raw, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body: bytes = response.read()
            return body


def _result(rid: Any, result: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}).encode()

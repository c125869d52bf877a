"""JSON-RPC batches (issue 16 §2: the reconciler reads thousands of balances): results in
order, chunked, and a node that refuses batches gets the calls one by one."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.chain.rpc import JsonRpc, RpcError


class Node:
    """Answers eth_call with the holder's last byte as its balance; counts requests."""

    def __init__(self, batches: bool = True, fail_holder: str | None = None) -> None:
        self.batches = batches
        self.fail_holder = fail_holder
        self.posts: list[Any] = []

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        data = request["params"][0]["data"]
        if self.fail_holder and data.endswith(self.fail_holder[-40:]):
            return {
                "jsonrpc": "2.0",
                "id": request["id"],
                "error": {"code": -32000, "message": "execution reverted"},
            }
        return {"jsonrpc": "2.0", "id": request["id"], "result": hex(int(data[-2:], 16))}


@pytest.fixture
def node() -> Iterator[tuple[Node, str]]:
    fake = Node()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.posts.append(body)
            reply: Any
            if isinstance(body, list) and not fake.batches:
                status, reply = 400, {"error": "batch requests are not supported"}
            elif isinstance(body, list):
                # answered out of order, as nodes may
                status, reply = 200, [fake.answer(r) for r in reversed(body)]
            else:
                status, reply = 200, fake.answer(body)
            raw = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


HOLDERS = [f"0x{i:040x}" for i in range(1, 251)]
TOKEN = "0x" + "ab" * 20


def test_balances_come_back_in_order_in_batches_of_a_hundred(node: tuple[Node, str]) -> None:
    fake, url = node
    balances = JsonRpc([url]).token_balances(TOKEN, HOLDERS)
    assert balances == [i % 256 for i in range(1, 251)]
    assert [len(p) for p in fake.posts] == [100, 100, 50]  # three HTTP requests, not 250


def test_a_node_that_refuses_batches_gets_the_calls_one_by_one(node: tuple[Node, str]) -> None:
    fake, url = node
    fake.batches = False
    assert JsonRpc([url]).token_balances(TOKEN, HOLDERS[:5]) == [1, 2, 3, 4, 5]
    assert sum(isinstance(p, dict) for p in fake.posts) == 5


def test_an_error_answer_in_a_batch_is_an_rpc_error_never_a_wrong_sum(
    node: tuple[Node, str],
) -> None:
    fake, url = node
    fake.fail_holder = HOLDERS[3]
    with pytest.raises(RpcError, match="reverted"):
        JsonRpc([url]).token_balances(TOKEN, HOLDERS[:10])

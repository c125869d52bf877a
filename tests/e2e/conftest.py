"""E2E fixtures: the whole local stack, as `make run` starts it (0.45 s blocks, API
emulator, scanner/expirer schedules, webhook queue workers), on free ports, once
per session. Tests talk to it only over HTTP and JSON-RPC, as a merchant would."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shared.local.chain import free_port
from shared.local.stack import LocalStack, StackConfig
from tests.conftest import fresh_output_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "merchant"))


@pytest.fixture(scope="session")
def stack() -> Iterator[dict[str, Any]]:
    cfg = StackConfig(
        api_port=free_port(),
        rpc_port=free_port(),
        aws_port=free_port(),
        prefix="bscpay-e2e",
        state_file=None,
        log_dir=fresh_output_dir("e2e"),
        expirer_interval_s=2.0,
    )
    local = LocalStack(cfg).start()
    yield local.info
    local.stop()
    assert not local.worker_errors, local.worker_errors


def admin_headers(stack: dict[str, Any]) -> dict[str, str]:
    """The local admin's Cognito ID token (group ``admin``), as the console sends it."""
    return user_headers(stack, "admin")


def user_headers(stack: dict[str, Any], user: str) -> dict[str, str]:
    """The ID token of one of the local stack's users: ``viewer``, ``support``,
    ``finance``, ``finance2``, ``admin``, ``admin2`` (see ``users`` in stack.json)."""
    from shared.local import admins

    creds = stack["users"][user]
    return {"Authorization": admins.id_token(stack, creds["username"], creds["password"])}


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A merchant's webhook endpoint: records every POST, answers ``status``."""

    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 200
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, predicate: Any, timeout: float) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: any(predicate(r) for r in self.received), timeout)
            return [r for r in self.received if predicate(r)]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    port = free_port()
    box = WebhookReceiver(url=f"http://127.0.0.1:{port}/hooks/bscpay")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with box.arrived:
                box.received.append(Received(dict(self.headers.items()), body))
                box.arrived.notify_all()
            self.send_response(box.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box
    server.shutdown()
    server.server_close()


def event_type(r: Received) -> str:
    return str(json.loads(r.body).get("type"))


def new_shop(stack: dict[str, Any], name: str) -> tuple[str, Any]:
    """A new merchant created by the local admin: its id and a signed client for its
    first key (no client-side retries: a test sees every answer)."""
    import requests
    from bscpay_merchant import Client

    created = requests.post(
        f"{stack['api_url']}/admin/merchants",
        json={"name": name},
        headers=user_headers(stack, "admin"),
        timeout=30,
    )
    assert created.status_code == 201, created.text
    shop = created.json()
    key = shop["api_key"]
    return shop["id"], Client(stack["api_url"], key["id"], key["secret"], max_retries=0)


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """``check()``'s first truthy answer, polled every 0.3 s; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")

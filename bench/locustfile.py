"""Locust users for ``make load`` (bench/load.py starts the stack and runs this headless).

Two kinds of users against the local stack over real HTTP:

- ``MerchantUser``: signed merchant API traffic (HMAC, as a merchant's server sends it):
  create payments, read them, list them, list a payment's refunds, read the balance.
- ``OperatorUser``: the admin console's reads with a Cognito ID token: the payments list,
  one payment's detail, the treasury and the reports summary.

Every answer's status is counted per route; ``LOAD_STATUS_FILE`` receives the counts when
Locust quits (bench/load.py turns them into ``errors_5xx``). The merchants and the token
come from ``LOAD_CONFIG`` (a JSON file bench/load.py writes). Runs in Locust's own
process: gevent patches the standard library, so it never shares one with the stack.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import threading
import time
import uuid
from collections import Counter
from typing import Any

from locust import HttpUser, between, events, task

with open(os.environ["LOAD_CONFIG"], encoding="utf-8") as _config:
    CONFIG: dict[str, Any] = json.load(_config)
STATUSES: Counter[str] = Counter()
_lock = threading.Lock()
_next_merchant = iter(range(10**9))


def sign(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """DESIGN §3: hex HMAC-SHA256(secret, "{ts}\\n{METHOD}\\n{path_with_query}\\n{body}")."""
    message = f"{timestamp}\n{method}\n{path}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _count(name: str, status: int) -> None:
    with _lock:
        STATUSES[f"{name} {status}"] += 1


@events.quitting.add_listener
def _write_statuses(environment: Any, **_: Any) -> None:
    path = os.environ.get("LOAD_STATUS_FILE")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(dict(STATUSES), out, indent=1, sort_keys=True)


class _Counted(HttpUser):
    abstract = True

    def call(
        self,
        method: str,
        path: str,
        name: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> Any:
        with self.client.request(
            method, path, data=body or None, headers=headers, name=name, catch_response=True
        ) as response:
            _count(name, response.status_code)
            if response.status_code >= 400:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
                return None
            response.success()
            return response.json()


class MerchantUser(_Counted):
    weight = 5
    wait_time = between(0.05, 0.25)

    def on_start(self) -> None:
        merchants = CONFIG["merchants"]
        me = merchants[next(_next_merchant) % len(merchants)]
        self.key_id: str = me["key_id"]
        self.secret: str = me["secret"]
        self.payments: list[str] = []

    def signed(self, method: str, path: str, name: str, body: dict[str, Any] | None = None) -> Any:
        raw = b"" if body is None else json.dumps(body).encode()
        timestamp = str(int(time.time()))
        headers = {
            "X-Api-Key": self.key_id,
            "X-Timestamp": timestamp,
            "X-Signature": sign(self.secret, timestamp, method, path, raw),
            "Content-Type": "application/json",
        }
        if method == "POST":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        return self.call(method, path, name, raw, headers)

    @task(5)
    def create_payment(self) -> None:
        cents = random.randint(100, 5000)
        body = {"amount": f"{cents // 100}.{cents % 100:02d}", "order_id": uuid.uuid4().hex}
        created = self.signed("POST", "/v1/payments", "POST /v1/payments", body)
        if created:
            self.payments.append(created["id"])
            del self.payments[:-200]

    @task(8)
    def get_payment(self) -> None:
        if self.payments:
            pid = random.choice(self.payments)
            self.signed("GET", f"/v1/payments/{pid}", "GET /v1/payments/{id}")

    @task(3)
    def list_payments(self) -> None:
        self.signed("GET", "/v1/payments?limit=20", "GET /v1/payments")

    @task(1)
    def list_refunds(self) -> None:
        if self.payments:
            pid = random.choice(self.payments)
            self.signed("GET", f"/v1/payments/{pid}/refunds", "GET /v1/payments/{id}/refunds")

    @task(1)
    def balance(self) -> None:
        self.signed("GET", "/v1/balance", "GET /v1/balance")


class OperatorUser(_Counted):
    """The console's polling: one operator tab per user."""

    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.auth = {"Authorization": CONFIG["admin_token"]}
        self.seen: list[str] = []

    @task(4)
    def live_payments(self) -> None:
        page = self.call(
            "GET", "/admin/payments?limit=25", "GET /admin/payments", headers=self.auth
        )
        if page:
            self.seen = [p["id"] for p in page["data"]][:25]

    @task(2)
    def payment_detail(self) -> None:
        if self.seen:
            pid = random.choice(self.seen)
            self.call(
                "GET", f"/admin/payments/{pid}", "GET /admin/payments/{id}", headers=self.auth
            )

    @task(1)
    def treasury(self) -> None:
        self.call("GET", "/admin/treasury", "GET /admin/treasury", headers=self.auth)

    @task(1)
    def reports(self) -> None:
        now = int(time.time())
        path = f"/admin/reports/summary?from={now - 86400}&to={now + 60}&interval=day"
        self.call("GET", path, "GET /admin/reports/summary", headers=self.auth)

"""Calling the real handlers the way API Gateway, EventBridge and SQS would, from the
sample events in ``events/``, plus the chain and queue chores the tests share.

Handlers are imported on first use, after the session stack set the environment,
as Lambda imports them in an already configured process."""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from shared import aws, config, ids
from shared.actor import Actor, acting
from shared.auth.signing import request_signature
from shared.dal import events as event_repo
from shared.dal import system as system_repo
from shared.jobs.scanner import CURSOR, Scanner, ScanReport
from shared.local import chain
from shared.local.stack import LocalStack
from shared.models.domain import ApiKey, Event
from tests.integration.conftest import MerchantCreds
from tests.support.events import Context, api_event, load

USDT = 10**18


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error(self) -> dict[str, Any]:
        """The error object; asserts the documented error shape on the way."""
        assert isinstance(self.body, dict) and set(self.body) == {"error"}, self.body
        err = self.body["error"]
        assert {"type", "code", "message"} <= set(err), err
        assert all(isinstance(err[k], str) and err[k] for k in ("type", "code", "message"))
        return dict(err)


def _reply(response: dict[str, Any]) -> Reply:
    raw = response.get("body")
    try:
        body = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        body = raw
    # The REST resolver answers with multiValueHeaders; API Gateway sends the last value.
    headers = dict(response.get("headers") or {})
    headers.update({k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items() if v})
    return Reply(response["statusCode"], body, headers)


# ---- merchant API ---------------------------------------------------------------------


def _merchant_template(method: str, path: str) -> str:
    if path.startswith("/v1/webhook_endpoints"):
        return "merchant_api_create_webhook_endpoint"
    if method == "GET":
        bare = path.split("?", 1)[0].rstrip("/")
        return (
            "merchant_api_list_payments" if bare == "/v1/payments" else "merchant_api_get_payment"
        )
    return "merchant_api_create_payment"


# Last X-Timestamp per signed content: the server accepts a POST/DELETE signature once,
# so the same request sent again within one second is signed one second later, as the
# merchant helper does (merchant/bscpay_merchant.py).
_last_timestamp: dict[tuple[str, str, str, str], int] = {}
_timestamp_lock = threading.Lock()  # tests race identical requests from threads


def fresh_timestamp(key_id: str, method: str, path: str, raw: str) -> int:
    if method.upper() in ("GET", "HEAD", "OPTIONS"):
        return int(time.time())  # reads may repeat (polling loops must not drift ahead)
    content = (key_id, method.upper(), path, raw)
    with _timestamp_lock:
        timestamp = max(int(time.time()), _last_timestamp.get(content, 0) + 1)
        _last_timestamp[content] = timestamp
    return timestamp


def merchant_event(
    creds: MerchantCreds,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    timestamp: int | None = None,
    signed_path: str | None = None,
    source_ip: str | None = None,
) -> dict[str, Any]:
    """An API Gateway proxy event signed with the merchant's key (DESIGN §3)."""
    raw = body if isinstance(body, str) else ("" if body is None else json.dumps(body))
    signed = signed_path or path
    if timestamp is None:
        timestamp = fresh_timestamp(creds.key_id, method, signed, raw)
    t = str(timestamp)
    signature = request_signature(creds.secret, t, method, signed, raw.encode())
    auth = {"X-Api-Key": creds.key_id, "X-Timestamp": t, "X-Signature": signature}
    event = api_event(
        _merchant_template(method, path), method, path, raw, {**auth, **(headers or {})}
    )
    if source_ip is not None:
        event["requestContext"]["identity"]["sourceIp"] = source_ip
    return event


def call(event: dict[str, Any]) -> Reply:
    from functions.merchant_api.handler import lambda_handler

    return _reply(lambda_handler(event, Context()))


def merchant_call(
    creds: MerchantCreds, method: str, path: str, body: Any = None, **kwargs: Any
) -> Reply:
    return call(merchant_event(creds, method, path, body, **kwargs))


def create_payment(creds: MerchantCreds, amount: str = "12.50", **fields: Any) -> dict[str, Any]:
    reply = merchant_call(creds, "POST", "/v1/payments", {"amount": amount, **fields})
    assert reply.status == 201, reply.body
    return dict(reply.body)


def get_payment(creds: MerchantCreds, payment_id: str) -> dict[str, Any]:
    reply = merchant_call(creds, "GET", f"/v1/payments/{payment_id}")
    assert reply.status == 200, reply.body
    return dict(reply.body)


def create_endpoint(creds: MerchantCreds, url: str, events: list[str]) -> dict[str, Any]:
    reply = merchant_call(creds, "POST", "/v1/webhook_endpoints", {"url": url, "events": events})
    assert reply.status == 201, reply.body
    return dict(reply.body)


# ---- admin API ------------------------------------------------------------------------

ALL_ROLES = ("viewer", "support", "finance", "admin")
SAMPLE_ADMIN = "ops@example.com"  # the sample events' user
_users: set[tuple[str, tuple[str, ...]]] = set()


def ensure_user(username: str, roles: tuple[str, ...] = ALL_ROLES) -> None:
    """``username`` exists in the stack's Cognito pool, enabled, in ``roles`` (the admin
    function looks every user up: a token alone is not enough)."""
    if (username, roles) in _users:
        return
    idp = aws.client("cognito-idp")
    pool = config.aws().user_pool_id
    with contextlib.suppress(idp.exceptions.UsernameExistsException):
        idp.admin_create_user(UserPoolId=pool, Username=username, MessageAction="SUPPRESS")
    for role in roles:
        with contextlib.suppress(idp.exceptions.GroupExistsException):
            idp.create_group(UserPoolId=pool, GroupName=role)
        idp.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=role)
    _users.add((username, roles))


def approved_key(merchant_id: str, ip_allowlist: list[str] | None = None) -> tuple[ApiKey, str]:
    """A further API key for the merchant, made by one admin and approved by another."""
    from shared.admin import merchants

    with acting(Actor("admin", "sub-key-maker", name="key-maker")):
        key, secret = merchants.create_api_key(merchant_id, ip_allowlist or [])
    with acting(Actor("admin", "sub-key-approver", name="key-approver")):
        return merchants.approve_api_key(merchant_id, key.key_id), secret


def as_admin(name: str, roles: tuple[str, ...] = ALL_ROLES) -> dict[str, Any]:
    """The authorizer claims API Gateway passes on for ``name`` holding ``roles`` (as
    its Cognito authorizer renders groups: one comma-separated string)."""
    ensure_user(name, roles)
    return {
        "claims": {
            "sub": f"sub-{name}",
            "cognito:username": name,
            "cognito:groups": ",".join(roles),
            "token_use": "id",
            "auth_time": str(int(time.time())),
        }
    }


def admin_call(
    method: str,
    path: str,
    body: Any = None,
    authorizer: Any = "sample",
    headers: dict[str, str | None] | None = None,
) -> Reply:
    """The admin API as API Gateway calls it after its Cognito authorizer: the sample
    event's claims by default; ``authorizer=None`` when no authorizer ran. ``headers``
    replace the sample's (a None value removes one, e.g. ``{"Content-Type": None}``)."""
    from functions.admin_api.handler import lambda_handler

    template = "admin_api_create_merchant" if method == "POST" else "admin_api_list_payments"
    event = api_event(template, method, path, body)
    if authorizer == "sample":
        ensure_user(SAMPLE_ADMIN)
    else:
        event["requestContext"]["authorizer"] = authorizer
    for name, value in (headers or {}).items():
        for key in [k for k in event["headers"] if k.lower() == name.lower()]:
            del event["headers"][key]
            del event["multiValueHeaders"][key]
        if value is not None:
            event["headers"][name] = value
            event["multiValueHeaders"][name] = [value]
    return _reply(lambda_handler(event, Context()))


# ---- chain and scanner ----------------------------------------------------------------


def pay(stack: LocalStack, address: str, amount_units: int, token: str | None = None) -> str:
    """The customer sends USDT (or ``token``) to ``address``; returns the tx hash."""
    return chain.transfer(
        stack.info["rpc_url"],
        token or stack.info["token_address"],
        stack.info["customer"]["private_key"],
        address,
        amount_units,
    )


def block_of(stack: LocalStack, tx_hash: str) -> int:
    receipt = chain.web3_for(stack.info["rpc_url"]).eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    return int(receipt["blockNumber"])


def make_final(stack: LocalStack) -> None:
    """Mine past the node's `finalized` lag (a couple of blocks with one slot per epoch)."""
    chain.mine(stack.info["rpc_url"], 4)


def scan(iterations: int = 1) -> ScanReport:
    """Exactly ``iterations`` scanner iterations, without waiting on a deadline."""
    budget = iter([60_000] * iterations)
    return Scanner().run(lambda: next(budget, 0))


def scan_with_handler(remaining_ms: int = 2_500) -> dict[str, Any]:
    """The scanner Lambda on its schedule event with a short deadline (safety margin 1 s)."""
    from functions.chain_scanner.handler import lambda_handler

    return dict(lambda_handler(load("chain_scanner_schedule"), Context(remaining_ms)))


def rewind_cursor(block: int) -> None:
    """Move the shared scanner cursor back, as its owner would (take the lease first)."""
    owner = "test-rewind"
    system_repo.acquire_lease(CURSOR, owner, time.time(), 30)
    try:
        system_repo.advance_cursor(CURSOR, owner, block, time.time(), 30)
    finally:
        system_repo.release_lease(CURSOR, owner)


def cursor() -> int | None:
    item = system_repo.get_system(CURSOR)
    return int(item.block) if item is not None and item.block is not None else None


# ---- events and the webhook queue ------------------------------------------------------


def events_of_payment(merchant_id: str, payment_id: str) -> list[Event]:
    """Every event stored for a payment, oldest first, read back through the DAL."""
    listed, _ = event_repo.list_events(merchant_id, 100, None, None, payment_id)
    events = [event_repo.get_event(e.event_id) for e in listed]
    return sorted((e for e in events if e is not None), key=lambda e: e.seq)


def outbox_ids() -> set[str]:
    return {
        e.event_id for e in event_repo.outbox_pending(created_before=ids.now() + 3600, limit=1000)
    }


def receive_for(
    endpoint_id: str, count: int = 1, timeout_s: float = 30.0, visibility_s: int = 30
) -> list[dict[str, Any]]:
    """Drain the webhook queue until ``count`` messages for this endpoint arrived.

    Messages of other endpoints (earlier tests) are left alone to time out."""
    sqs = aws.client("sqs")
    url = config.aws().webhook_queue_url
    mine: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(mine) < count and time.monotonic() < deadline:
        answer = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=visibility_s,
            MessageSystemAttributeNames=["All"],
        )
        for message in answer.get("Messages", []):
            if json.loads(message["Body"]).get("endpoint_id") == endpoint_id:
                mine.append(message)
    return mine


def delete_messages(messages: list[dict[str, Any]]) -> None:
    sqs = aws.client("sqs")
    for message in messages:
        sqs.delete_message(
            QueueUrl=config.aws().webhook_queue_url, ReceiptHandle=message["ReceiptHandle"]
        )


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping builds, from the sample event."""
    template = load("webhook_dispatcher_sqs")["Records"][0]
    records = []
    for message in messages:
        record = copy.deepcopy(template)
        attributes = message.get("Attributes", {})
        record.update(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "md5OfBody": message.get("MD5OfBody", ""),
            }
        )
        record["attributes"]["ApproximateReceiveCount"] = attributes.get(
            "ApproximateReceiveCount", "1"
        )
        record["attributes"]["SentTimestamp"] = attributes.get("SentTimestamp", "0")
        records.append(record)
    return {"Records": records}


def dispatch(messages: list[dict[str, Any]]) -> dict[str, Any]:
    from functions.webhook_dispatcher.handler import lambda_handler

    return dict(lambda_handler(sqs_event(messages), Context()))


def wait_for(predicate: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextlib.contextmanager
def manual_mining(stack: LocalStack) -> Iterator[None]:
    """Blocks only when the test mines one (transactions wait in the pool); automine
    again after, with one block mined for what waited."""
    rpc = stack.info["rpc_url"]
    chain.rpc_call(rpc, "evm_setAutomine", False)
    chain.rpc_call(rpc, "evm_setIntervalMining", 0)
    try:
        yield
    finally:
        chain.rpc_call(rpc, "evm_setAutomine", True)
        chain.mine(rpc)

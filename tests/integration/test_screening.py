"""AML screening of senders (docs/adr/0020) on moto + anvil: the blocklist admin API,
funds from a flagged sender held (never available), released by a second finance user
or returned to the sender as a refund reserved from the held account, and the HTTP
provider adapter against a real local server (HMAC, cache, breaker, fail-open/closed)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from eth_account import Account

from shared import config, ids, ledger
from shared.dal import aggregates
from shared.disbursements import service as disbursements
from shared.events import outbox
from shared.ledger.service import release_posting
from shared.local import chain
from shared.local.chain import DEPLOYER_PRIVATE_KEY, free_port
from shared.local.stack import LocalStack
from shared.models.domain import DisbursementStatus, PaymentStatus
from shared.payments import service as payments
from shared.screening import provider, screen
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    admin_call,
    as_admin,
    create_payment,
    events_of_payment,
    get_payment,
    make_final,
    merchant_call,
    scan,
)
from tests.integration.report_history import settle, sweep

SUPPORT = ("viewer", "support")
FINANCE = ("viewer", "finance")
# Lists senders and also holds the finance role: four eyes still stops them.
LISTER = ("viewer", "support", "finance")
SECRET = "provider-test-secret-not-real"


@dataclass
class Sender:
    address: str  # checksummed
    key: str


def _new_sender(stack: LocalStack, usdt: int = 1_000) -> Sender:
    """A fresh funded address: the shared customer must stay unlisted for other tests."""
    account = Account.create()
    rpc = stack.info["rpc_url"]
    chain.rpc_call(rpc, "anvil_setBalance", account.address, hex(10 * 10**18))
    chain.mint(rpc, stack.info["token_address"], DEPLOYER_PRIVATE_KEY, account.address, usdt * USDT)
    return Sender(account.address, account.key.hex())


@pytest.fixture
def sender(stack: LocalStack) -> Iterator[Sender]:
    s = _new_sender(stack)
    yield s
    admin_call(
        "DELETE", f"/admin/screening/blocklist/{s.address}", authorizer=as_admin("sue", SUPPORT)
    )


def _list(address: str, who: str = "sue", roles: tuple[str, ...] = SUPPORT) -> Any:
    return admin_call(
        "POST",
        "/admin/screening/blocklist",
        {"address": address, "reason": "sanctions list match"},
        authorizer=as_admin(who, roles),
    )


def _pay_final(stack: LocalStack, s: Sender, address: str, usdt: int) -> None:
    chain.transfer(stack.info["rpc_url"], stack.info["token_address"], s.key, address, usdt * USDT)
    scan()
    make_final(stack)
    scan()


def _balance(merchant: MerchantCreds) -> dict[str, Any]:
    return dict(merchant_call(merchant, "GET", "/v1/balance").body)


# ---- the blocklist API ----------------------------------------------------------------------


def test_blocklist_is_managed_by_support_audited_and_checked(stack: LocalStack) -> None:
    address = Account.create().address
    # support lists an address (stored lower-case, with who listed it)
    reply = _list(address)
    assert reply.status == 201, reply.body
    assert reply.body["address"] == address.lower()
    assert reply.body["created_by"] == "admin:sue"
    # twice: a clean conflict
    assert _list(address).status == 409
    # bad input: 422, never a 5xx
    for bad in ({"address": "0x123", "reason": "x"}, {"address": address}, {"reason": "x"}):
        r = admin_call(
            "POST", "/admin/screening/blocklist", bad, authorizer=as_admin("sue", SUPPORT)
        )
        assert r.status == 422, (bad, r.body)
    # a viewer or finance user may read it, not change it
    listed = admin_call("GET", "/admin/screening/blocklist?limit=100").body["data"]
    assert address.lower() in [e["address"] for e in listed]
    assert _list(Account.create().address, "vic", ("viewer",)).status == 403
    assert _list(Account.create().address, "fay", FINANCE).status == 403
    # audited
    audit = admin_call("GET", "/admin/audit?action=screening.blocklist_added&limit=100").body
    assert any(r["target"] == f"address:{address.lower()}" for r in audit["data"])
    # removed (any case), then gone
    path = f"/admin/screening/blocklist/{address.upper().replace('0X', '0x')}"
    assert admin_call("DELETE", path, authorizer=as_admin("sue", SUPPORT)).status == 200
    assert admin_call("DELETE", path, authorizer=as_admin("sue", SUPPORT)).status == 404
    malformed = admin_call(
        "DELETE", "/admin/screening/blocklist/not-an-address", authorizer=as_admin("sue", SUPPORT)
    )
    assert malformed.status == 422


# ---- held, released ---------------------------------------------------------------------------


def test_funds_from_a_listed_sender_are_held_then_released_by_another_finance_user(
    stack: LocalStack, merchant: MerchantCreds, sender: Sender
) -> None:
    # Given a listed sender (listed by "lee", who also holds the finance role)
    assert _list(sender.address, "lee", LISTER).status == 201
    payment = create_payment(merchant, "20")

    # When it pays the payment and the transfer becomes final
    _pay_final(stack, sender, payment["address"], 20)

    # Then the payment is held, its funds in held, none available
    held = get_payment(merchant, payment["id"])
    assert held["status"] == "held"
    [t] = held["transactions"]
    assert t["sender"] == sender.address.lower()
    assert t["risk"] == {"level": "severe", "source": "blocklist"}
    assert t["hold"] == "held"
    balance = _balance(merchant)
    assert (balance["available"], balance["held"]) == ("0", "20")
    events = events_of_payment(merchant.merchant_id, payment["id"])
    [held_event] = [e for e in events if e.type == "payment.held"]
    assert held_event.data["risk"] == {"level": "severe", "source": "blocklist"}
    assert held_event.data["object"]["status"] == "held"

    # The lister may not release it (four eyes), a viewer may not at all
    path = f"/admin/payments/{payment['id']}/release"
    refused = admin_call("POST", path, {}, authorizer=as_admin("lee", LISTER))
    assert (refused.status, refused.body["error"]["code"]) == (403, "four_eyes")
    assert admin_call("POST", path, {}, authorizer=as_admin("vic", ("viewer",))).status == 403

    # When another finance user releases it
    released = admin_call("POST", path, {}, authorizer=as_admin("fay", FINANCE))

    # Then it is paid, credited, announced released then paid
    assert released.status == 200, released.body
    assert released.body["status"] == "paid"
    assert released.body["transactions"][0]["hold"] == "released"
    balance = _balance(merchant)
    assert (balance["available"], balance["held"]) == ("20", "0")
    types = [e.type for e in events_of_payment(merchant.merchant_id, payment["id"])]
    assert types[-2:] == ["payment.released", "payment.paid"]
    # and it cannot be released twice
    again = admin_call("POST", path, {}, authorizer=as_admin("fay", FINANCE))
    assert again.status == 409
    assert admin_call("POST", "/admin/payments/pay_ffff/release", {}).status in (403, 404)


def test_an_unlisted_sender_is_credited_and_shown_screened(
    stack: LocalStack, merchant: MerchantCreds, sender: Sender
) -> None:
    payment = create_payment(merchant, "5")
    _pay_final(stack, sender, payment["address"], 5)
    paid = get_payment(merchant, payment["id"])
    assert paid["status"] == "paid"
    assert paid["transactions"][0]["risk"] == {"level": "none", "source": "none"}
    assert paid["transactions"][0]["hold"] is None
    assert _balance(merchant)["available"] == "5"


# ---- returned -------------------------------------------------------------------------------


def test_held_funds_are_returned_from_the_held_account_with_refund_fees(
    stack: LocalStack, merchant: MerchantCreds, sender: Sender
) -> None:
    assert _list(sender.address, "lee", LISTER).status == 201
    payment = create_payment(merchant, "30")
    _pay_final(stack, sender, payment["address"], 30)
    assert get_payment(merchant, payment["id"])["status"] == "held"
    path = f"/admin/payments/{payment['id']}/return"

    refused = admin_call("POST", path, {}, authorizer=as_admin("lee", LISTER))
    assert (refused.status, refused.body["error"]["code"]) == (403, "four_eyes")

    # When another finance user returns it
    reply = admin_call("POST", path, {}, authorizer=as_admin("fay", FINANCE))

    # Then a refund to the sender, of the held funds less the refund fees, is queued
    assert reply.status == 201, reply.body
    refund = reply.body
    assert refund["object"] == "refund"
    assert refund["destination"].lower() == sender.address.lower()
    assert refund["payment_id"] == payment["id"]
    assert refund["gross"] == "30"
    fee = config.payouts().fee_bps * 30 / 10_000
    assert float(refund["amount"]) == pytest.approx(30 - fee - float(config.payouts().network_fee))
    # reserved from held, never from available
    balance = _balance(merchant)
    assert (balance["available"], balance["held"], balance["pending_payout"]) == ("0", "0", "30")
    # the payment stays held (not open: it can neither expire nor be canceled) while
    # the funds are on their way back
    after = get_payment(merchant, payment["id"])
    assert after["status"] == "held"
    assert after["transactions"][0]["hold"] == "returning"
    assert payments.expire_if_due(payment["id"], after["expires_at"] + 1) is PaymentStatus.HELD
    canceled = merchant_call(merchant, "POST", f"/v1/payments/{payment['id']}/cancel")
    assert canceled.status == 409
    # a retried return answers the same refund; a release is refused
    again = admin_call("POST", path, {}, authorizer=as_admin("fay", FINANCE))
    assert (again.status, again.body["id"]) == (201, refund["id"])
    release = f"/admin/payments/{payment['id']}/release"
    refused = admin_call("POST", release, {}, authorizer=as_admin("fin", FINANCE))
    assert (refused.status, refused.body["error"]["code"]) == (409, "return_in_progress")

    # When the refund is sent on chain
    sweep(payment)
    assert settle(refund["id"]) is not None
    assert disbursements.get(refund["id"]).status is DisbursementStatus.PAID

    # Then the funds are returned: the payment is over (held for good: nothing else
    # paid it), announced returned once, and nothing is left to release or return
    done = get_payment(merchant, payment["id"])
    assert done["status"] == "held"
    assert done["transactions"][0]["hold"] == "returned"
    types = [e.type for e in events_of_payment(merchant.merchant_id, payment["id"])]
    assert types.count("payment.returned") == 1 and types.count("payment.held") == 1
    balance = _balance(merchant)
    assert (balance["available"], balance["held"], balance["pending_payout"]) == ("0", "0", "0")
    for action in (path, release):
        late = admin_call("POST", action, {}, authorizer=as_admin("fin", FINANCE))
        assert (late.status, late.body["error"]["code"]) == (409, "invalid_state")


def test_a_rejected_return_puts_the_funds_back_in_held(
    stack: LocalStack,
    merchant: MerchantCreds,
    sender: Sender,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BSCPAY_PAYOUT_APPROVAL_THRESHOLD", "5")
    config.reset()
    try:
        assert _list(sender.address, "lee", LISTER).status == 201
        payment = create_payment(merchant, "12")
        _pay_final(stack, sender, payment["address"], 12)
        returned = admin_call(
            "POST", f"/admin/payments/{payment['id']}/return", {}, authorizer=as_admin("fay")
        )
        assert returned.status == 201, returned.body
        assert returned.body["status"] == "pending_approval"
        # who listed the sender cannot approve the return either
        approve = f"/admin/settlements/{returned.body['id']}/approve"
        refused = admin_call("POST", approve, {}, authorizer=as_admin("lee", LISTER))
        assert (refused.status, refused.body["error"]["code"]) == (403, "four_eyes")
        rejected = admin_call(
            "POST",
            f"/admin/settlements/{returned.body['id']}/reject",
            {"reason": "keep it for the investigation"},
            authorizer=as_admin("fin", FINANCE),
        )
        assert rejected.status == 200, rejected.body
        balance = _balance(merchant)
        assert (balance["available"], balance["held"], balance["pending_payout"]) == (
            "0",
            "12",
            "0",
        )
        # the payment is held again (it never left held: counted held once)
        again = get_payment(merchant, payment["id"])
        assert again["status"] == "held"
        assert again["transactions"][0]["hold"] == "held"
        types = [e.type for e in events_of_payment(merchant.merchant_id, payment["id"])]
        assert types.count("payment.held") == 1
        # returned anew: a new refund, not the rejected one
        anew = admin_call(
            "POST", f"/admin/payments/{payment['id']}/return", {}, authorizer=as_admin("fay")
        )
        assert anew.status == 201, anew.body
        assert anew.body["id"] != returned.body["id"]
        assert anew.body["status"] == "pending_approval"
        assert _balance(merchant)["held"] == "0"
    finally:
        monkeypatch.delenv("BSCPAY_PAYOUT_APPROVAL_THRESHOLD")
        config.reset()


# ---- held funds go one way only (review of issue 12) ------------------------------------


def _held_pair(stack: LocalStack, merchant: MerchantCreds, sender: Sender) -> list[str]:
    """Two payments of 12 the listed sender paid: both held, 24 in held."""
    assert _list(sender.address, "lee", LISTER).status == 201
    ids = []
    for _ in range(2):
        payment = create_payment(merchant, "12")
        _pay_final(stack, sender, payment["address"], 12)
        assert get_payment(merchant, payment["id"])["status"] == "held"
        ids.append(payment["id"])
    assert _balance(merchant)["held"] == "24"
    return ids


def test_a_return_cut_short_after_its_reservation_cannot_be_released_too(
    stack: LocalStack, merchant: MerchantCreds, sender: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _held_pair(stack, merchant, sender)

    # When the return of A dies right after its transaction (a Lambda timeout)
    def crash(*args: Any, **kwargs: Any) -> None:
        raise TimeoutError("the Lambda timed out after the refund was reserved")

    monkeypatch.setattr(outbox, "publish", crash)
    cut = admin_call("POST", f"/admin/payments/{a}/return", {}, authorizer=as_admin("fay", FINANCE))
    assert cut.status == 500
    monkeypatch.undo()

    # Then its funds are reserved for the refund and marked returning, together
    assert get_payment(merchant, a)["transactions"][0]["hold"] == "returning"
    balance = _balance(merchant)
    assert (balance["available"], balance["held"], balance["pending_payout"]) == ("0", "12", "12")
    # and another finance user cannot release them as well
    refused = admin_call("POST", f"/admin/payments/{a}/release", {}, authorizer=as_admin("fin"))
    assert (refused.status, refused.body["error"]["code"]) == (409, "return_in_progress")
    assert _balance(merchant)["available"] == "0"
    # B's held funds are still its own: released, they are exactly what is left in held
    released = admin_call("POST", f"/admin/payments/{b}/release", {}, authorizer=as_admin("fin"))
    assert (released.status, released.body["status"]) == (200, "paid")
    balance = _balance(merchant)
    assert (balance["available"], balance["held"], balance["pending_payout"]) == ("12", "0", "12")
    # and the retried return of A answers its refund
    retried = admin_call("POST", f"/admin/payments/{a}/return", {}, authorizer=as_admin("fay"))
    assert retried.status == 201, retried.body
    assert retried.body["status"] in ("queued", "pending_approval")
    assert _balance(merchant)["pending_payout"] == "12"


def test_a_held_account_short_of_the_funds_answers_409_never_500(
    stack: LocalStack, merchant: MerchantCreds, sender: Sender
) -> None:
    a, _ = _held_pair(stack, merchant, sender)
    # Given a held account that lost funds behind the payments' back (a defect elsewhere)
    drain = release_posting(merchant.merchant_id, 20 * USDT, f"test-drain-{a}", ids.now() * 1000)
    ledger.default()._post(drain)
    assert _balance(merchant)["held"] == "4"
    for action in ("release", "return"):
        reply = admin_call("POST", f"/admin/payments/{a}/{action}", {}, authorizer=as_admin("fay"))
        assert (reply.status, reply.body["error"]["code"]) == (409, "held_funds_unavailable")
    assert get_payment(merchant, a)["transactions"][0]["hold"] == "held"


def test_concurrent_release_and_return_attempts_never_answer_500(
    stack: LocalStack, merchant: MerchantCreds, sender: Sender
) -> None:
    a, b = _held_pair(stack, merchant, sender)
    calls = [
        (a, "release", "fay"),
        (a, "release", "fin"),
        (a, "return", "fox"),
        (b, "return", "fay"),
        (b, "release", "fin"),
        (b, "release", "fox"),
    ]
    replies: dict[int, Any] = {}

    def run(i: int, payment_id: str, action: str, who: str) -> None:
        path = f"/admin/payments/{payment_id}/{action}"
        replies[i] = admin_call("POST", path, {}, authorizer=as_admin(who, FINANCE))

    threads = [threading.Thread(target=run, args=(i, *c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status in (200, 201, 409) for r in replies.values()), [
        (r.status, r.body) for r in replies.values()
    ]
    # each payment's held funds went one way: released (available) or reserved for a
    # return (pending_payout), never both, and nothing is left in held
    balance = _balance(merchant)
    assert balance["held"] == "0"
    moved = float(balance["available"]) + float(balance["pending_payout"])
    assert moved == 24
    for payment_id in (a, b):
        [t] = get_payment(merchant, payment_id)["transactions"]
        assert t["hold"] in ("released", "returning")


def test_a_rejected_return_whose_payment_was_not_marked_is_finished_by_the_next_release(
    stack: LocalStack,
    merchant: MerchantCreds,
    sender: Sender,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BSCPAY_PAYOUT_APPROVAL_THRESHOLD", "5")
    config.reset()
    try:
        a, _ = _held_pair(stack, merchant, sender)
        returned = admin_call("POST", f"/admin/payments/{a}/return", {}, authorizer=as_admin("fay"))
        assert returned.status == 201, returned.body

        # When the rejection commits but marking the funds held again does not land
        def crash(*args: Any, **kwargs: Any) -> None:
            raise TimeoutError("the Lambda timed out after the rejection")

        with monkeypatch.context() as patched:
            patched.setattr(payments, "return_failed", crash)
            rejected = admin_call(
                "POST",
                f"/admin/settlements/{returned.body['id']}/reject",
                {"reason": "investigation"},
                authorizer=as_admin("fin", FINANCE),
            )
        assert rejected.status == 200, rejected.body
        # Then the funds sit in held, claimed by nobody
        assert get_payment(merchant, a)["transactions"][0]["hold"] == "returning"
        assert _balance(merchant)["held"] == "24"
        # and the next release finishes the rejection first, then releases exactly them
        released = admin_call(
            "POST", f"/admin/payments/{a}/release", {}, authorizer=as_admin("fin")
        )
        assert (released.status, released.body["status"]) == (200, "paid")
        balance = _balance(merchant)
        assert (balance["available"], balance["held"], balance["pending_payout"]) == (
            "12",
            "12",
            "0",
        )
        types = [e.type for e in events_of_payment(merchant.merchant_id, a)]
        assert types.count("payment.held") == 1
    finally:
        monkeypatch.delenv("BSCPAY_PAYOUT_APPROVAL_THRESHOLD", raising=False)
        config.reset()


def _counts(merchant_id: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for day in aggregates.days(merchant_id, "2020-01-01", "2099-12-31"):
        for name, value in day.values.items():
            if name in aggregates.COUNTS:
                totals[name] = totals.get(name, 0) + int(value)
    return totals


def test_a_rejected_return_then_a_release_counts_the_payment_held_once_and_paid_once(
    stack: LocalStack,
    merchant: MerchantCreds,
    sender: Sender,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BSCPAY_PAYOUT_APPROVAL_THRESHOLD", "5")
    config.reset()
    try:
        assert _list(sender.address, "lee", LISTER).status == 201
        payment = create_payment(merchant, "12")
        _pay_final(stack, sender, payment["address"], 12)
        # held -> return requested (waits for approval)
        returned = admin_call(
            "POST", f"/admin/payments/{payment['id']}/return", {}, authorizer=as_admin("fay")
        )
        assert (returned.status, returned.body["status"]) == (201, "pending_approval")
        # the expirer runs after the payment's expiry: it stays held
        expires_at = get_payment(merchant, payment["id"])["expires_at"]
        assert payments.expire_if_due(payment["id"], expires_at + 1) is PaymentStatus.HELD
        # the return is rejected: held again, without a second payment.held
        rejected = admin_call(
            "POST",
            f"/admin/settlements/{returned.body['id']}/reject",
            {"reason": "keep it for the investigation"},
            authorizer=as_admin("fin", FINANCE),
        )
        assert rejected.status == 200, rejected.body
        assert get_payment(merchant, payment["id"])["status"] == "held"
        # released by another finance user: paid
        released = admin_call(
            "POST", f"/admin/payments/{payment['id']}/release", {}, authorizer=as_admin("fay")
        )
        assert (released.status, released.body["status"]) == (200, "paid")
        assert payments.expire_if_due(payment["id"], expires_at + 2) is PaymentStatus.PAID

        types = [e.type for e in events_of_payment(merchant.merchant_id, payment["id"])]
        for once in ("payment.held", "payment.released", "payment.paid"):
            assert types.count(once) == 1, types
        assert "payment.expired" not in types
        counts = _counts(merchant.merchant_id)
        assert counts.get("payments_held") == 1
        assert counts.get("payments_paid") == 1
        assert counts.get("payments_expired", 0) == 0
        report = merchant_call(merchant, "GET", "/v1/reports/summary").body["totals"]
        assert (report["payments_created"], report["payments_paid"]) == (1, 1)
        assert report["payments_expired"] == 0
        balance = _balance(merchant)
        assert (balance["available"], balance["held"], balance["pending_payout"]) == (
            "12",
            "0",
            "0",
        )
    finally:
        monkeypatch.delenv("BSCPAY_PAYOUT_APPROVAL_THRESHOLD")
        config.reset()


# ---- the HTTP provider ----------------------------------------------------------------------


@dataclass
class Provider:
    url: str
    levels: dict[str, str] = field(default_factory=dict)
    status: int = 200
    calls: list[str] = field(default_factory=list)
    bad_signatures: int = 0


@pytest.fixture
def risk_provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    """A screening provider on 127.0.0.1 that checks our HMAC signature."""
    port = free_port()
    box = Provider(url=f"http://127.0.0.1:{port}/v1/screen")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ts = self.headers.get("X-Bscpay-Timestamp", "")
            message = f"{ts}\nPOST\n{self.path}\n".encode() + body
            expected = hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, self.headers.get("X-Bscpay-Signature", "")):
                box.bad_signatures += 1
            address = json.loads(body)["address"]
            box.calls.append(address)
            answer = json.dumps({"level": box.levels.get(address, "low")}).encode()
            self.send_response(box.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("BSCPAY_SCREENING_PROVIDER_URL", box.url)
    monkeypatch.setenv("BSCPAY_SCREENING_PROVIDER_SECRET", SECRET)
    monkeypatch.setenv("BSCPAY_SCREENING_TIMEOUT_S", "2")
    monkeypatch.setenv("BSCPAY_SCREENING_BREAKER_FAILURES", "3")
    config.reset()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        for name in (
            "BSCPAY_SCREENING_PROVIDER_URL",
            "BSCPAY_SCREENING_PROVIDER_SECRET",
            "BSCPAY_SCREENING_TIMEOUT_S",
            "BSCPAY_SCREENING_BREAKER_FAILURES",
            "BSCPAY_SCREENING_FAIL_MODE",
        ):
            monkeypatch.delenv(name, raising=False)
        config.reset()


def test_provider_flags_a_high_risk_sender_and_its_payment_is_held(
    stack: LocalStack, merchant: MerchantCreds, sender: Sender, risk_provider: Provider
) -> None:
    risk_provider.levels[sender.address.lower()] = "high"
    payment = create_payment(merchant, "7")
    _pay_final(stack, sender, payment["address"], 7)
    held = get_payment(merchant, payment["id"])
    assert held["status"] == "held"
    assert held["transactions"][0]["risk"] == {"level": "high", "source": "provider"}
    assert risk_provider.bad_signatures == 0
    assert sender.address.lower() in risk_provider.calls
    # no one listed it: any finance user may release it
    reply = admin_call(
        "POST", f"/admin/payments/{payment['id']}/release", {}, authorizer=as_admin("fay", FINANCE)
    )
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "paid"


def test_provider_answers_are_cached_per_address(risk_provider: Provider) -> None:
    low, high = Account.create().address.lower(), Account.create().address.lower()
    risk_provider.levels[high] = "severe"
    assert screen(low).flagged is False
    assert screen(low).level == "low"
    verdict = screen(high)
    assert (verdict.flagged, verdict.level, verdict.source) == (True, "severe", "provider")
    screen(high)
    # one call per address: the second answer came from the cache
    assert risk_provider.calls.count(low) == 1
    assert risk_provider.calls.count(high) == 1
    assert risk_provider.bad_signatures == 0


def test_provider_down_fails_closed_by_default_and_open_when_configured(
    risk_provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    risk_provider.status = 503
    verdict = screen(Account.create().address)
    assert (verdict.flagged, verdict.level, verdict.source) == (
        True,
        "unknown",
        "provider_unavailable",
    )
    monkeypatch.setenv("BSCPAY_SCREENING_FAIL_MODE", "open")
    config.reset()
    verdict = screen(Account.create().address)
    assert (verdict.flagged, verdict.source) == (False, "provider_unavailable")


def test_the_breaker_stops_calling_a_failing_provider(risk_provider: Provider) -> None:
    risk_provider.status = 500
    for _ in range(6):
        assert screen(Account.create().address).source == "provider_unavailable"
    # three failures open the breaker: the other calls never reached the provider
    assert len(risk_provider.calls) == 3
    source = provider.configured()
    assert source is not None
    assert source.breaker.current_state == "open"


def test_an_unreachable_provider_times_out_into_the_fail_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a port nobody listens on: refused at once, counted as unavailable
    monkeypatch.setenv("BSCPAY_SCREENING_PROVIDER_URL", f"http://127.0.0.1:{free_port()}/x")
    monkeypatch.setenv("BSCPAY_SCREENING_PROVIDER_SECRET", SECRET)
    config.reset()
    try:
        verdict = screen(Account.create().address)
        assert (verdict.flagged, verdict.source) == (True, "provider_unavailable")
    finally:
        monkeypatch.delenv("BSCPAY_SCREENING_PROVIDER_URL")
        monkeypatch.delenv("BSCPAY_SCREENING_PROVIDER_SECRET")
        config.reset()


def test_a_customer_deposit_from_a_listed_sender_is_held_until_another_admin_releases_it(
    stack: LocalStack, merchant: MerchantCreds, sender: Sender
) -> None:
    # Given a customer address and a sender listed by "lea" (who also holds finance)
    created = merchant_call(merchant, "POST", "/v1/customers", {"reference": "held-user-1"})
    assert created.status in (200, 201), created.body
    customer = created.body
    assert _list(sender.address, "lea", LISTER).status == 201
    before = _balance(merchant)

    # When the listed sender deposits 7 USDT
    _pay_final(stack, sender, customer["address"], 7)

    # Then the deposit is final but held: the merchant's held balance, not available
    [deposit] = merchant_call(merchant, "GET", f"/v1/customers/{customer['id']}/deposits").body[
        "data"
    ]
    assert (deposit["status"], deposit["held"]) == ("final", True)
    after = _balance(merchant)
    assert Decimal(after["held"]) - Decimal(before["held"]) == 7
    assert after["available"] == before["available"]
    path = f"/admin/customers/{customer['id']}/deposits/{deposit['id']}/release"
    # and whoever listed the sender may not release it (four eyes)
    refused = admin_call("POST", path, authorizer=as_admin("lea", LISTER))
    assert refused.status == 403, refused.body
    # When another finance admin releases it, it becomes available, once
    released = admin_call("POST", path, authorizer=as_admin("fin", FINANCE))
    assert released.status == 200, released.body
    assert released.body["held"] is False
    final = _balance(merchant)
    assert Decimal(final["available"]) - Decimal(before["available"]) == 7
    assert final["held"] == before["held"]
    again = admin_call("POST", path, authorizer=as_admin("fin", FINANCE))
    assert again.status == 409, again.body

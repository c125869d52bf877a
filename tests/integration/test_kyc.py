"""Merchant KYC (docs/adr/0021): an admin sets the status, the KYC provider's signed
callback sets it (good, bad, stale and replayed signatures), and with
BSCPAY_PAYOUTS_REQUIRE_KYC payouts wait until the merchant is verified."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared import config
from shared.dal import disbursements as store
from shared.disbursements import schedule
from shared.disbursements import service as disbursements
from shared.kyc.service import KycNotVerified
from shared.local.stack import LocalStack
from shared.models.domain import DisbursementStatus
from shared.webhooks.signature import sign
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import Reply, _reply, admin_call, as_admin, merchant_call
from tests.integration.test_disbursements import (  # noqa: F401 - payout_settings is a fixture
    SETTLEMENT_ADDRESS,
    confirm,
    drain_settlement_queue,
    paid,
    payout_settings,
    set_profile,
    settle,
    swept_payment,
    token_balance,
)
from tests.support.events import Context, api_event

USDT = 10**18


def kyc_secret(stack: LocalStack) -> str:
    return str(stack.info["kyc_callback_secret"])


def provider_call(
    stack: LocalStack,
    body: Any,
    *,
    timestamp: int | None = None,
    secret: str | None = None,
    signature: str | None = None,
    method: str = "POST",
    content_type: str = "application/json",
) -> Reply:
    """``POST /kyc/callback`` as API Gateway hands it to merchant_api."""
    from functions.merchant_api.handler import lambda_handler

    raw = body if isinstance(body, str) else json.dumps(body)
    t = int(time.time()) if timestamp is None else timestamp
    header = signature or sign(raw.encode(), [secret or kyc_secret(stack)], t)
    event = api_event(
        "merchant_api_create_payment",
        method,
        "/kyc/callback",
        raw,
        {"X-Kyc-Signature": header, "Content-Type": content_type},
    )
    return _reply(lambda_handler(event, Context()))


def kyc_of(merchant: MerchantCreds) -> dict[str, Any]:
    reply = admin_call("GET", "/admin/merchants?limit=100")
    found = [m for m in reply.body["data"] if m["id"] == merchant.merchant_id]
    assert found, reply.body
    return dict(found[0])


def set_kyc(
    merchant: MerchantCreds, status: str, reason: str | None = None, who: str = "kyc-admin"
) -> Reply:
    body: dict[str, Any] = {"status": status}
    if reason is not None:
        body["reason"] = reason
    path = f"/admin/merchants/{merchant.merchant_id}/kyc"
    return admin_call("POST", path, body, authorizer=as_admin(who, ("admin",)))


@pytest.fixture
def require_kyc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BSCPAY_PAYOUTS_REQUIRE_KYC", "true")
    config.reset()
    yield
    monkeypatch.delenv("BSCPAY_PAYOUTS_REQUIRE_KYC")
    config.reset()


# ---- admin ---------------------------------------------------------------------------------


def test_a_new_merchant_is_pending_and_an_admin_verifies_it_audited(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    assert kyc_of(merchant)["kyc_status"] == "pending"

    reply = set_kyc(merchant, "verified", "documents checked")
    assert reply.status == 200, reply.body
    assert reply.body["kyc_status"] == "verified"
    assert reply.body["kyc_reason"] == "documents checked"
    assert reply.body["kyc_source"] == "admin:kyc-admin"
    assert kyc_of(merchant)["kyc_status"] == "verified"

    # audited, and the merchant is told
    target = f"merchant:{merchant.merchant_id}"
    audit = admin_call("GET", f"/admin/audit?target={target}&action=merchant.kyc_updated")
    assert audit.status == 200, audit.body
    [record] = audit.body["data"]
    assert record["actor"] == "admin:kyc-admin" or "kyc-admin" in json.dumps(record)
    events = merchant_call(merchant, "GET", "/v1/events?limit=100").body["data"]
    kyc_events = [e for e in events if e["type"] == "merchant.kyc_updated"]
    assert [e["data"]["object"]["kyc_status"] for e in kyc_events] == ["verified"]
    assert "kyc_reason" not in kyc_events[0]["data"]["object"]  # compliance's note stays ours

    # the same status again changes nothing
    assert set_kyc(merchant, "verified", "documents checked").status == 200
    again = admin_call("GET", f"/admin/audit?target={target}&action=merchant.kyc_updated")
    assert len(again.body["data"]) == 1


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"status": "approved"}, None),
        ({"status": "rejected"}, "reason"),  # a rejection says why
        ({"status": "verified", "reason": "x" * 501}, None),
        ({}, None),
        ({"status": "verified", "extra": 1}, None),
    ],
)
def test_bad_kyc_requests_are_422(
    stack: LocalStack, merchant: MerchantCreds, body: dict[str, Any], param: str | None
) -> None:
    path = f"/admin/merchants/{merchant.merchant_id}/kyc"
    reply = admin_call("POST", path, body, authorizer=as_admin("kyc-admin", ("admin",)))
    assert reply.status == 422, reply.body
    if param:
        assert reply.error["param"] == param
    assert kyc_of(merchant)["kyc_status"] == "pending"


def test_only_admins_set_kyc_and_unknown_merchants_are_404(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    for role in ("viewer", "support", "finance"):
        reply = admin_call(
            "POST",
            f"/admin/merchants/{merchant.merchant_id}/kyc",
            {"status": "verified"},
            authorizer=as_admin(f"kyc-{role}", (role,)),
        )
        assert (reply.status, reply.error["code"]) == (403, "forbidden_role"), role
    missing = admin_call(
        "POST",
        "/admin/merchants/mer_0000000000000000/kyc",
        {"status": "verified"},
        authorizer=as_admin("kyc-admin", ("admin",)),
    )
    assert missing.status == 404, missing.body


# ---- the provider's callback ---------------------------------------------------------------


def test_a_signed_callback_sets_the_status_once(stack: LocalStack, merchant: MerchantCreds) -> None:
    body = {"merchant_id": merchant.merchant_id, "status": "verified", "reason": "case 42"}
    reply = provider_call(stack, body)
    assert reply.status == 200, reply.body
    assert reply.body == {
        "object": "kyc_callback",
        "merchant_id": merchant.merchant_id,
        "kyc_status": "verified",
        "applied": True,
    }
    state = kyc_of(merchant)
    assert (state["kyc_status"], state["kyc_source"]) == ("verified", "provider:kyc")
    target = f"merchant:{merchant.merchant_id}"
    audit = admin_call("GET", f"/admin/audit?target={target}&action=merchant.kyc_updated")
    assert len(audit.body["data"]) == 1


def test_a_bad_signature_is_refused(stack: LocalStack, merchant: MerchantCreds) -> None:
    body = {"merchant_id": merchant.merchant_id, "status": "verified"}
    wrong = provider_call(stack, body, secret="not-the-secret")
    assert (wrong.status, wrong.error["code"]) == (401, "invalid_signature")
    assert kyc_secret(stack) not in json.dumps(wrong.body)  # never echoed
    # a body changed after signing
    t = int(time.time())
    header = sign(json.dumps(body).encode(), [kyc_secret(stack)], t)
    tampered = {**body, "status": "rejected", "reason": "x"}
    changed = provider_call(stack, tampered, signature=header)
    assert (changed.status, changed.error["code"]) == (401, "invalid_signature")
    for header in ("", "v1=abc", "t=abc,v1=00", "t=123"):
        malformed = provider_call(stack, body, signature=header or " ")
        assert malformed.status == 401, (header, malformed.body)
    assert kyc_of(merchant)["kyc_status"] == "pending"


def test_a_stale_callback_is_refused(stack: LocalStack, merchant: MerchantCreds) -> None:
    body = {"merchant_id": merchant.merchant_id, "status": "verified"}
    for skew in (-3600, 3600):
        reply = provider_call(stack, body, timestamp=int(time.time()) + skew)
        assert (reply.status, reply.error["code"]) == (401, "stale_timestamp")
    assert kyc_of(merchant)["kyc_status"] == "pending"


def test_a_replayed_callback_is_refused(stack: LocalStack, merchant: MerchantCreds) -> None:
    raw = json.dumps({"merchant_id": merchant.merchant_id, "status": "verified"})
    header = sign(raw.encode(), [kyc_secret(stack)], int(time.time()))
    assert provider_call(stack, raw, signature=header).status == 200
    # an admin then rejects; the captured call replayed must not verify it again
    assert set_kyc(merchant, "rejected", "sanctions hit").status == 200
    replayed = provider_call(stack, raw, signature=header)
    assert (replayed.status, replayed.error["code"]) == (401, "replayed_request")
    # nor with its hex in upper case
    t, v1 = header.split(",")
    replayed_upper = provider_call(stack, raw, signature=f"{t},{v1.upper().replace('V1=', 'v1=')}")
    assert (replayed_upper.status, replayed_upper.error["code"]) == (401, "replayed_request")
    assert kyc_of(merchant)["kyc_status"] == "rejected"


def test_a_signed_call_that_failed_is_applied_when_the_provider_retries_it(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.errors import InvalidState
    from shared.kyc import service

    # Given the decision cannot be applied the first time (a lost race, a throttled write)
    real, calls = service.set_status, []

    def failing_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:
            raise InvalidState("the merchant changed meanwhile")
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "set_status", failing_once)
    raw = json.dumps({"merchant_id": merchant.merchant_id, "status": "verified"})
    header = sign(raw.encode(), [kyc_secret(stack)], int(time.time()))
    failed = provider_call(stack, raw, signature=header)
    assert failed.status == 409, failed.body
    assert kyc_of(merchant)["kyc_status"] == "pending"

    # When the provider retries the very same signed call
    retried = provider_call(stack, raw, signature=header)

    # Then it is applied, not refused as a replay
    assert retried.status == 200, retried.body
    assert retried.body["applied"] is True
    assert kyc_of(merchant)["kyc_status"] == "verified"
    # and once applied, that call is a replay
    again = provider_call(stack, raw, signature=header)
    assert (again.status, again.error["code"]) == (401, "replayed_request")


def test_the_callback_secret_is_never_in_the_settings_repr(stack: LocalStack) -> None:
    settings = config.kyc()
    assert kyc_secret(stack) == settings.callback_secret.get_secret_value()
    assert kyc_secret(stack) not in repr(settings) + str(settings)


def test_a_callback_signed_before_the_last_change_is_acknowledged_not_applied(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    assert set_kyc(merchant, "rejected", "sanctions hit").status == 200
    body = {"merchant_id": merchant.merchant_id, "status": "verified"}
    reply = provider_call(stack, body, timestamp=int(time.time()) - 60)
    assert reply.status == 200, reply.body
    assert reply.body["applied"] is False
    assert kyc_of(merchant)["kyc_status"] == "rejected"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("not json", 400),
        ("[1, 2]", 400),
        ('{"status": "verified"}', 422),
        ('{"merchant_id": "mer_0000000000000000", "status": "verified"}', 404),
        ('{"merchant_id": "<MID>", "status": "approved"}', 422),
        ('{"merchant_id": "<MID>", "status": "rejected"}', 422),
        ('{"merchant_id": "<MID>", "status": "verified", "reason": 7}', 422),
    ],
)
def test_bad_callback_bodies_are_4xx(
    stack: LocalStack, merchant: MerchantCreds, raw: str, status: int
) -> None:
    reply = provider_call(stack, raw.replace("<MID>", merchant.merchant_id))
    assert reply.status == status, reply.body
    assert reply.error  # the API's error shape
    assert kyc_of(merchant)["kyc_status"] == "pending"


def test_callback_method_media_type_and_switched_off(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"merchant_id": merchant.merchant_id, "status": "verified"}
    assert provider_call(stack, body, method="GET").status == 405
    assert provider_call(stack, body, content_type="text/plain").status == 415
    monkeypatch.setenv("BSCPAY_KYC_CALLBACK_SECRET", "")
    config.reset()
    try:
        off = provider_call(stack, body, secret="anything")
        assert (off.status, off.error["code"]) == (404, "kyc_callback_disabled")
    finally:
        monkeypatch.undo()
        config.reset()
    assert kyc_of(merchant)["kyc_status"] == "pending"


# ---- payouts wait for KYC ------------------------------------------------------------------


def test_payouts_wait_for_kyc_then_go_once_verified(
    stack: LocalStack,
    merchant: MerchantCreds,
    payout_settings: None,  # noqa: F811
) -> None:
    # Given a queued payout of 10 USDT swept into the hot wallet, made before the
    # deployment asked for KYC
    swept_payment(stack, merchant, "10")
    set_profile(merchant)
    payout = admin_call("POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {}).body
    assert payout["status"] == "queued", payout
    before = token_balance(stack, SETTLEMENT_ADDRESS)

    # When payouts require KYC, the queued payout waits and a new request is refused
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BSCPAY_PAYOUTS_REQUIRE_KYC", "true")
        config.reset()
        try:
            assert settle(payout["id"]).status is DisbursementStatus.QUEUED
            assert token_balance(stack, SETTLEMENT_ADDRESS) == before
            shown = admin_call("GET", f"/admin/settlements/{payout['id']}").body
            assert shown["waiting_for"] == "merchant_kyc", shown
            refused = admin_call("POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {})
            assert (refused.status, refused.error["code"]) == (409, "kyc_not_verified")
            assert "verified" in refused.error["message"]

            # Then once the provider verifies the merchant the same payout goes out once
            body = {"merchant_id": merchant.merchant_id, "status": "verified"}
            assert provider_call(stack, body).status == 200
            assert settle(payout["id"]).status is DisbursementStatus.PAID
            assert token_balance(stack, SETTLEMENT_ADDRESS) - before == 93 * USDT // 10
            assert settle(payout["id"]).status is DisbursementStatus.PAID
            assert token_balance(stack, SETTLEMENT_ADDRESS) - before == 93 * USDT // 10
        finally:
            config.reset()
    config.reset()


def test_the_schedule_skips_merchants_without_kyc(
    stack: LocalStack,
    merchant: MerchantCreds,
    payout_settings: None,  # noqa: F811
    require_kyc: None,
) -> None:
    paid(stack, merchant, "5")
    path = f"/admin/merchants/{merchant.merchant_id}/settlement"
    body = {"address": SETTLEMENT_ADDRESS, "schedule": "threshold", "threshold": "1"}
    assert admin_call("POST", path, body, authorizer=as_admin("setter")).status == 200
    confirm(merchant)

    def scheduled() -> list[str]:
        report = schedule.run()
        return [p for p in report.payouts if store.get(p).merchant_id == merchant.merchant_id]  # type: ignore[union-attr]

    assert scheduled() == []
    assert set_kyc(merchant, "rejected", "documents expired").status == 200
    assert scheduled() == []
    with pytest.raises(KycNotVerified):
        disbursements.request_payout(merchant.merchant_id, "schedule")
    assert set_kyc(merchant, "verified").status == 200
    assert len(scheduled()) == 1
    drain_settlement_queue()

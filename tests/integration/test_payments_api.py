"""The payments resource of the merchant API (DESIGN §3): create, read, list, cancel,
idempotent creation, and unique deposit addresses under concurrency."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared import config
from shared.admin import merchants
from shared.local.stack import LocalStack
from shared.models.amounts import parse_amount
from shared.payments import service
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    create_payment,
    events_of_payment,
    get_payment,
    merchant_call,
)

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
PAYMENT_FIELDS = {
    "id",
    "object",
    "status",
    "amount",
    "currency",
    "network",
    "chain_id",
    "token_address",
    "address",
    "amount_received",
    "amount_pending",
    "amount_excess",
    "order_id",
    "metadata",
    "created_at",
    "expires_at",
    "payment_uri",
    "checkout_url",  # the hosted checkout (issue 13)
    "success_url",
    "cancel_url",
    "quote",  # null unless priced in fiat (issue 14)
    "transactions",
}


def other_merchant() -> MerchantCreds:
    m, key, secret = merchants.create_merchant("Other Shop")
    return MerchantCreds(m.merchant_id, key.key_id, secret)


# ---- create ----------------------------------------------------------------------------


def test_created_payment_is_the_full_payment_object(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given a merchant asking for 12.50 USDT
    body = {
        "amount": "12.50",
        "currency": "USDT",
        "order_id": "A-1",
        "metadata": {"cart": "42"},
        "expires_in": 900,
    }

    # When it creates a payment
    reply = merchant_call(merchant, "POST", "/v1/payments", body)

    # Then it gets 201 and every documented field
    assert reply.status == 201, reply.body
    p = reply.body
    assert set(p) == PAYMENT_FIELDS
    assert p["id"].startswith("pay_")
    assert p["object"] == "payment"
    assert p["status"] == "pending"
    assert p["amount"] == "12.5"
    assert (p["currency"], p["network"]) == ("USDT", "bsc")
    assert p["chain_id"] == stack.info["chain_id"]
    assert p["token_address"].lower() == stack.info["token_address"].lower()
    assert ADDRESS.match(p["address"])
    assert (p["amount_received"], p["amount_pending"], p["amount_excess"]) == ("0", "0", "0")
    assert (p["order_id"], p["metadata"]) == ("A-1", {"cart": "42"})
    assert p["expires_at"] - p["created_at"] == 900
    assert p["transactions"] == []
    assert p["checkout_url"] == f"{stack.info['api_url']}/pay/{p['id']}"
    assert (p["success_url"], p["cancel_url"]) == (None, None)
    # EIP-681: ethereum:<token>@<chainId>/transfer?address=<deposit>&uint256=<base units>
    assert p["payment_uri"] == (
        f"ethereum:{p['token_address']}@{stack.info['chain_id']}/transfer"
        f"?address={p['address']}&uint256={12_500_000_000_000_000_000}"
    )


def test_defaults_apply_when_only_the_amount_is_given(merchant: MerchantCreds) -> None:
    p = create_payment(merchant, "1")
    assert (p["currency"], p["order_id"], p["metadata"]) == ("USDT", None, {})
    assert p["expires_at"] - p["created_at"] == 900
    assert p["payment_uri"].endswith(f"uint256={USDT}")


def test_every_payment_gets_its_own_deposit_address(merchant: MerchantCreds) -> None:
    addresses = [create_payment(merchant, "1")["address"] for _ in range(3)]
    assert len(set(addresses)) == 3


def test_json_number_amount_is_refused_with_422(merchant: MerchantCreds) -> None:
    # Given an amount sent as a JSON number (a float would round)
    for amount in (12.5, 12, 1e3):
        # When posted, Then 422 pointing at the amount
        reply = merchant_call(merchant, "POST", "/v1/payments", {"amount": amount})
        assert reply.status == 422, (amount, reply.body)
        assert reply.error["code"] == "validation_failed"
        assert reply.error["param"] == "amount"


def test_malformed_json_is_refused_with_400(merchant: MerchantCreds) -> None:
    for raw in ('{"amount": "12.50"', "amount=12.50", "{'amount': '1'}", "\x00"):
        reply = merchant_call(merchant, "POST", "/v1/payments", raw)
        assert reply.status == 400, (raw, reply.body)
        assert reply.error["code"] == "malformed_request"


def test_unknown_field_is_refused_with_422(merchant: MerchantCreds) -> None:
    reply = merchant_call(merchant, "POST", "/v1/payments", {"amount": "1", "amuont": "2"})
    assert reply.status == 422, reply.body
    assert reply.error["param"] == "amuont"


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "1.0000000000000000001"},  # 19 decimal places
        {"amount": "0"},
        {"amount": "-5"},
        {"amount": "1e2"},
        {"amount": "12.50\n"},
        {"currency": "USDT"},  # no amount
        {"amount": "1", "currency": "BUSD"},
        {"amount": "1", "expires_in": 10},
        {"amount": "1", "expires_in": "900"},
        {"amount": "1", "order_id": ""},
        {"amount": "1", "metadata": {"nested": {"a": "b"}}},
        {"amount": "1", "metadata": {str(i): "v" for i in range(21)}},
        "12.50",
    ],
    ids=repr,
)
def test_invalid_payment_requests_are_refused_with_422(merchant: MerchantCreds, body: Any) -> None:
    reply = merchant_call(merchant, "POST", "/v1/payments", body)
    assert reply.status == 422, reply.body
    assert reply.error["code"] == "validation_failed"


def test_json_array_body_is_refused_not_truncated_to_its_first_element(
    merchant: MerchantCreds,
) -> None:
    # Given a client that posts a batch of two payments (not supported)
    batch = [{"amount": "1"}, {"amount": "1000"}]

    # When posted, Then it is refused as a whole instead of creating only the first
    reply = merchant_call(merchant, "POST", "/v1/payments", batch)
    assert reply.status == 422, reply.body


# ---- read -------------------------------------------------------------------------------


def test_merchant_reads_its_own_payment(merchant: MerchantCreds) -> None:
    created = create_payment(merchant, "3.25", order_id="R-1")
    assert get_payment(merchant, created["id"]) == created


def test_another_merchants_payment_is_not_found(merchant: MerchantCreds) -> None:
    # Given a payment of merchant A
    theirs = create_payment(merchant, "5")

    # When merchant B asks for it, Then it does not exist for B (404, not 403)
    reply = merchant_call(other_merchant(), "GET", f"/v1/payments/{theirs['id']}")
    assert reply.status == 404, reply.body
    assert reply.error["code"] == "resource_missing"


def test_unknown_payment_is_not_found(merchant: MerchantCreds) -> None:
    for payment_id in ("pay_0000000000000000000000000000000", "nope"):
        reply = merchant_call(merchant, "GET", f"/v1/payments/{payment_id}")
        assert reply.status == 404, reply.body


# ---- list ------------------------------------------------------------------------------


def test_list_pages_through_every_payment_with_a_cursor(merchant: MerchantCreds) -> None:
    # Given five payments
    created = [create_payment(merchant, f"{i + 1}")["id"] for i in range(5)]

    # When listed two at a time, following starting_after
    pages: list[list[str]] = []
    more: list[bool] = []
    path = "/v1/payments?limit=2"
    while True:
        reply = merchant_call(merchant, "GET", path)
        assert reply.status == 200, reply.body
        assert reply.body["object"] == "list"
        pages.append([p["id"] for p in reply.body["data"]])
        more.append(reply.body["has_more"])
        if not reply.body["has_more"]:
            break
        path = f"/v1/payments?limit=2&starting_after={pages[-1][-1]}"

    # Then each payment shows up once, newest first, and has_more ends the walk
    assert [len(page) for page in pages] == [2, 2, 1]
    assert more == [True, True, False]
    seen = [pid for page in pages for pid in page]
    assert sorted(seen) == sorted(created)
    assert seen == sorted(created, reverse=True)  # ids are time-ordered


def test_list_shows_only_the_callers_payments(merchant: MerchantCreds) -> None:
    mine = create_payment(merchant, "1")["id"]
    stranger = other_merchant()
    theirs = create_payment(stranger, "1")["id"]

    listed = merchant_call(merchant, "GET", "/v1/payments?limit=100").body["data"]

    assert [p["id"] for p in listed] == [mine]
    assert theirs not in {p["id"] for p in listed}


def test_cursor_from_another_merchant_is_refused(merchant: MerchantCreds) -> None:
    theirs = create_payment(other_merchant(), "1")["id"]
    reply = merchant_call(merchant, "GET", f"/v1/payments?starting_after={theirs}")
    assert reply.status == 404, reply.body


def test_list_filters_by_status(merchant: MerchantCreds) -> None:
    # Given three payments, one of them canceled
    ids = [create_payment(merchant, "1")["id"] for _ in range(3)]
    assert merchant_call(merchant, "POST", f"/v1/payments/{ids[1]}/cancel").status == 200

    # When listed by status
    canceled = merchant_call(merchant, "GET", "/v1/payments?status=canceled").body
    pending = merchant_call(merchant, "GET", "/v1/payments?status=pending&limit=1").body

    # Then each filter returns only its own, with has_more counted after filtering
    assert [p["id"] for p in canceled["data"]] == [ids[1]]
    assert canceled["has_more"] is False
    assert [p["id"] for p in pending["data"]] == [ids[2]]
    assert pending["has_more"] is True


def test_list_refuses_an_unknown_status_and_bad_limits(merchant: MerchantCreds) -> None:
    for query in ("status=bogus", "limit=0", "limit=101", "limit=-1", "limit=abc", "limit=1.5"):
        reply = merchant_call(merchant, "GET", f"/v1/payments?{query}")
        assert reply.status == 422, (query, reply.body)


# ---- cancel ----------------------------------------------------------------------------


def test_cancel_pending_payment_announces_payment_canceled(merchant: MerchantCreds) -> None:
    # Given a pending payment
    p = create_payment(merchant, "7")

    # When the merchant cancels it
    reply = merchant_call(merchant, "POST", f"/v1/payments/{p['id']}/cancel")

    # Then it is canceled and a payment.canceled event carries the new state
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "canceled"
    assert get_payment(merchant, p["id"])["status"] == "canceled"
    events = events_of_payment(merchant.merchant_id, p["id"])
    assert [e.type for e in events] == ["payment.canceled"]
    assert events[0].event_id.startswith("evt_")
    assert events[0].data["object"]["status"] == "canceled"


def test_cancel_twice_is_a_conflict(merchant: MerchantCreds) -> None:
    p = create_payment(merchant, "7")
    assert merchant_call(merchant, "POST", f"/v1/payments/{p['id']}/cancel").status == 200

    again = merchant_call(merchant, "POST", f"/v1/payments/{p['id']}/cancel")

    assert again.status == 409, again.body
    assert again.error["code"] == "invalid_state"
    assert len(events_of_payment(merchant.merchant_id, p["id"])) == 1


def test_another_merchant_cannot_cancel(merchant: MerchantCreds) -> None:
    p = create_payment(merchant, "7")
    reply = merchant_call(other_merchant(), "POST", f"/v1/payments/{p['id']}/cancel")
    assert reply.status == 404, reply.body
    assert get_payment(merchant, p["id"])["status"] == "pending"


# ---- Idempotency-Key --------------------------------------------------------------------


def test_same_idempotency_key_and_body_replays_the_first_payment(merchant: MerchantCreds) -> None:
    # Given a creation with an Idempotency-Key
    body = {"amount": "9.99", "order_id": "I-1"}
    key = {"Idempotency-Key": "order-I-1"}
    first = merchant_call(merchant, "POST", "/v1/payments", body, headers=key)

    # When the client retries the same request (e.g. after a timeout)
    second = merchant_call(merchant, "POST", "/v1/payments", body, headers=key)

    # Then it gets the same payment and address, marked as replayed; no second payment
    assert first.status == second.status == 201
    assert second.body["id"] == first.body["id"]
    assert second.body["address"] == first.body["address"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    listed = merchant_call(merchant, "GET", "/v1/payments?limit=100").body["data"]
    assert [p["id"] for p in listed] == [first.body["id"]]


def test_same_idempotency_key_with_another_body_is_a_conflict(merchant: MerchantCreds) -> None:
    key = {"Idempotency-Key": "order-I-2"}
    merchant_call(merchant, "POST", "/v1/payments", {"amount": "1"}, headers=key)

    reply = merchant_call(merchant, "POST", "/v1/payments", {"amount": "2"}, headers=key)

    assert reply.status == 409, reply.body
    assert reply.error["code"] == "idempotency_conflict"


def test_idempotency_keys_are_per_merchant(merchant: MerchantCreds) -> None:
    # Given two merchants that happen to use the same key and body
    body, key = {"amount": "1"}, {"Idempotency-Key": "shared-key"}
    a = merchant_call(merchant, "POST", "/v1/payments", body, headers=key)
    b = merchant_call(other_merchant(), "POST", "/v1/payments", body, headers=key)

    # Then each gets its own payment
    assert a.status == b.status == 201
    assert a.body["id"] != b.body["id"]
    assert a.body["address"] != b.body["address"]


def test_failed_request_does_not_burn_its_idempotency_key(merchant: MerchantCreds) -> None:
    # Given a request refused as invalid
    key = {"Idempotency-Key": "fix-and-retry"}
    bad = merchant_call(merchant, "POST", "/v1/payments", {"amount": 1}, headers=key)
    assert bad.status == 422

    # When the client fixes the body and retries with the same key, Then it is served
    good = merchant_call(merchant, "POST", "/v1/payments", {"amount": "1"}, headers=key)
    assert good.status == 201, good.body


def test_overlong_idempotency_key_is_refused(merchant: MerchantCreds) -> None:
    key = {"Idempotency-Key": "k" * 256}
    reply = merchant_call(merchant, "POST", "/v1/payments", {"amount": "1"}, headers=key)
    assert reply.status == 422, reply.body


# ---- concurrency -----------------------------------------------------------------------


def test_fifty_concurrent_creations_get_fifty_distinct_addresses(merchant: MerchantCreds) -> None:
    # Given 50 payments created at the same time (the API scales out per request)
    def create(i: int) -> Any:
        amount = parse_amount(f"{i + 1}.5", config.chain().token_decimals)
        return service.create(merchant.merchant_id, service.NewPayment(amount=amount))

    with ThreadPoolExecutor(max_workers=16) as pool:
        payments = list(pool.map(create, range(50)))

    # Then no two share a derivation index or a deposit address
    assert len({p.derivation_index for p in payments}) == 50
    assert len({p.address.lower() for p in payments}) == 50
    # and each is stored as created
    listed = merchant_call(merchant, "GET", "/v1/payments?limit=100").body["data"]
    assert {p["address"] for p in listed} == {p.address for p in payments}

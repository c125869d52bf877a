"""Payouts, refunds and cold moves through the real API handlers on moto + anvil:
settlement profiles, fees, four-eyes approval, rejection returning the reservation,
refund limits, the hot-wallet cap, and the ledger staying balanced throughout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from shared import aws, config, ledger
from shared.dal import disbursements as store
from shared.disbursements import schedule
from shared.disbursements import service as disbursements
from shared.errors import BscpayError
from shared.local.stack import LocalStack
from shared.models.domain import DisbursementStatus
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    admin_call,
    as_admin,
    create_payment,
    make_final,
    merchant_call,
    pay,
    scan,
)

# anvil's public dev accounts #7 and #8: outside addresses a merchant or payer owns.
SETTLEMENT_ADDRESS = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"
PAYER_ADDRESS = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"


@pytest.fixture
def payout_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Small thresholds so a test payment crosses them: fee 1 % + 0.5, network fee 0.1,
    approval above 20 USDT."""
    for name, value in {
        "BSCPAY_PAYOUT_FEE_BPS": "100",
        "BSCPAY_PAYOUT_FEE_FIXED": "0.5",
        "BSCPAY_PAYOUT_NETWORK_FEE": "0.1",
        "BSCPAY_PAYOUT_APPROVAL_THRESHOLD": "20",
        "BSCPAY_PAYOUT_MINIMUM": "1",
        # (the address cool-down has its own test)
        "BSCPAY_PAYOUT_ADDRESS_COOLDOWN_S": "0",
    }.items():
        monkeypatch.setenv(name, value)
    config.reset()
    yield
    monkeypatch.undo()
    config.reset()


def paid(stack: LocalStack, merchant: MerchantCreds, usdt: str) -> dict[str, Any]:
    payment = create_payment(merchant, usdt)
    pay(stack, payment["address"], int(Decimal(usdt) * USDT))
    make_final(stack)
    scan()
    return payment


def available(merchant: MerchantCreds) -> int:
    return ledger.default().merchant_balance(merchant.merchant_id).available


def set_profile(merchant: MerchantCreds, **fields: Any) -> Any:
    """Set by the admin "setter" (who may then neither request nor approve payouts to
    the address alone) and confirmed by "confirmer"; the tests' other admins request
    and approve."""
    body = {"address": SETTLEMENT_ADDRESS, **fields}
    path = f"/admin/merchants/{merchant.merchant_id}/settlement"
    reply = admin_call("POST", path, body, authorizer=as_admin("setter"))
    if reply.status == 200 and reply.body["address_status"] == "pending_confirmation":
        confirm(merchant)  # a second admin confirms the new address: payouts may go to it
    return reply


def confirm(merchant: MerchantCreds) -> None:
    path = f"/admin/merchants/{merchant.merchant_id}/settlement/confirm"
    assert admin_call("POST", path, authorizer=as_admin("confirmer")).status == 200


def drain_settlement_queue() -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    url = config.aws().settlement_queue_url
    bodies: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = got.get("Messages", [])
        if not messages:
            return bodies
        for m in messages:
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def event_types(merchant: MerchantCreds) -> list[str]:
    reply = merchant_call(merchant, "GET", "/v1/events?limit=100")
    return [e["type"] for e in reply.body["data"]]


# ---- settlement profiles ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"address": "0x1234"}, "address"),
        ({"address": "0x" + "0" * 40}, "address"),
        # a bad EIP-55 checksum (mixed case, one letter flipped)
        ({"address": "0x14dc79964da2C08b23698B3D3cc7Ca32193d9955"}, "address"),
        ({"schedule": "threshold"}, "threshold"),
        ({"schedule": "weekly"}, None),
        ({"fee_bps": 10_001}, None),
        ({"threshold": "-1", "schedule": "threshold"}, "threshold"),
    ],
)
def test_settlement_profile_refuses_bad_input(
    stack: LocalStack, merchant: MerchantCreds, fields: dict[str, Any], param: str | None
) -> None:
    reply = set_profile(merchant, **fields)
    assert reply.status == 422, reply.body
    if param:
        assert reply.body["error"]["param"] == param
    assert admin_call("GET", f"/admin/merchants/{merchant.merchant_id}/settlement").status == 404


def test_our_own_addresses_are_refused_as_destinations(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    deposit = create_payment(merchant, "1")["address"]
    for address in (deposit, stack.info["token_address"]):
        reply = set_profile(merchant, address=address)
        assert reply.status == 422, (address, reply.body)


def test_unknown_merchant_profile_is_404(stack: LocalStack) -> None:
    reply = admin_call(
        "POST", "/admin/merchants/mer_0000/settlement", {"address": SETTLEMENT_ADDRESS}
    )
    assert reply.status == 404


def test_profile_is_stored_checksummed_with_who_set_it(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    reply = set_profile(
        merchant, address=SETTLEMENT_ADDRESS.lower(), schedule="threshold", threshold="50"
    )
    assert reply.status == 200, reply.body
    assert reply.body["address"] == SETTLEMENT_ADDRESS
    assert reply.body["threshold"] == "50"
    assert reply.body["updated_by"]


# ---- payouts ------------------------------------------------------------------------------


def test_payout_without_settlement_address_is_a_conflict(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    reply = admin_call("POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {})
    assert reply.status == 409
    assert reply.body["error"]["code"] == "no_settlement_address"


def test_payout_takes_the_balance_less_fees_and_reserves_it(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    # Given 10 USDT available and a settlement address
    paid(stack, merchant, "10")
    assert set_profile(merchant).status == 200
    drain_settlement_queue()

    # When an admin requests a payout of the whole balance
    reply = admin_call(
        "POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {}, authorizer=as_admin("ann")
    )

    # Then fee = 1 % (0.1) + 0.5 fixed, network fee 0.1, 9.3 goes out; under 20: queued
    assert reply.status == 201, reply.body
    payout = reply.body
    assert (payout["gross"], payout["fee"], payout["network_fee"], payout["amount"]) == (
        "10",
        "0.6",
        "0.1",
        "9.3",
    )
    assert payout["status"] == "queued"
    assert payout["destination"] == SETTLEMENT_ADDRESS
    # and the balance is reserved, the settlement queue has it (hot-wallet group)
    balance = merchant_call(merchant, "GET", "/v1/balance").body
    assert (balance["available"], balance["pending_payout"]) == ("0", "10")
    assert {"kind": "disbursement", "disbursement_id": payout["id"]} in drain_settlement_queue()
    # and the merchant sees it in /v1/settlements and its event
    listed = merchant_call(merchant, "GET", "/v1/settlements").body["data"]
    assert [p["id"] for p in listed] == [payout["id"]]
    assert "gross" in listed[0] and "requested_by" not in listed[0]
    assert "payout.created" in event_types(merchant)
    assert ledger.default().trial_balance() == {a: 0 for a in ledger.Asset}


def test_a_second_payout_cannot_spend_the_same_balance(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    paid(stack, merchant, "5")
    set_profile(merchant)
    first = admin_call("POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {})
    assert first.status == 201
    second = admin_call("POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {"amount": "2"})
    assert second.status == 409, second.body
    assert second.body["error"]["code"] in ("insufficient_funds", "conflict")
    drain_settlement_queue()


def test_payout_under_the_minimum_after_fees_is_refused(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    paid(stack, merchant, "1.5")
    set_profile(merchant)
    reply = admin_call(
        "POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {"amount": "1.5"}
    )
    assert reply.status == 422
    assert reply.body["error"]["code"] == "amount_too_small"
    assert available(merchant) == 15 * USDT // 10


def test_four_eyes_the_requester_cannot_approve_another_admin_can(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    # Given a payout above the approval threshold requested by ann
    paid(stack, merchant, "30")
    set_profile(merchant)
    drain_settlement_queue()
    payout = admin_call(
        "POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {}, authorizer=as_admin("ann")
    ).body
    assert payout["status"] == "pending_approval"
    assert drain_settlement_queue() == []
    pending = admin_call("GET", "/admin/settlements?status=pending_approval&limit=100").body
    assert payout["id"] in [d["id"] for d in pending["data"]]

    # When ann approves her own request, Then 403 and nothing changes
    own = admin_call(
        "POST", f"/admin/settlements/{payout['id']}/approve", {}, authorizer=as_admin("ann")
    )
    assert own.status == 403
    assert own.body["error"]["code"] == "four_eyes"
    assert own.body["error"]["type"] == "permission_error"  # who she is was never in doubt
    assert store.get(payout["id"]).status is DisbursementStatus.PENDING_APPROVAL  # type: ignore[union-attr]

    # When bob approves, Then it is queued for settlement, decided_by bob
    approved = admin_call(
        "POST", f"/admin/settlements/{payout['id']}/approve", {}, authorizer=as_admin("bob")
    )
    assert approved.status == 200, approved.body
    assert (approved.body["status"], approved.body["decided_by"]) == ("queued", "bob")
    assert any(b["disbursement_id"] == payout["id"] for b in drain_settlement_queue())
    # and approving twice is a conflict, not a second message
    again = admin_call(
        "POST", f"/admin/settlements/{payout['id']}/approve", {}, authorizer=as_admin("cy")
    )
    assert again.status == 409
    assert drain_settlement_queue() == []


def test_rejection_returns_the_reservation_and_tells_the_merchant(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    paid(stack, merchant, "25")
    set_profile(merchant)
    payout = admin_call("POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {}).body
    assert available(merchant) == 0

    reply = admin_call(
        "POST",
        f"/admin/settlements/{payout['id']}/reject",
        {"reason": "settlement address unverified"},
        authorizer=as_admin("bob"),
    )

    assert reply.status == 200, reply.body
    assert reply.body["status"] == "rejected"
    assert reply.body["reason"] == "settlement address unverified"
    assert available(merchant) == 25 * USDT
    assert "payout.rejected" in event_types(merchant)
    assert admin_call("POST", f"/admin/settlements/{payout['id']}/reject", {}).status == 409
    assert ledger.default().trial_balance() == {a: 0 for a in ledger.Asset}


@pytest.mark.parametrize(
    "path",
    [
        "/admin/settlements/po_ffff/approve",
        "/admin/settlements/nonsense/approve",
        "/admin/settlements/" + "a" * 3000 + "/reject",
    ],
)
def test_unknown_settlements_are_404(stack: LocalStack, path: str) -> None:
    assert admin_call("POST", path, {}).status == 404


# ---- refunds ------------------------------------------------------------------------------


def test_refund_pays_back_from_the_balance_within_what_the_payment_received(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    payment = paid(stack, merchant, "10")
    drain_settlement_queue()
    path = f"/v1/payments/{payment['id']}/refunds"

    # When the merchant refunds 4 USDT
    reply = merchant_call(merchant, "POST", path, {"address": PAYER_ADDRESS, "amount": "4"})

    # Then the payer gets 4; the merchant's balance pays 4 + the platform fee on it
    # (1 % + 0.5) + the network fee (0.1)
    assert reply.status == 201, reply.body
    refund = reply.body
    assert (refund["object"], refund["status"], refund["amount"], refund["gross"]) == (
        "refund",
        "queued",
        "4",
        "4.64",
    )
    assert refund["payment_id"] == payment["id"]
    assert available(merchant) == 10 * USDT - 464 * USDT // 100
    assert "refund.created" in event_types(merchant)
    assert merchant_call(merchant, "GET", f"/v1/refunds/{refund['id']}").body["id"] == refund["id"]
    listed = merchant_call(merchant, "GET", path).body["data"]
    assert [r["id"] for r in listed] == [refund["id"]]

    # When it tries to refund more than what is left of the payment (6)
    over = merchant_call(merchant, "POST", path, {"address": PAYER_ADDRESS, "amount": "6.01"})
    # Then 422, and nothing is reserved
    assert over.status == 422, over.body
    assert over.body["error"]["param"] == "amount"
    assert available(merchant) == 10 * USDT - 464 * USDT // 100
    assert store.refunded(payment["id"]) == 4 * USDT
    drain_settlement_queue()


def test_refund_above_the_threshold_waits_for_an_admin_and_rejection_frees_the_cap(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    payment = paid(stack, merchant, "30")
    path = f"/v1/payments/{payment['id']}/refunds"
    refund = merchant_call(merchant, "POST", path, {"address": PAYER_ADDRESS, "amount": "25"})
    assert refund.body["status"] == "pending_approval"

    rejected = admin_call("POST", f"/admin/settlements/{refund.body['id']}/reject", {})

    assert rejected.status == 200
    assert store.refunded(payment["id"]) == 0
    assert available(merchant) == 30 * USDT
    assert "refund.rejected" in event_types(merchant)


@pytest.mark.parametrize(
    "body",
    [
        {"address": PAYER_ADDRESS, "amount": 1},
        {"address": PAYER_ADDRESS, "amount": "0"},
        {"address": PAYER_ADDRESS, "amount": "1e3"},
        {"address": "not-an-address", "amount": "1"},
        {"address": "0x" + "0" * 40, "amount": "1"},
        {"address": PAYER_ADDRESS},
        {"address": PAYER_ADDRESS, "amount": "1", "extra": True},
    ],
)
def test_refund_refuses_bad_input_without_touching_money(
    stack: LocalStack, merchant: MerchantCreds, body: dict[str, Any]
) -> None:
    payment = paid(stack, merchant, "2")
    before = available(merchant)
    reply = merchant_call(merchant, "POST", f"/v1/payments/{payment['id']}/refunds", body)
    assert reply.status == 422, reply.body
    assert available(merchant) == before
    assert store.refunded(payment["id"]) == 0


def test_refund_of_an_unpaid_or_foreign_payment(stack: LocalStack, merchant: MerchantCreds) -> None:
    unpaid = create_payment(merchant, "3")
    body = {"address": PAYER_ADDRESS, "amount": "1"}
    reply = merchant_call(merchant, "POST", f"/v1/payments/{unpaid['id']}/refunds", body)
    assert reply.status == 409
    other = MerchantCreds(*_other_merchant())
    foreign = merchant_call(other, "POST", f"/v1/payments/{unpaid['id']}/refunds", body)
    assert foreign.status == 404
    missing = merchant_call(merchant, "POST", "/v1/payments/pay_ffff/refunds", body)
    assert missing.status == 404


def _other_merchant() -> tuple[str, str, str]:
    from shared.admin import merchants

    m, key, secret = merchants.create_merchant("Other Shop")
    return m.merchant_id, key.key_id, secret


# ---- schedules and the hot-wallet cap -------------------------------------------------------


def test_threshold_schedule_pays_out_once_the_balance_reaches_it(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    set_profile(merchant, schedule="threshold", threshold="8")
    paid(stack, merchant, "5")
    report = schedule.run()
    assert not [p for p in report.payouts if store.get(p).merchant_id == merchant.merchant_id]  # type: ignore[union-attr]

    paid(stack, merchant, "5")
    report = schedule.run()
    mine = [p for p in report.payouts if store.get(p).merchant_id == merchant.merchant_id]  # type: ignore[union-attr]
    assert len(mine) == 1
    assert available(merchant) == 0
    # a second run finds nothing left to pay
    again = schedule.run()
    assert not [p for p in again.payouts if store.get(p).merchant_id == merchant.merchant_id]  # type: ignore[union-attr]
    drain_settlement_queue()


def test_daily_schedule_makes_one_payout_per_day(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    set_profile(merchant, schedule="daily")
    paid(stack, merchant, "4")
    noon = 1_900_000_000 - 1_900_000_000 % 86400 + 12 * 3600
    first = schedule.run(noon)
    mine = [p for p in first.payouts if store.get(p).merchant_id == merchant.merchant_id]  # type: ignore[union-attr]
    assert len(mine) == 1
    paid(stack, merchant, "4")
    later = schedule.run(noon + 3600)
    # the same day's slot names the same payout: nothing new is reserved
    assert [p for p in later.payouts if store.get(p).merchant_id == merchant.merchant_id] in (  # type: ignore[union-attr]
        [],
        mine,
    )
    assert available(merchant) == 4 * USDT  # waits for tomorrow
    drain_settlement_queue()


def store_payment(payment_id: str) -> Any:
    from shared.dal import payments as payment_repo

    return payment_repo.get_payment(payment_id, with_transfers=False)


def sweep(deposits: list[dict[str, Any]]) -> None:
    from shared.settlement import planner, worker

    sweep_id = planner.sweep_id([d["address"] for d in deposits], "cold-test")
    worker.handle({"kind": "sweep", "sweep_id": sweep_id, "deposits": deposits})


def test_hot_wallet_over_its_cap_moves_the_excess_to_the_cold_address_only(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given scheduled payouts of earlier tests made (they are owed from the hot wallet)
    schedule.run()
    # and a hot wallet holding more than its cap (the ledger's view)
    hot = ledger.default().holdings()["holdings:hot"]
    cold = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"  # anvil dev account #9
    monkeypatch.setenv("BSCPAY_PAYOUT_COLD_ADDRESS", cold)
    monkeypatch.setenv("BSCPAY_PAYOUT_HOT_WALLET_CAP", "0")
    monkeypatch.setenv("BSCPAY_PAYOUT_COLD_APPROVAL_THRESHOLD", "1000000")
    config.reset()
    try:
        owed = sum(d.amount for d in schedule.in_flight())
        if hot - owed < USDT:
            # Other tests' payouts are queued, unsent: sweep a paid deposit that covers
            # them, so the hot wallet really holds what the ledger says.
            payment = paid(stack, merchant, str((owed - hot) // USDT + 3))
            stored = store_payment(payment["id"])
            sweep([{"address": payment["address"].lower(), "index": stored.derivation_index}])
            hot = ledger.default().holdings()["holdings:hot"]
        drain_settlement_queue()
        report = schedule.run()
        assert report.cold_move is not None
        move = store.get(report.cold_move)
        assert move is not None
        assert (move.destination, move.amount) == (cold, hot - owed)
        # one cold move at a time
        assert schedule.run().cold_move is None
        # and settlement would refuse a cold move to anywhere else
        from shared.disbursements import worker

        tampered = move.model_copy(update={"destination": SETTLEMENT_ADDRESS})
        assert worker._refusal(tampered) is not None
        assert worker._refusal(move) is None
    finally:
        monkeypatch.undo()
        config.reset()


def test_hostile_admin_bodies_are_4xx(stack: LocalStack, merchant: MerchantCreds) -> None:
    for path, body in [
        (f"/admin/merchants/{merchant.merchant_id}/settlement", "{not json"),
        (f"/admin/merchants/{merchant.merchant_id}/settlement", {"address": 5}),
        (f"/admin/merchants/{merchant.merchant_id}/payouts", {"amount": "abc"}),
        (f"/admin/merchants/{merchant.merchant_id}/payouts", {"amount": 3}),
        ("/admin/settlements/po_1/reject", {"reason": "x" * 501}),
    ]:
        reply = admin_call("POST", path, body)
        assert 400 <= reply.status < 500, (path, body, reply.status, reply.body)
    assert admin_call("GET", "/admin/settlements?status=bogus").status == 422


# ---- on chain: settlement sends, the ledger settles -----------------------------------------


def swept_payment(stack: LocalStack, merchant: MerchantCreds, usdt: str) -> dict[str, Any]:
    """A paid payment whose deposit was swept: the hot wallet holds its funds."""
    payment = paid(stack, merchant, usdt)
    stored = store_payment(payment["id"])
    sweep([{"address": payment["address"].lower(), "index": stored.derivation_index}])
    return payment


def token_balance(stack: LocalStack, address: str) -> int:
    from shared.local import chain

    return chain.token_balance(stack.info["rpc_url"], stack.info["token_address"], address)


def settle(disbursement_id: str) -> Any:
    from shared.disbursements import worker

    return worker.handle({"kind": "disbursement", "disbursement_id": disbursement_id})


def test_payout_is_sent_once_and_settles_the_ledger_with_its_fees(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    # Given 10 USDT swept into the hot wallet and a queued payout of it
    swept_payment(stack, merchant, "10")
    set_profile(merchant)
    payout = admin_call("POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {}).body
    book = ledger.default()
    fees_before = book.balance(ledger.FEES)
    network_before = book.balance(ledger.NETWORK_FEES)
    hot_before = book.holdings()["holdings:hot"]
    received_before = token_balance(stack, SETTLEMENT_ADDRESS)

    # When settlement handles its message, twice (a redelivery)
    done = settle(payout["id"])
    again = settle(payout["id"])

    # Then 9.3 USDT arrived once, and the payout is paid with its transaction
    assert done.status is DisbursementStatus.PAID
    assert again.status is DisbursementStatus.PAID
    assert token_balance(stack, SETTLEMENT_ADDRESS) - received_before == 93 * USDT // 10
    shown = merchant_call(merchant, "GET", f"/v1/settlements/{payout['id']}").body
    assert shown["status"] == "paid" and shown["tx_hash"].startswith("0x")
    # and the ledger: the reservation is settled, fees earned, the hot wallet lower by 9.3
    balance = book.merchant_balance(merchant.merchant_id)
    assert (balance.available, balance.pending_payout) == (0, 0)
    assert book.balance(ledger.FEES) - fees_before == 6 * USDT // 10
    assert book.balance(ledger.NETWORK_FEES) - network_before == USDT // 10
    assert hot_before - book.holdings()["holdings:hot"] == 93 * USDT // 10
    assert book.trial_balance() == {a: 0 for a in ledger.Asset}
    assert "payout.paid" in event_types(merchant)


def test_refund_reaches_the_payer_exactly(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    payment = swept_payment(stack, merchant, "6")
    before = token_balance(stack, PAYER_ADDRESS)
    refund = merchant_call(
        merchant,
        "POST",
        f"/v1/payments/{payment['id']}/refunds",
        {"address": PAYER_ADDRESS, "amount": "2.5"},
    ).body

    done = settle(refund["id"])

    assert done.status is DisbursementStatus.PAID
    assert token_balance(stack, PAYER_ADDRESS) - before == 25 * USDT // 10
    assert merchant_call(merchant, "GET", f"/v1/refunds/{refund['id']}").body["status"] == "paid"
    assert "refund.paid" in event_types(merchant)
    assert available(merchant) == 6 * USDT - 3125 * USDT // 1000


def test_payout_the_hot_wallet_cannot_cover_fails_and_returns_the_balance(
    stack: LocalStack,
    merchant: MerchantCreds,
    payout_settings: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a merchant credited more than the hot wallet holds on chain (not swept)
    hot = store_hot_wallet()
    usdt = 2 * token_balance(stack, hot) // USDT + 100  # net of fees > what it holds
    paid(stack, merchant, str(usdt))
    set_profile(merchant)
    payout = admin_call(
        "POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {}, authorizer=as_admin("ann")
    ).body
    admin_call("POST", f"/admin/settlements/{payout['id']}/approve", {}, authorizer=as_admin("bob"))

    # When settlement tries to send it, Then it first waits for sweeps to refill the
    # hot wallet: nothing changes, the record stays queued for a later message
    from shared.disbursements import worker

    assert settle(payout["id"]).status is DisbursementStatus.QUEUED
    assert store.get(payout["id"]).status is DisbursementStatus.QUEUED  # type: ignore[union-attr]
    assert available(merchant) == 0

    # When the wait is over and the hot wallet is still short
    monkeypatch.setattr(worker, "LIQUIDITY_WAIT_S", 0)
    done = settle(payout["id"])

    # Then it failed, nothing left the hot wallet, the balance is back, the merchant knows
    assert done.status is DisbursementStatus.FAILED
    assert done.reason
    assert available(merchant) == usdt * USDT
    assert "payout.failed" in event_types(merchant)
    shown = merchant_call(merchant, "GET", f"/v1/settlements/{payout['id']}").body
    assert shown["failure_reason"]


def store_hot_wallet() -> str:
    from shared.custody import setup

    hot = setup.hot_wallet_address()
    assert hot is not None
    return hot


def test_cold_move_is_sent_to_the_cold_address(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"  # anvil dev account #9
    monkeypatch.setenv("BSCPAY_PAYOUT_COLD_ADDRESS", cold)
    config.reset()
    try:
        swept_payment(stack, merchant, "4")
        from shared.disbursements import service

        move = service.request_cold_move(2 * USDT, "admin:ann")
        before = token_balance(stack, cold)
        cold_ledger = ledger.default().holdings()["holdings:cold"]

        done = settle(move.disbursement_id)

        assert done.status is DisbursementStatus.PAID
        assert token_balance(stack, cold) - before == 2 * USDT
        assert ledger.default().holdings()["holdings:cold"] - cold_ledger == 2 * USDT
    finally:
        monkeypatch.undo()
        config.reset()


# ---- treasury -----------------------------------------------------------------------------


def _send_bnb(stack: LocalStack, to: str, wei: int) -> str:
    from shared.local import chain

    w3 = chain.web3_for(stack.info["rpc_url"])
    sender = w3.eth.accounts[0]  # anvil's unlocked dev account #0
    tx_hash = w3.eth.send_transaction({"from": sender, "to": to, "value": wei})  # type: ignore[typeddict-item]
    w3.eth.wait_for_transaction_receipt(tx_hash)
    return "0x" + bytes(tx_hash).hex()


def test_gas_funding_is_booked_once_and_only_when_it_paid_the_hot_wallet(
    stack: LocalStack,
) -> None:
    hot = store_hot_wallet()
    gas_before = ledger.default().holdings()["holdings:gas"]
    tx_hash = _send_bnb(stack, hot, 3 * 10**17)

    first = admin_call("POST", "/admin/treasury/gas_funding", {"tx_hash": tx_hash})
    again = admin_call("POST", "/admin/treasury/gas_funding", {"tx_hash": tx_hash})

    assert first.status == 201, first.body
    assert first.body["bnb"] == "0.3"
    assert again.status == 201  # the same funding, not counted twice
    assert ledger.default().holdings()["holdings:gas"] - gas_before == 3 * 10**17

    elsewhere = _send_bnb(stack, PAYER_ADDRESS, 10**17)
    for bad in (elsewhere, "0x" + "ab" * 32, "0x12", 42):
        reply = admin_call("POST", "/admin/treasury/gas_funding", {"tx_hash": bad})
        assert reply.status == 422, (bad, reply.body)
    assert ledger.default().holdings()["holdings:gas"] - gas_before == 3 * 10**17

    overview = admin_call("GET", "/admin/treasury").body
    assert overview["hot_wallet"] == hot
    assert set(overview["usdt"]) == {"deposits", "hot", "cold", "owed_in_flight"}


# ---- races ------------------------------------------------------------------------------


def test_concurrent_refunds_never_exceed_what_the_payment_received(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    # Given a 10 USDT payment, When eight refunds of 3 race (24 > 10)
    payment = paid(stack, merchant, "10")
    other = paid(stack, merchant, "20")  # balance is not the limit: the payment is
    assert other["id"] != payment["id"]
    path = f"/v1/payments/{payment['id']}/refunds"
    body = {"address": PAYER_ADDRESS, "amount": "3"}
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: merchant_call(merchant, "POST", path, body), range(8)))

    # Then three are created, the others refused with a 4xx, and the counter says 9
    created = [r for r in replies if r.status == 201]
    assert len(created) == 3, [(r.status, r.body) for r in replies]
    assert all(400 <= r.status < 500 for r in replies if r.status != 201)
    assert store.refunded(payment["id"]) == 9 * USDT
    assert available(merchant) == 30 * USDT - 3 * 363 * USDT // 100
    drain_settlement_queue()


def test_two_admins_approving_at_once_queue_it_once(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    paid(stack, merchant, "40")
    set_profile(merchant)
    drain_settlement_queue()
    payout = admin_call(
        "POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {}, authorizer=as_admin("ann")
    ).body

    def approve(name: str) -> int:
        # The service itself, from four threads: one warm Lambda container never runs
        # two requests at once (the resolver's context is per container), four do.
        try:
            disbursements.approve(payout["id"], name)
        except BscpayError as exc:
            return exc.status
        return 200

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(approve, ["bob", "cy", "dee", "eve"]))
    assert sorted(statuses) == [200, 409, 409, 409], statuses
    messages = [b for b in drain_settlement_queue() if b.get("disbursement_id") == payout["id"]]
    assert len(messages) == 1


def test_a_payout_waiting_for_liquidity_does_not_block_the_queue_and_comes_back(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.settlement.handler import lambda_handler
    from tests.support.events import Context, load

    monkeypatch.setenv("BSCPAY_PAYOUT_APPROVAL_THRESHOLD", "100000000")
    monkeypatch.setenv("BSCPAY_PAYOUT_ADDRESS_COOLDOWN_S", "0")
    config.reset()
    # Given a queued payout of more than the hot wallet holds, its message on the queue
    usdt = 2 * token_balance(stack, store_hot_wallet()) // USDT + 50
    paid(stack, merchant, str(usdt))
    set_profile(merchant)
    drain_settlement_queue()
    payout = admin_call("POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {}).body
    assert payout["status"] == "queued", payout
    sqs = aws.client("sqs")
    url = config.aws().settlement_queue_url
    got = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=10, MessageSystemAttributeNames=["All"]
    )["Messages"][0]
    record = load("settlement_disbursement_sqs_fifo")["Records"][0]
    record.update(messageId=got["MessageId"], receiptHandle=got["ReceiptHandle"], body=got["Body"])

    # When the settlement function gets it
    result = lambda_handler({"Records": [record]}, Context())

    # Then the message is done with (the hot-wallet group is free for the sweeps it
    # needs), nothing was sent, and the payout is still queued with its reservation
    assert result["batchItemFailures"] == []
    assert store.get(payout["id"]).status is DisbursementStatus.QUEUED  # type: ignore[union-attr]
    assert available(merchant) == 0
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got["ReceiptHandle"])
    # and the scheduler hands it to the queue again a few minutes later
    schedule.run(ids_now() + schedule.REQUEUE_AFTER_S + 1)
    assert {"kind": "disbursement", "disbursement_id": payout["id"]} in drain_settlement_queue()
    monkeypatch.undo()
    config.reset()


def ids_now() -> int:
    from shared import ids

    return ids.now()


# ---- review findings: no single admin, no leaky retries ---------------------------------


def test_one_admin_cannot_point_a_payout_at_their_address_and_approve_it(
    stack: LocalStack,
    merchant: MerchantCreds,
    payout_settings: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the address cool-down in force and a small payout (under the threshold)
    monkeypatch.setenv("BSCPAY_PAYOUT_ADDRESS_COOLDOWN_S", "86400")
    config.reset()
    paid(stack, merchant, "5")
    # When mallory sets the settlement address (hers) and the schedule pays out
    reply = admin_call(
        "POST",
        f"/admin/merchants/{merchant.merchant_id}/settlement",
        {"address": SETTLEMENT_ADDRESS, "schedule": "threshold", "threshold": "1"},
        authorizer=as_admin("mallory"),
    )
    assert reply.status == 200
    confirm(merchant)  # a second admin confirmed it; mallory still set it
    report = schedule.run()
    mine = [p for p in report.payouts if store.get(p).merchant_id == merchant.merchant_id]  # type: ignore[union-attr]
    assert len(mine) == 1

    # Then the payout waits for approval although it is small, mallory cannot approve
    # it (though someone else requested it), and another admin can
    assert store.get(mine[0]).status is DisbursementStatus.PENDING_APPROVAL  # type: ignore[union-attr]
    path = f"/admin/settlements/{mine[0]}/approve"
    refused = admin_call("POST", path, {}, authorizer=as_admin("mallory"))
    assert refused.status == 403 and refused.body["error"]["code"] == "four_eyes"
    assert admin_call("POST", path, {}, authorizer=as_admin("bob")).status == 200
    drain_settlement_queue()


def test_many_small_refunds_in_a_day_wait_for_an_admin(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    # Given a threshold of 20 and refunds of 8 from different payments (each under it)
    statuses = []
    for _ in range(3):
        payment = paid(stack, merchant, "9")
        reply = merchant_call(
            merchant,
            "POST",
            f"/v1/payments/{payment['id']}/refunds",
            {"address": PAYER_ADDRESS, "amount": "8"},
        )
        assert reply.status == 201, reply.body
        statuses.append(reply.body["status"])
    # Then the one that takes the day's total over 20 waits for approval
    assert statuses == ["queued", "queued", "pending_approval"]
    drain_settlement_queue()


def test_a_queue_outage_after_the_refund_is_stored_is_not_an_error_nor_a_second_refund(
    stack: LocalStack,
    merchant: MerchantCreds,
    payout_settings: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.disbursements import service

    payment = paid(stack, merchant, "5")

    def down(*args: Any) -> None:
        raise ConnectionError("SQS is down")

    monkeypatch.setattr(service, "_send", down)
    path = f"/v1/payments/{payment['id']}/refunds"
    body = {"address": PAYER_ADDRESS, "amount": "1"}
    first = merchant_call(merchant, "POST", path, body, headers={"Idempotency-Key": "rf-outage"})
    again = merchant_call(merchant, "POST", path, body, headers={"Idempotency-Key": "rf-outage"})

    assert first.status == 201, first.body
    assert again.status == 201 and again.body["id"] == first.body["id"]
    assert len(merchant_call(merchant, "GET", path).body["data"]) == 1
    monkeypatch.undo()
    # and the scheduler hands it to settlement later
    schedule.run(ids_now() + schedule.REQUEUE_AFTER_S + 1)
    assert {"kind": "disbursement", "disbursement_id": first.body["id"]} in drain_settlement_queue()


def test_our_cold_address_is_not_a_destination(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"
    monkeypatch.setenv("BSCPAY_PAYOUT_COLD_ADDRESS", cold)
    config.reset()
    try:
        assert set_profile(merchant, address=cold).status == 422
    finally:
        monkeypatch.undo()
        config.reset()


def test_concurrent_small_refunds_keep_the_days_unapproved_total_within_the_threshold(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    # Given six payments of 6 and a threshold of 20
    payments = [paid(stack, merchant, "6") for _ in range(6)]

    # When six refunds of 5 race
    def refund(payment: dict[str, Any]) -> Any:
        return merchant_call(
            merchant,
            "POST",
            f"/v1/payments/{payment['id']}/refunds",
            {"address": PAYER_ADDRESS, "amount": "5"},
        )

    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(refund, payments))

    # Then all are created, but at most 20 of them (4) go out without an admin
    assert [r.status for r in replies] == [201] * 6, [r.body for r in replies]
    queued = [r for r in replies if r.body["status"] == "queued"]
    assert 1 <= len(queued) <= 4
    assert len(queued) + sum(r.body["status"] == "pending_approval" for r in replies) == 6
    drain_settlement_queue()


def test_an_admin_double_submit_with_an_idempotency_key_is_one_payout(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    from functions.admin_api.handler import lambda_handler
    from tests.integration.helpers import _reply
    from tests.support.events import Context, api_event

    paid(stack, merchant, "6")
    set_profile(merchant)
    path = f"/admin/merchants/{merchant.merchant_id}/payouts"

    def submit(body: str = "{}") -> Any:
        event = api_event(
            "admin_api_create_merchant", "POST", path, body, {"Idempotency-Key": "k1"}
        )
        return _reply(lambda_handler(event, Context()))

    first, second = submit(), submit()

    assert first.status == 201 and second.status == 201, (first.body, second.body)
    assert first.body["id"] == second.body["id"]
    balance = ledger.default().merchant_balance(merchant.merchant_id)
    assert (balance.available, balance.pending_payout) == (0, 6 * USDT)
    # the same key for another amount is a conflict, not a silent replay
    other = submit('{"amount": "2"}')
    assert other.status == 409 and other.body["error"]["code"] == "idempotency_conflict"
    drain_settlement_queue()


def test_the_admin_who_set_the_address_cannot_pay_to_it_alone_even_after_the_cooldown(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    # Given mallory set the address long ago (no cool-down left)
    paid(stack, merchant, "5")
    assert (
        admin_call(
            "POST",
            f"/admin/merchants/{merchant.merchant_id}/settlement",
            {"address": SETTLEMENT_ADDRESS},
            authorizer=as_admin("mallory"),
        ).status
        == 200
    )
    confirm(merchant)
    # When she requests a small payout herself, Then it waits for someone else
    mine = admin_call(
        "POST",
        f"/admin/merchants/{merchant.merchant_id}/payouts",
        {"amount": "2"},
        authorizer=as_admin("mallory"),
    ).body
    assert mine["status"] == "pending_approval"
    # while another admin's request of the same size goes straight out
    theirs = admin_call(
        "POST",
        f"/admin/merchants/{merchant.merchant_id}/payouts",
        {"amount": "2"},
        authorizer=as_admin("bob"),
    ).body
    assert theirs["status"] == "queued"
    drain_settlement_queue()


def test_a_settlement_address_change_is_announced_to_the_merchant(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    set_profile(merchant)
    set_profile(merchant, schedule="daily")  # same address: no second announcement
    set_profile(merchant, address=PAYER_ADDRESS)

    events = merchant_call(
        merchant, "GET", "/v1/events?type=settlement.address_changed&limit=10"
    ).body["data"]
    assert [e["data"]["object"]["address"] for e in events] == [PAYER_ADDRESS, SETTLEMENT_ADDRESS]
    assert events[0]["data"]["object"]["previous_address"] == SETTLEMENT_ADDRESS


def test_a_suspended_merchants_queued_payout_waits_until_it_is_resumed(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    from shared.admin import merchants as merchant_admin

    # Given a queued payout of 10 USDT swept into the hot wallet
    swept_payment(stack, merchant, "10")
    set_profile(merchant)
    payout = admin_call("POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {}).body
    assert payout["status"] == "queued", payout
    before = token_balance(stack, SETTLEMENT_ADDRESS)

    # When the merchant is suspended, settlement leaves the payout queued and sends nothing
    merchant_admin.suspend(merchant.merchant_id, "KYC review")
    waiting = settle(payout["id"])
    assert waiting.status is DisbursementStatus.QUEUED
    assert token_balance(stack, SETTLEMENT_ADDRESS) == before
    refused = admin_call("POST", f"/admin/merchants/{merchant.merchant_id}/payouts", {})
    assert (refused.status, refused.error["code"]) == (403, "merchant_suspended")

    # When it is resumed, the same payout goes out once
    merchant_admin.resume(merchant.merchant_id)
    assert settle(payout["id"]).status is DisbursementStatus.PAID
    assert token_balance(stack, SETTLEMENT_ADDRESS) - before == 93 * USDT // 10


def test_the_threshold_schedule_pays_only_a_confirmed_address_of_an_active_merchant(
    stack: LocalStack, merchant: MerchantCreds, payout_settings: None
) -> None:
    from shared.admin import merchants as merchant_admin

    # Given a balance above the threshold and an address nobody confirmed yet
    paid(stack, merchant, "5")
    path = f"/admin/merchants/{merchant.merchant_id}/settlement"
    body = {"address": SETTLEMENT_ADDRESS, "schedule": "threshold", "threshold": "1"}
    assert admin_call("POST", path, body, authorizer=as_admin("setter")).status == 200

    def scheduled() -> list[str]:
        report = schedule.run()
        return [p for p in report.payouts if store.get(p).merchant_id == merchant.merchant_id]  # type: ignore[union-attr]

    # Then the schedule pays nothing to it
    assert scheduled() == []
    # nor, once confirmed, while the merchant is suspended
    confirm(merchant)
    merchant_admin.suspend(merchant.merchant_id, "KYC review")
    assert scheduled() == []
    # and pays once it is resumed
    merchant_admin.resume(merchant.merchant_id)
    assert len(scheduled()) == 1
    drain_settlement_queue()

"""A disbursement's destination is part of its ledger reservation: settlement re-reads
the reservation before signing and refuses a record whose destination was changed
afterwards (a tampered item in DynamoDB): nothing is sent, the disbursement fails with
its reason, the reserved balance returns, and the operators are alerted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from shared import config, ledger
from shared.dal import disbursement_models as dm
from shared.dal import ledger_models as lm
from shared.dal import payments as payment_repo
from shared.disbursements import profiles, service, worker
from shared.local import chain
from shared.local.stack import LocalStack
from shared.models.domain import DisbursementStatus, PayoutSchedule
from shared.settlement import planner
from shared.settlement import worker as settlement_worker
from shared.settlement.outbound import OutboundHooks
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import USDT, create_payment, make_final, merchant_call, pay, scan

# anvil's public dev accounts: #8 a payer, #7 the merchant's settlement address, and #6
# the address someone with write access to the table would rather be paid at.
PAYER_ADDRESS = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"
SETTLEMENT_ADDRESS = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"
ATTACKER_ADDRESS = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"


@pytest.fixture
def small_fees(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Flat small fees, no approval below 1000 USDT, no address cool-down."""
    for name, value in {
        "BSCPAY_PAYOUT_FEE_BPS": "0",
        "BSCPAY_PAYOUT_FEE_FIXED": "0",
        "BSCPAY_PAYOUT_NETWORK_FEE": "0.1",
        "BSCPAY_PAYOUT_APPROVAL_THRESHOLD": "1000",
        "BSCPAY_PAYOUT_MINIMUM": "1",
        "BSCPAY_PAYOUT_ADDRESS_COOLDOWN_S": "0",
    }.items():
        monkeypatch.setenv(name, value)
    config.reset()
    yield
    monkeypatch.undo()
    config.reset()


@pytest.fixture
def alerts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Alerts the disbursement worker raises, still published as usual."""
    raised: list[tuple[str, dict[str, Any]]] = []
    publish = worker.raise_alert

    def record(kind: str, subject: str, /, **details: Any) -> None:
        raised.append((kind, {"subject": subject, **details}))
        publish(kind, subject, **details)

    monkeypatch.setattr(worker, "raise_alert", record)
    return raised


def _swept_payment(stack: LocalStack, merchant: MerchantCreds, usdt: str) -> dict[str, Any]:
    """A paid payment whose deposit was swept: the hot wallet really holds its funds."""
    payment = create_payment(merchant, usdt)
    pay(stack, payment["address"], int(Decimal(usdt) * USDT))
    make_final(stack)
    scan()
    stored = payment_repo.get_payment(payment["id"], with_transfers=False)
    assert stored is not None and stored.status.value == "paid"
    deposits = [{"address": payment["address"].lower(), "index": stored.derivation_index}]
    sweep_id = planner.sweep_id([payment["address"].lower()], "destination-recheck")
    swept = settlement_worker.handle({"kind": "sweep", "sweep_id": sweep_id, "deposits": deposits})
    assert swept.state == "CONFIRMED"
    return payment


def _token_balance(stack: LocalStack, address: str) -> int:
    return chain.token_balance(stack.info["rpc_url"], stack.info["token_address"], address)


def _tamper_destination(disbursement_id: str, address: str) -> None:
    """What someone with write access to the table (not to the ledger) could do."""
    dm.bind()
    item = dm.DisbursementModel.get(disbursement_id, consistent_read=True)
    item.update(actions=[dm.DisbursementModel.destination.set(address)])


def _queued_refund(stack: LocalStack, merchant: MerchantCreds) -> str:
    payment = _swept_payment(stack, merchant, "5")
    reply = merchant_call(
        merchant,
        "POST",
        f"/v1/payments/{payment['id']}/refunds",
        {"address": PAYER_ADDRESS, "amount": "2"},
    )
    assert reply.status in (200, 201), reply.body
    return str(reply.body["id"])


def _queued_payout(stack: LocalStack, merchant: MerchantCreds) -> str:
    _swept_payment(stack, merchant, "5")
    profiles.set_profile(
        merchant.merchant_id,
        SETTLEMENT_ADDRESS,
        PayoutSchedule.MANUAL,
        threshold=None,
        fee_bps=None,
        fee_fixed=None,
        admin="setter",
    )
    profiles.confirm_address(merchant.merchant_id, "confirmer")  # four eyes on the address
    return service.request_payout(merchant.merchant_id, "admin:requester").disbursement_id


@pytest.mark.parametrize("make", [_queued_refund, _queued_payout], ids=["refund", "payout"])
def test_a_tampered_destination_is_refused_before_signing(
    stack: LocalStack,
    merchant: MerchantCreds,
    small_fees: None,
    alerts: list[tuple[str, dict[str, Any]]],
    make: Any,
) -> None:
    # Given a queued disbursement whose reservation names its real destination
    disbursement_id = make(stack, merchant)
    queued = service.get(disbursement_id)
    assert queued.status is DisbursementStatus.QUEUED
    reservation = ledger.default().journal(disbursement_id)
    assert reservation is not None and reservation.payout is not None
    assert reservation.payout.destination == queued.destination.lower()
    book = ledger.default()
    reserved = book.merchant_balance(merchant.merchant_id)
    assert reserved.pending_payout == queued.gross

    # When its item is pointed at another address behind the ledger's back
    _tamper_destination(disbursement_id, ATTACKER_ADDRESS)
    before = _token_balance(stack, ATTACKER_ADDRESS)
    done = worker.handle({"kind": "disbursement", "disbursement_id": disbursement_id})

    # Then nothing was sent anywhere: no transfer was signed
    assert _token_balance(stack, ATTACKER_ADDRESS) == before
    assert done is not None and done.status is DisbursementStatus.FAILED
    assert done.tx_hash is None
    # and it failed with the reason, stored
    stored = service.get(disbursement_id)
    assert stored.status is DisbursementStatus.FAILED
    assert "destination does not match" in (stored.reason or "")
    # and the reservation returned to the merchant's balance
    after = book.merchant_balance(merchant.merchant_id)
    assert after.pending_payout == 0
    assert after.available == reserved.available + queued.gross
    assert book.journal(disbursement_id).payout_state is ledger.PayoutState.CANCELLED  # type: ignore[union-attr]
    # and the operators were alerted, naming it
    assert any(
        kind == "disbursement_refused" and details.get("id") == disbursement_id
        for kind, details in alerts
    )
    # and a redelivered message sends nothing either
    worker.handle({"kind": "disbursement", "disbursement_id": disbursement_id})
    assert _token_balance(stack, ATTACKER_ADDRESS) == before


def test_a_destination_tampered_after_signing_neither_fails_it_nor_signs_again(
    stack: LocalStack,
    merchant: MerchantCreds,
    small_fees: None,
    alerts: list[tuple[str, dict[str, Any]]],
) -> None:
    # Given a refund whose transfer was signed and broadcast, then the process died
    disbursement_id = _queued_refund(stack, merchant)

    def crash(tx_hash: str) -> None:
        raise RuntimeError("process killed after broadcast")

    message = {"kind": "disbursement", "disbursement_id": disbursement_id}
    payer_before = _token_balance(stack, PAYER_ADDRESS)
    with pytest.raises(RuntimeError, match="killed"):
        worker.handle(message, hooks=OutboundHooks(after_send=crash))
    assert service.get(disbursement_id).status is DisbursementStatus.PROCESSING
    reserved = ledger.default().merchant_balance(merchant.merchant_id)

    # When its item is pointed elsewhere and the message comes back
    _tamper_destination(disbursement_id, ATTACKER_ADDRESS)
    before = _token_balance(stack, ATTACKER_ADDRESS)
    left = worker.handle(message)

    # Then nothing new is signed, and the reservation stays reserved (the transfer
    # already sent may still be mined): it is left to an operator, who is alerted
    assert left is not None and left.status is DisbursementStatus.PROCESSING
    chain.mine(stack.info["rpc_url"])
    assert _token_balance(stack, ATTACKER_ADDRESS) == before
    assert ledger.default().merchant_balance(merchant.merchant_id) == reserved
    assert any(
        kind == "disbursement_refused" and details.get("id") == disbursement_id
        for kind, details in alerts
    )

    # And once the record is put back, the transfer signed before completes, once
    _tamper_destination(disbursement_id, PAYER_ADDRESS)
    done = worker.handle(message)
    assert done is not None and done.status is DisbursementStatus.PAID
    assert _token_balance(stack, PAYER_ADDRESS) - payer_before == 2 * USDT


def test_a_transfer_signed_before_destinations_were_reserved_still_completes(
    stack: LocalStack, merchant: MerchantCreds, small_fees: None
) -> None:
    # Given a refund signed and broadcast by the previous release: its reservation
    # names no destination (the journal item as that release wrote it)
    disbursement_id = _queued_refund(stack, merchant)
    message = {"kind": "disbursement", "disbursement_id": disbursement_id}
    payer_before = _token_balance(stack, PAYER_ADDRESS)

    def crash(tx_hash: str) -> None:
        raise RuntimeError("process killed after broadcast")

    with pytest.raises(RuntimeError, match="killed"):
        worker.handle(message, hooks=OutboundHooks(after_send=crash))
    _forget_reserved_destination(disbursement_id)

    # When the message comes back, Then that transfer completes, once
    done = worker.handle(message)
    assert done is not None and done.status is DisbursementStatus.PAID
    assert _token_balance(stack, PAYER_ADDRESS) - payer_before == 2 * USDT


def _forget_reserved_destination(journal_id: str) -> None:
    lm.bind()
    item = lm.LedgerJournalModel.get(journal_id, consistent_read=True)
    terms = json.loads(item.payout_json)
    assert terms.pop("destination")
    item.update(actions=[lm.LedgerJournalModel.payout_json.set(json.dumps(terms))])

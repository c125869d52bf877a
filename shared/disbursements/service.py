"""Money leaving the hot wallet: payouts, refunds and cold moves (docs/adr/0013).

A disbursement is created with its ledger reservation in one transaction (a payout
or refund can never spend a balance twice), waits for a second admin when it is above
the approval threshold, is handed to the settlement queue (FIFO, the hot wallet's
message group: one writer per wallet), and ends ``paid`` (ledger settled: fees
earned, gas booked) or ``failed``/``rejected`` (reservation returned). Every status
change commits with its ledger posting and the merchant's event.

Settlement profiles (``profiles``), fees (``fees``) and destination checks
(``destinations``) live beside it. This module stays above ~400 lines on purpose: it is
one state machine (create, approve/reject, processing, paid/failed, the queue hand-off),
and its transitions share the private helpers that build each change with its posting
and event (``_create``, ``_transition``, ``_moved``, ``_event``); splitting it would make
those helpers public to a sibling.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger

from shared import actor, aws, config, ids, ledger
from shared.alerts import raise_alert
from shared.dal import disbursements as store
from shared.dal import merchants as merchant_repo
from shared.dal import payments as payment_repo
from shared.dal.disbursements import DisbursementChange, RefundCap, RefundVolume
from shared.disbursements import waiting
from shared.disbursements.destinations import checked_destination
from shared.disbursements.fees import network_fee, platform_fee, units
from shared.disbursements.profiles import require_merchant
from shared.errors import (
    ConcurrentConflict,
    ConcurrentUpdate,
    Conflict,
    FourEyes,
    HeldFundsUnavailable,
    IdempotencyConflict,
    InvalidState,
    MerchantSuspended,
    NotFound,
    ValidationFailed,
)
from shared.events import outbox
from shared.kyc import service as kyc
from shared.models.amounts import format_amount
from shared.models.domain import (
    Disbursement,
    DisbursementKind,
    DisbursementStatus,
    Event,
    Payment,
    PaymentStatus,
    Transfer,
)
from shared.models.ledger import Asset, Kind
from shared.payments import service as payments

logger = Logger(child=True)

# The settlement queue's message group for every hot-wallet transaction (ADR 0011).
HOT_WALLET_GROUP = "hot-wallet"
PREFIX = {
    DisbursementKind.PAYOUT: "po",
    DisbursementKind.REFUND: "re",
    DisbursementKind.COLD_MOVE: "cm",
}
MAX_REASON = 500


class NoSettlementAddress(Conflict):
    code = "no_settlement_address"


class AddressUnconfirmed(Conflict):
    code = "settlement_address_unconfirmed"


class AmountTooSmall(ValidationFailed):
    code = "amount_too_small"


class LedgerShort(RuntimeError):
    """A mined transfer the ledger cannot book (its hot wallet would go below zero)."""


class BalanceTooLow(Conflict):
    code = "insufficient_funds"

    def __init__(self, available: int, needed: int) -> None:
        super().__init__(
            f"the available balance is {_fmt(available)} USDT; this needs {_fmt(needed)} "
            "USDT (amount and fees)",
            "amount",
        )


SameApprover = FourEyes  # the requester, the address setter, the key's creator

# ---- creation ------------------------------------------------------------------------------


def request_payout(
    merchant_id: str,
    requested_by: str,
    amount: int | None = None,
    disbursement_id: str = "",
    currency: str = "USDT",
) -> Disbursement:
    """Pay ``amount`` (default: the whole available balance) of the merchant's balance
    in ``currency`` (a token it was paid in, issue 14 §3) to its settlement address,
    less the platform and network fees (in that token). A ``disbursement_id`` that
    exists already (a schedule slot, an idempotency key) returns that payout."""
    if config.chain().token(currency) is None:
        raise ValidationFailed(
            f"currency {currency!r} is not accepted; use one of "
            f"{', '.join(config.chain().token_list())}",
            "currency",
        )
    if disbursement_id:
        existing = store.get(disbursement_id)
        if existing is not None and existing.merchant_id == merchant_id:
            if amount is not None and amount != existing.gross:
                raise IdempotencyConflict(
                    "this Idempotency-Key was used for a payout of another amount",
                    "Idempotency-Key",
                )
            return existing
    profile = store.get_profile(merchant_id) if ids.plausible(merchant_id, "mer") else None
    if profile is None:
        require_merchant(merchant_id)
        raise NoSettlementAddress(f"merchant {merchant_id} has no settlement address")
    if profile.address_confirmed_by is None:
        # Manual, daily or threshold: no payout goes to an address one admin chose alone.
        raise AddressUnconfirmed(
            f"settlement address {profile.address} waits for a second admin's confirmation "
            f"(POST /admin/merchants/{merchant_id}/settlement/confirm)"
        )
    if suspended(merchant_id):
        raise MerchantSuspended(f"merchant {merchant_id} is suspended: its payouts wait")
    kyc_wait = kyc_waiting(merchant_id)
    if kyc_wait is not None:
        raise kyc_wait
    available = ledger.default().merchant_balance(merchant_id, Asset(currency)).available
    gross = available if amount is None else amount
    if gross > available:
        raise BalanceTooLow(available, gross)
    fee, nfee = platform_fee(profile, gross), network_fee()
    net = gross - fee - nfee
    if net < units(config.payouts().minimum):
        raise AmountTooSmall(
            f"a payout of {_fmt(gross)} leaves {_fmt(max(net, 0))} after fees; the minimum "
            f"is {config.payouts().minimum}",
            "amount",
        )
    d = _new(
        DisbursementKind.PAYOUT,
        disbursement_id,
        merchant_id=merchant_id,
        destination=profile.address,
        gross=gross,
        fee=fee,
        network_fee=nfee,
        requested_by=requested_by,
        threshold=units(config.payouts().approval_threshold),
        # Whoever set the address may not approve payouts to it, and a recently changed
        # address needs a second admin whatever the amount: one admin alone can never
        # send a merchant's balance to an address of their choosing.
        address_set_by=profile.address_changed_by,
        needs_approval=(
            ids.now() - profile.address_changed_at < config.payouts().address_cooldown_s
            # nor may they send money to it on their own, ever
            or requested_by == f"admin:{profile.address_changed_by}"
        ),
        currency=currency,
    )
    posting = ledger.default().reservation_posting(
        merchant_id,
        gross,
        fee,
        nfee,
        d.disbursement_id,
        destination=d.destination,
        asset=Asset(currency),
    )
    return _create(DisbursementChange(d, postings=[posting], events=[_event(d, "created")]))


def suspended(merchant_id: str) -> bool:
    merchant = merchant_repo.get_merchant(merchant_id)
    return merchant is not None and merchant.status == "suspended"


def kyc_waiting(merchant_id: str) -> kyc.KycNotVerified | None:
    """Why the merchant's payouts wait for KYC (BSCPAY_PAYOUTS_REQUIRE_KYC and not
    verified, docs/adr/0021), or None."""
    if not config.kyc().payouts_require_kyc:
        return None  # no merchant read when the deployment does not ask for KYC
    merchant = merchant_repo.get_merchant(merchant_id)
    return kyc.refusal(merchant_id, merchant) if kyc.payouts_blocked(merchant) else None


def payout_id_for(merchant_id: str, requester: str, idempotency_key: str) -> str:
    """The payout a requester's idempotency key names: a retried request finds it."""
    digest = hashlib.sha256(f"{merchant_id}|{requester}|{idempotency_key}".encode()).hexdigest()
    return f"po_{digest[:32]}"


def request_refund(
    merchant_id: str, payment_id: str, address: str, amount: int, requested_by: str
) -> Disbursement:
    """Send ``amount`` back to ``address`` from the merchant's balance; the merchant's
    balance also pays the network fee. At most what the payment received, in total."""
    payment = _merchant_payment(merchant_id, payment_id)
    if payment.amount_received <= 0:
        # Late funds count: a payer who paid an expired payment is the classic refund.
        raise InvalidState(f"payment {payment_id} has received no final funds to refund")
    destination = checked_destination(address)
    refundable = payment.amount_received - store.refunded(payment_id)
    if amount > refundable:
        raise ValidationFailed(
            f"amount exceeds what is left to refund on this payment ({_fmt(refundable)})",
            "amount",
        )
    # The platform fee applies to refunded amounts too: refunding to oneself must not be
    # a fee-free way out of the balance.
    fee, nfee = platform_fee(store.get_profile(merchant_id), amount), network_fee()
    threshold = units(config.payouts().approval_threshold)
    day = _day(ids.now())
    # Refunds are the one way out whose destination the API key chooses: above the
    # threshold in total per day (not only per refund) they wait for an admin, so a
    # stolen key cannot drain a balance in many small refunds.
    over_daily = store.refund_volume(merchant_id, day) + amount > threshold
    d = _new(
        DisbursementKind.REFUND,
        "",
        merchant_id=merchant_id,
        payment_id=payment_id,
        destination=destination,
        gross=amount + fee + nfee,
        fee=fee,
        network_fee=nfee,
        requested_by=requested_by,
        threshold=threshold,
        needs_approval=over_daily,
        currency=payment.currency,  # a refund goes back in the token it was paid in
    )
    posting = ledger.default().reservation_posting(
        merchant_id,
        d.gross,
        fee,
        nfee,
        d.disbursement_id,
        Kind.REFUND,
        destination=destination,
        asset=Asset(payment.currency),
    )
    change = DisbursementChange(
        d,
        postings=[posting],
        events=[_event(d, "created")],
        refund_reserve=RefundCap(payment_id, payment.amount_received),
        refund_volume=RefundVolume(
            merchant_id,
            day,
            # Queued without approval only while the day's total stays under it.
            limit=None if d.status is DisbursementStatus.PENDING_APPROVAL else threshold,
        ),
    )
    return _create(change)


def _merchant_payment(merchant_id: str, payment_id: str) -> Payment:
    found = ids.plausible(payment_id, "pay")
    payment = payment_repo.get_payment(payment_id, with_transfers=False) if found else None
    if payment is None or payment.merchant_id != merchant_id:
        raise NotFound(f"no payment {payment_id!r}", "payment_id")
    return payment


def return_held(payment_id: str, requested_by: str) -> Disbursement:
    """Send a held payment's funds back to their sender (docs/adr/0020): a refund
    reserved from the merchant's *held* account (never available), net of the refund
    fees (platform fee and network fee come out of the returned funds: the merchant
    never had them). Above the approval threshold it waits for a second finance user,
    like any refund. ``requested_by`` ("admin:<name>") may not be who flagged the
    sender.

    The refund, its reservation and the transfers' ``returning`` mark commit in ONE
    transaction conditioned on the payment's version: the same held funds can never be
    both returned and released. The payment stays ``held`` until the refund settles
    (:func:`mark_paid` marks them returned; a failed or rejected refund holds them
    again). A retry while the return is under way answers that refund."""
    for _ in range(payments.MAX_RETRIES):
        under_way = _return_under_way(payment_id)
        if under_way is not None:
            return under_way
        payment, held = payments.get_held(payment_id)
        payments.check_four_eyes(held, requested_by)
        change = _return_change(payment, held, requested_by)
        d = change.disbursement
        transfer_ids = sorted(t.transfer_id for t in held)
        try:
            payments.begin_return(
                payment,
                transfer_ids,
                d.disbursement_id,
                partial(store.add_to_transaction, change=change),
            )
        except ConcurrentUpdate:
            _explain_return(change)
            continue  # the payment moved on (another finance user, the scanner): re-read
        outbox.publish(change.events)
        logger.info(
            "held funds returning", extra={"payment_id": payment_id, "refund": d.disbursement_id}
        )
        if d.status is DisbursementStatus.QUEUED:
            enqueue(d)
        return d
    raise ConcurrentConflict(f"payment {payment_id} kept changing while it was returned; retry")


def _return_under_way(payment_id: str) -> Disbursement | None:
    """The refund already returning this payment's held funds (a retried request)."""
    payment = payment_repo.get_payment(payment_id) if ids.plausible(payment_id, "pay") else None
    if payment is None or payment.status is not PaymentStatus.HELD:
        return None
    try:
        if payments.settle_returns(payment):
            payment = payment_repo.get_payment(payment_id) or payment
    except ConcurrentUpdate:
        raise ConcurrentConflict(f"payment {payment_id} kept changing; retry") from None
    returning = payments.returning_transfers(payment)
    if not returning or payments.held_transfers(payment) or not returning[0].returned_in:
        return None
    return store.get(returning[0].returned_in)


def _return_change(payment: Payment, held: list[Transfer], requested_by: str) -> DisbursementChange:
    senders = {t.from_address.lower() for t in held}
    if len(senders) != 1:
        raise InvalidState(
            "the held funds came from more than one sender; return needs a single sender"
        )
    destination = checked_destination(held[0].from_address)
    gross = sum(t.amount for t in held)
    assert payment.merchant_id is not None
    fee, nfee = platform_fee(store.get_profile(payment.merchant_id), gross), network_fee()
    if gross - fee - nfee <= 0:
        raise AmountTooSmall(
            f"the held {_fmt(gross)} USDT do not cover the refund fees ({_fmt(fee + nfee)})",
            "amount",
        )
    transfer_ids = sorted(t.transfer_id for t in held)
    # The payment's version is part of the id: after a failed or rejected return (the
    # payment's version moved), a new refund.
    basis = f"{payment.payment_id}|return|{payment.version}|{','.join(transfer_ids)}"
    refund_id = f"re_{hashlib.sha256(basis.encode()).hexdigest()[:32]}"
    d = _new(
        DisbursementKind.REFUND,
        refund_id,
        merchant_id=payment.merchant_id,
        payment_id=payment.payment_id,
        destination=destination,
        gross=gross,
        fee=fee,
        network_fee=nfee,
        requested_by=requested_by,
        threshold=units(config.payouts().approval_threshold),
        currency=payment.currency,
    )
    posting = ledger.default().reservation_posting(
        payment.merchant_id,
        gross,
        fee,
        nfee,
        refund_id,
        Kind.REFUND,
        destination=destination,
        from_held=True,
        asset=Asset(payment.currency),
    )
    return DisbursementChange(
        d,
        postings=[posting],
        events=[_event(d, "created")],
        refund_reserve=RefundCap(payment.payment_id, payment.amount_received),
    )


def _explain_return(change: DisbursementChange) -> None:
    """Why a return's transaction was refused, when the reason still holds: the held
    account short of the funds (409 ``held_funds_unavailable``) or the refund cap."""
    for posting in change.postings:
        try:
            ledger.default().explain_rejection(posting)
        except ledger.InsufficientFunds as exc:
            raise HeldFundsUnavailable(
                f"the merchant's held account holds {_fmt(exc.balance)} USDT; the return "
                f"needs {_fmt(exc.requested)}"
            ) from None
    _explain(replace(change, postings=[]))


def request_cold_move(amount: int, requested_by: str, disbursement_id: str = "") -> Disbursement:
    """Move ``amount`` from the hot wallet to the configured cold address: the one
    destination a cold move can have (the settlement function checks it again)."""
    cold = config.payouts().cold_address
    if not cold:
        raise InvalidState("no cold address is configured (BSCPAY_PAYOUT_COLD_ADDRESS)")
    d = _new(
        DisbursementKind.COLD_MOVE,
        disbursement_id,
        merchant_id=None,
        destination=cold,
        gross=amount,
        fee=0,
        network_fee=0,
        requested_by=requested_by,
        threshold=units(config.payouts().cold_approval_threshold),
    )
    return _create(DisbursementChange(d))


def _new(
    kind: DisbursementKind,
    disbursement_id: str,
    *,
    merchant_id: str | None,
    destination: str,
    gross: int,
    fee: int,
    network_fee: int,
    requested_by: str,
    threshold: int,
    payment_id: str | None = None,
    address_set_by: str | None = None,
    needs_approval: bool = False,
    currency: str = "USDT",
) -> Disbursement:
    now = ids.now()
    pending = needs_approval or gross > threshold
    caller = actor.current()
    by_key = caller.kind == "api_key"
    status = DisbursementStatus.PENDING_APPROVAL if pending else DisbursementStatus.QUEUED
    return Disbursement(
        disbursement_id=disbursement_id or ids.new_id(PREFIX[kind]),
        kind=kind,
        status=status,
        merchant_id=merchant_id,
        payment_id=payment_id,
        destination=destination,
        gross=gross,
        fee=fee,
        network_fee=network_fee,
        amount=gross - fee - network_fee,
        requested_by=requested_by,
        address_set_by=address_set_by,
        requested_key=caller.id if by_key else None,
        key_created_by=caller.created_by if by_key else None,
        currency=currency,
        created_at=now,
        updated_at=now,
    )


def _create(change: DisbursementChange) -> Disbursement:
    d = change.disbursement
    try:
        store.commit(change)
    except ConcurrentUpdate:
        existing = store.get(d.disbursement_id)
        if existing is not None:  # a scheduled id created twice: the first one stands
            return existing
        _explain(change)
        volume = change.refund_volume
        if volume is not None and volume.limit is not None:
            # Another refund took the day's headroom meanwhile: this one waits for an admin.
            pending = d.model_copy(update={"status": DisbursementStatus.PENDING_APPROVAL})
            retry = replace(change, disbursement=pending, events=[_event(pending, "created")])
            retry.refund_volume = replace(volume, limit=None)
            return _create(retry)
        raise Conflict("the balance changed while the request was made; retry") from None
    outbox.publish(change.events)
    logger.info(
        "disbursement created",
        extra={"id": d.disbursement_id, "kind": d.kind.value, "status": d.status.value},
    )
    if d.status is DisbursementStatus.QUEUED:
        enqueue(d)
    return d


def _explain(change: DisbursementChange) -> None:
    """Raise the reason a creation was refused (balance or refund cap), if it still holds."""
    for posting in change.postings:
        try:
            ledger.default().explain_rejection(posting)
        except ledger.InsufficientFunds as exc:  # in the merchant's terms, not the ledger's
            raise BalanceTooLow(exc.balance, exc.requested) from None
    cap = change.refund_reserve
    if cap is None:
        return
    left = cap.cap - store.refunded(cap.payment_id)
    if change.disbursement.amount > left:
        raise ValidationFailed(
            f"amount exceeds what is left to refund on this payment ({_fmt(max(left, 0))})",
            "amount",
        )


# ---- approval --------------------------------------------------------------------------


def approve(disbursement_id: str, admin: str) -> Disbursement:
    d = _get_pending(disbursement_id)
    if d.requested_by == f"admin:{admin}":
        raise SameApprover("a disbursement is approved by an admin other than its requester")
    if d.address_set_by == admin:
        raise SameApprover("the admin who set the settlement address cannot approve payouts to it")
    if d.merchant_id and suspended(d.merchant_id):
        raise MerchantSuspended(f"merchant {d.merchant_id} is suspended: its payouts wait")
    if d.kind is DisbursementKind.PAYOUT and d.merchant_id:
        kyc_wait = kyc_waiting(d.merchant_id)
        if kyc_wait is not None:
            raise kyc_wait
    if d.key_created_by == f"admin:{admin}":
        raise SameApprover(
            "the admin who created the API key that requested this cannot approve it"
        )
    if (
        d.kind is DisbursementKind.REFUND
        and d.payment_id
        and f"admin:{admin}" in payments.flaggers_of_return(d.payment_id, d.disbursement_id)
    ):
        raise SameApprover("who flagged the sender cannot approve returning its funds")
    new = _moved(d, DisbursementStatus.QUEUED, decided_by=admin)
    _transition(DisbursementChange(new, expected_status=d.status))
    logger.info("disbursement approved", extra={"id": disbursement_id, "by": admin})
    enqueue(new)
    return new


def reject(disbursement_id: str, admin: str, reason: str) -> Disbursement:
    d = _get_pending(disbursement_id)
    new = _moved(d, DisbursementStatus.REJECTED, decided_by=admin, reason=reason[:MAX_REASON])
    change = _closing_change(d, new, "rejected")
    _transition(change)
    _held_again(d)
    logger.info("disbursement rejected", extra={"id": disbursement_id, "by": admin})
    return new


def _held_again(d: Disbursement) -> None:
    """A return of held funds that will not be sent: its funds are held again (its
    reservation went back to the held account, docs/adr/0020). Its own transaction,
    after the refund's: should it not land, the next release or return of the payment
    finishes it (``payments.settle_returns``); the funds meanwhile stay reserved for
    nobody, never spendable twice."""
    if d.kind is DisbursementKind.REFUND and d.payment_id:
        try:
            payments.return_failed(d.payment_id, d.disbursement_id)
        except Exception:
            logger.exception("held again: finished later", extra={"id": d.disbursement_id})


def _returned(d: Disbursement) -> None:
    """A paid return of held funds: the payment's transfers are returned (see
    :func:`_held_again` for why a failure here is only logged)."""
    if d.kind is DisbursementKind.REFUND and d.payment_id:
        try:
            payments.mark_returned(d.payment_id, d.disbursement_id)
        except Exception:
            logger.exception("returned: finished later", extra={"id": d.disbursement_id})


def _get_pending(disbursement_id: str) -> Disbursement:
    d = get(disbursement_id)
    if d.status is not DisbursementStatus.PENDING_APPROVAL:
        raise InvalidState(f"{disbursement_id} is {d.status.value}, not pending_approval")
    return d


# ---- settlement-side transitions -------------------------------------------------------


def mark_processing(d: Disbursement) -> Disbursement:
    new = _moved(d, DisbursementStatus.PROCESSING)
    _transition(DisbursementChange(new, expected_status=d.status))
    return new


def mark_paid(d: Disbursement, tx_hash: str, gas_fee_wei: int) -> Disbursement:
    """The transfer is mined: settle the reservation (or book the cold move), with the
    gas it cost, in the same transaction as the status."""
    new = _moved(d, DisbursementStatus.PAID, tx_hash=tx_hash, gas_fee_wei=gas_fee_wei)
    book = ledger.default()

    def paid(gas: int) -> DisbursementChange:
        if d.kind is DisbursementKind.COLD_MOVE:
            posting = book.cold_move_posting(d.amount, d.disbursement_id, gas_bnb=gas)
        else:
            posting = book.settle_posting(d.disbursement_id, gas_bnb=gas)
        events = [_event(new, "paid")] if d.merchant_id else []
        return DisbursementChange(new, expected_status=d.status, postings=[posting], events=events)

    if not _transition_booking_gas(d, gas_fee_wei, paid):
        # The USDT moved but the ledger's hot wallet holds less: funds reached the chain
        # without a posting (the reconciler reports it). Stay `processing` and retry once
        # an operator has booked them; never record money the ledger cannot account for.
        raise_alert(
            "ledger_cannot_settle", "a sent transfer cannot be booked", id=d.disbursement_id
        )
        raise LedgerShort(d.disbursement_id)
    _returned(d)
    return new


def mark_failed(d: Disbursement, reason: str, gas_fee_wei: int = 0) -> Disbursement:
    """The transfer will not happen: the reservation returns to the balance; gas a
    failed transaction burnt is booked (a cold move has no reservation, only gas)."""
    new = _moved(d, DisbursementStatus.FAILED, reason=reason[:MAX_REASON], gas_fee_wei=gas_fee_wei)
    if _transition_booking_gas(d, gas_fee_wei, lambda gas: _closing_change(d, new, "failed", gas)):
        _held_again(d)
    logger.warning("disbursement failed", extra={"id": d.disbursement_id, "reason": reason})
    return new


def _transition_booking_gas(
    d: Disbursement, gas_fee_wei: int, change_with: Callable[[int], DisbursementChange]
) -> bool:
    """Commit the change with the gas the transaction cost; when the ledger was never
    told about that BNB (``fund_gas``), alert and commit it without the gas (the
    reconciler shows the BNB drift). False when even that is refused (InsufficientFunds)."""
    for gas in (gas_fee_wei, 0) if gas_fee_wei else (0,):
        try:
            _transition(change_with(gas))
            return True
        except ledger.InsufficientFunds:
            raise_alert("payout_gas_not_in_ledger", "gas not in the ledger", id=d.disbursement_id)
    return False


def _closing_change(
    d: Disbursement, new: Disbursement, event: str, gas_fee_wei: int = 0
) -> DisbursementChange:
    """A disbursement that will not be paid: its reservation goes back to the balance."""
    if d.kind is DisbursementKind.COLD_MOVE:
        gas = [ledger.default().gas_posting(gas_fee_wei, d.disbursement_id)] if gas_fee_wei else []
        return DisbursementChange(new, expected_status=d.status, postings=gas)
    return DisbursementChange(
        new,
        expected_status=d.status,
        postings=[ledger.default().cancel_posting(d.disbursement_id, gas_fee_wei)],
        events=[_event(new, event)],
        refund_release=d.payment_id if d.kind is DisbursementKind.REFUND else None,
    )


def _moved(d: Disbursement, status: DisbursementStatus, **changes: Any) -> Disbursement:
    return d.model_copy(
        update={"status": status, "updated_at": ids.now(), "version": d.version + 1, **changes}
    )


def _transition(change: DisbursementChange) -> None:
    try:
        store.commit(change)
    except ConcurrentUpdate:
        current = store.get(change.disbursement.disbursement_id)
        if current is not None and current.version != change.disbursement.version - 1:
            raise InvalidState(
                f"{current.disbursement_id} changed meanwhile (now {current.status.value})"
            ) from None
        for posting in change.postings:
            ledger.default().explain_rejection(posting)
        raise Conflict(f"{change.disbursement.disbursement_id} changed meanwhile; retry") from None
    outbox.publish(change.events)


# ---- queue -----------------------------------------------------------------------------


def enqueue(d: Disbursement, salt: str = "") -> None:
    """Hand a queued disbursement to settlement. Never raises: the record is stored
    already, and an error here would make a client retry (and create a second one).
    A lost message is re-sent by the scheduler (``requeue_stale``); settlement ignores
    one it has already handled."""
    url = config.aws().settlement_queue_url
    if not url:
        return
    try:
        _send(url, d, salt)
    except Exception:
        logger.exception(
            "enqueue failed; the scheduler re-sends it", extra={"id": d.disbursement_id}
        )


def _send(url: str, d: Disbursement, salt: str) -> None:
    aws.client("sqs").send_message(
        QueueUrl=url,
        MessageBody=json.dumps({"kind": "disbursement", "disbursement_id": d.disbursement_id}),
        MessageGroupId=HOT_WALLET_GROUP,
        MessageDeduplicationId=hashlib.sha256(
            f"{d.disbursement_id}|{d.version}|{salt}".encode()
        ).hexdigest(),
    )


# ---- reads -------------------------------------------------------------------------------


def get(disbursement_id: str) -> Disbursement:
    prefix = disbursement_id.split("_", 1)[0]
    d = store.get(disbursement_id) if ids.plausible(disbursement_id, prefix) else None
    if d is None:
        raise NotFound(f"no settlement {disbursement_id!r}", "id")
    return d


def get_for_merchant(
    merchant_id: str, disbursement_id: str, kind: DisbursementKind
) -> Disbursement:
    d = store.get(disbursement_id) if ids.plausible(disbursement_id, PREFIX[kind]) else None
    if d is None or d.merchant_id != merchant_id or d.kind is not kind:
        raise NotFound(f"no {kind.value} {disbursement_id!r}", "id")
    return d


def list_for_merchant(
    merchant_id: str, kind: DisbursementKind, limit: int, starting_after: str | None
) -> tuple[list[Disbursement], bool]:
    before = None
    if starting_after:
        before = store.key_of(get_for_merchant(merchant_id, starting_after, kind))
    return store.list_for_merchant(merchant_id, kind, limit, before)


def refunds_of(merchant_id: str, payment_id: str) -> list[Disbursement]:
    _merchant_payment(merchant_id, payment_id)
    return [d for d in store.list_for_payment(payment_id) if d.kind is DisbursementKind.REFUND]


def list_by_status(
    status: DisbursementStatus | None, limit: int, starting_after: str | None
) -> tuple[list[Disbursement], bool]:
    """Newest first; every status when ``status`` is None."""
    before = store.key_of(get(starting_after)) if starting_after else None
    if status is None:
        return store.list_all(limit, before)
    return store.list_by_status(status, limit, before)


def in_flight(currency: str, excluding: str = "") -> int:
    """Base units of ``currency`` that PROCESSING disbursements (``excluding`` aside)
    are sending: signed or about to be, not booked yet. Transfers leave the hot wallet
    without waiting for each other (docs/adr/0040), so what the wallet holds for the
    next one is its balance less these."""
    total, before = 0, None
    while True:
        page, more = store.list_by_status(DisbursementStatus.PROCESSING, 100, before)
        total += sum(
            d.amount for d in page if d.currency == currency and d.disbursement_id != excluding
        )
        if not more or not page:
            return total
        before = store.key_of(page[-1])


# ---- shapes ------------------------------------------------------------------------------


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _fmt(base_units: int) -> str:
    return format_amount(base_units, config.chain().token_decimals)


def to_json(d: Disbursement) -> dict[str, Any]:
    """The public object: ``payout``, ``refund`` or ``cold_move``."""
    out: dict[str, Any] = {
        "id": d.disbursement_id,
        "object": d.kind.value,
        "status": d.status.value,
        "currency": d.currency,
        "amount": _fmt(d.amount),
        "gross": _fmt(d.gross),
        "fee": _fmt(d.fee),
        "network_fee": _fmt(d.network_fee),
        "destination": d.destination,
        "tx_hash": d.tx_hash,
        "failure_reason": d.reason if d.status is DisbursementStatus.FAILED else None,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    }
    if d.kind is DisbursementKind.REFUND:
        out["payment_id"] = d.payment_id
    out.update(waiting.reason(d))  # why a queued one is not sent yet
    return out


def to_admin_json(d: Disbursement) -> dict[str, Any]:
    return {
        **to_json(d),
        "kind": d.kind.value,
        "merchant_id": d.merchant_id,
        "payment_id": d.payment_id,
        "requested_by": d.requested_by,
        "requested_key": d.requested_key,
        "key_created_by": d.key_created_by,
        "decided_by": d.decided_by,
        "reason": d.reason,
        "gas_fee_wei": str(d.gas_fee_wei) if d.gas_fee_wei is not None else None,
    }


def _event(d: Disbursement, what: str) -> Event:
    assert d.merchant_id is not None
    return Event(
        event_id=ids.new_id("evt"),
        type=f"{d.kind.value}.{what}",
        created=ids.now(),
        merchant_id=d.merchant_id,
        data={"object": to_json(d)},
    )

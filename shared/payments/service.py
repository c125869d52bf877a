"""Payment use cases: create, read, list, cancel, and the fund movements the
scanner and expirer report. Every state change and its event commit together."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger
from pynamodb.transactions import TransactWrite

from shared import config, ids, ledger
from shared.custody import addresses
from shared.dal import disbursements as refund_store
from shared.dal import merchants as merchant_repo
from shared.dal import payments as payment_repo
from shared.dal import transfers as transfer_repo
from shared.dal.payments import PaymentChange
from shared.errors import (
    ConcurrentConflict,
    ConcurrentUpdate,
    FourEyes,
    HeldFundsUnavailable,
    InvalidState,
    PaymentNotFound,
    ReturnUnderWay,
    ValidationFailed,
)
from shared.events import outbox, payloads
from shared.ledger.service import credit_held_posting, credit_payment_posting, release_posting
from shared.models.domain import (
    DisbursementStatus,
    Event,
    Payment,
    PaymentStatus,
    Transfer,
    TransferStatus,
)
from shared.models.events import EVENT_TYPES
from shared.models.ledger import Asset, InsufficientFunds
from shared.payments import redirects, state
from shared.screening import Verdict, screen

logger = Logger(child=True)

MAX_RETRIES = 8


@dataclass(frozen=True)
class NewPayment:
    """What a merchant asks for; the handler has parsed the amount into base units."""

    amount: int  # base units; 0 when priced in fiat (the quote sets it)
    order_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    expires_in: int | None = None  # seconds; None: the API's default
    success_url: str | None = None  # the hosted checkout's redirects (issue 13)
    cancel_url: str | None = None
    # A fiat price (amount as a decimal string, currency) instead of a token amount.
    price: tuple[str, str] | None = None
    currency: str = "USDT"  # the token paid in (issue 14 §3)


def create(merchant_id: str, request: NewPayment) -> Payment:
    chain = config.chain()
    token = chain.token(request.currency)
    if token is None:
        raise ValidationFailed(
            f"currency {request.currency!r} is not accepted; use one of "
            f"{', '.join(chain.token_list())}",
            "currency",
        )
    amount = request.amount
    if request.price is None and amount <= 0:
        raise ValidationFailed("amount must be greater than zero", "amount")
    local_mode = config.api().local_mode
    for param, url in (("success_url", request.success_url), ("cancel_url", request.cancel_url)):
        if url is not None:
            redirects.check_redirect_url(url, local_mode, param)
    expires_in = request.expires_in or config.api().default_expires_in_s
    merchant = merchant_repo.get_merchant(merchant_id)
    tolerance_bps = merchant.underpay_tolerance_bps if merchant else 0
    now = ids.now()
    quote = None
    if request.price is not None:
        from shared.pricing import quotes  # only fiat-priced payments read the feeds

        amount, quote = quotes.quote(
            *request.price,
            token=token.symbol,
            token_decimals=token.decimals,
            spread_bps=merchant.price_spread_bps if merchant else 0,
            expires_at=now + expires_in,
        )
    index, address = addresses.allocate()
    payment = Payment(
        payment_id=ids.new_id("pay"),
        merchant_id=merchant_id,
        status=PaymentStatus.PENDING,
        amount=amount,
        chain_id=chain.chain_id,
        currency=token.symbol,
        token_address=token.address,
        address=address,
        derivation_index=index,
        order_id=request.order_id,
        metadata=request.metadata,
        created_at=now,
        expires_at=now + expires_in,
        # Snapshot: a later change of the merchant's tolerance does not rewrite old payments.
        tolerance=amount * tolerance_bps // 10_000,
        success_url=request.success_url,
        cancel_url=request.cancel_url,
        quote=quote,
    )
    payment_repo.insert_payment(payment)
    return payment


def get(merchant_id: str, payment_id: str) -> Payment:
    payment = payment_repo.get_payment(payment_id) if ids.plausible(payment_id, "pay") else None
    if payment is None or payment.merchant_id != merchant_id:
        raise PaymentNotFound(f"no payment {payment_id!r}", "id")
    return payment


def get_any(payment_id: str) -> Payment:
    """Any merchant's payment, with its transfers (the admin console)."""
    payment = payment_repo.get_payment(payment_id) if ids.plausible(payment_id, "pay") else None
    if payment is None:
        raise PaymentNotFound(f"no payment {payment_id!r}", "payment_id")
    return payment


def list_for_merchant(
    merchant_id: str, limit: int, starting_after: str | None, status: str | None
) -> tuple[list[Payment], bool]:
    if status is not None and status not in {s.value for s in PaymentStatus}:
        raise ValidationFailed(f"unknown status {status!r}", "status")
    after = get(merchant_id, starting_after) if starting_after else None
    return payment_repo.list_payments(merchant_id, limit, after, status)


def list_all(limit: int, starting_after: str | None) -> tuple[list[Payment], bool]:
    after = (
        payment_repo.get_payment(starting_after, with_transfers=False)
        if starting_after and ids.plausible(starting_after, "pay")
        else None
    )
    if starting_after and after is None:
        raise PaymentNotFound(f"no payment {starting_after!r}", "starting_after")
    return payment_repo.list_payments_all(limit, after)


def cancel(merchant_id: str, payment_id: str) -> Payment:
    get(merchant_id, payment_id)  # ownership check

    def change(p: Payment) -> PaymentChange | None:
        if not state.can_cancel(p.status, state.Totals(p.amount_received, p.amount_pending)):
            raise InvalidState(
                f"payment is {p.status.value}; only a pending payment with nothing received "
                "can be canceled"
            )
        return _transition(p, PaymentStatus.CANCELED, deactivate=True)

    return _mutate(payment_id, change)


# ---- fund movements (scanner, expirer) -----------------------------------------------


def record_transfer(transfer: Transfer, known: Mapping[str, TransferStatus] | None = None) -> bool:
    """Record a newly seen transfer. False when it was already recorded (idempotent).

    A transfer that a reorg reversed and that the chain then re-included (same
    transaction and log index, new block) is revived: pending again, counted once.
    A pending one seen again in another block (re-included by the reorg itself) moves
    to that block. ``known``: the statuses of recorded transfers read for a whole
    scanner step (``transfer_repo.statuses``); absent from it means not recorded."""
    existing = (
        known.get(transfer.transfer_id)
        if known is not None
        else transfer_repo.get_transfer_status(transfer.transfer_id)
    )
    if existing == TransferStatus.PENDING:
        _move_to_block(transfer)
        return False
    if existing is not None and existing != TransferStatus.REVERSED:
        return False

    def change(p: Payment) -> PaymentChange | None:
        known = next((t for t in p.transactions if t.transfer_id == transfer.transfer_id), None)
        if known is not None and known.status != TransferStatus.REVERSED:
            return None  # recorded or revived meanwhile
        if _counts(p, transfer):
            p.amount_pending += transfer.amount
        if known is not None:
            p.transactions.remove(known)
        p.transactions.append(transfer)
        new_status = state.status_after_funds(p.status, p.amount, _totals(p), p.tolerance)
        result = _transition(p, new_status) if new_status != p.status else _bump(p)
        if known is None:
            result.new_transfers.append(transfer)
        else:
            result.updated_transfers.append((transfer, TransferStatus.REVERSED))
        return result

    try:
        _mutate(transfer.payment_id, change)
    except ConcurrentUpdate:
        if transfer_repo.get_transfer_status(transfer.transfer_id) not in (
            None,
            TransferStatus.REVERSED,
        ):
            return False  # another scanner pass recorded it first
        raise
    return True


def _move_to_block(transfer: Transfer) -> None:
    """The pending transfer now carries the block the chain holds it in."""

    def change(p: Payment) -> PaymentChange | None:
        known = next((t for t in p.transactions if t.transfer_id == transfer.transfer_id), None)
        if (
            known is None
            or known.status != TransferStatus.PENDING
            or known.block_hash == transfer.block_hash
        ):
            return None
        known.block_number, known.block_hash = transfer.block_number, transfer.block_hash
        result = _bump(p)
        result.updated_transfers.append((known, TransferStatus.PENDING))
        return result

    _mutate(transfer.payment_id, change)


def finalize_transfer(transfer: Transfer, canonical: bool) -> None:
    """Settle a pending transfer: count it as final, or reverse it (its log left the
    chain), announcing ``payment.reversed``.

    A final transfer's sender is screened first (docs/adr/0020), outside the payment's
    transaction: screening reads the blocklist and may call a provider. Funds from a
    flagged sender are credited to the merchant's held account, never to available;
    the payment becomes ``held`` (``payment.held``, with the risk level and source)."""
    verdict = screen(transfer.from_address) if canonical else None

    def change(p: Payment) -> PaymentChange | None:
        current = next((t for t in p.transactions if t.transfer_id == transfer.transfer_id), None)
        if current is None or current.status != TransferStatus.PENDING:
            return None  # already handled
        if not _counts(p, current):
            return _settle_other_currency(p, current, canonical, verdict)
        p.amount_pending -= current.amount
        was_settled = p.status in state.SETTLED
        postings = []
        held = verdict is not None and verdict.flagged
        if canonical:
            assert verdict is not None
            current.status = TransferStatus.FINAL
            current.late = was_settled
            p.amount_received += current.amount
            current.risk_level, current.risk_source = verdict.level, verdict.source
            credit = credit_held_posting if held else credit_payment_posting
            if held:
                current.hold, current.flagged_by = "held", verdict.flagged_by
                current.held_from = p.status.value
            # Final funds are the merchant's (or held for review), in the same
            # transaction (journal id = transfer).
            postings.append(
                credit(
                    p.merchant_id,
                    current.amount,
                    current.transfer_id,
                    int(time.time() * 1000),
                    Asset(current.currency),
                )
            )
        else:
            current.status = TransferStatus.REVERSED
        new_status = state.status_after_funds(p.status, p.amount, _totals(p), p.tolerance)
        if held:
            new_status = PaymentStatus.HELD
        result = _transition(p, new_status) if new_status != p.status else _bump(p)
        if not canonical:
            result.events.append(_event(p, "payment.reversed"))
        elif held:
            assert verdict is not None
            if not any(e.type == "payment.held" for e in result.events):  # held already
                result.events.append(_event(p, "payment.held"))
            for e in result.events:
                if e.type == "payment.held":
                    e.data["risk"] = _risk(verdict)
        elif was_settled:
            result.events.append(_event(p, "payment.late_funds"))
        result.updated_transfers.append((current, TransferStatus.PENDING))
        result.postings.extend(postings)
        if canonical:
            result.sweep_due, result.sweep_currency = current.amount, current.currency
        return result

    _mutate(transfer.payment_id, change)


def _counts(p: Payment, transfer: Transfer) -> bool:
    """Only the payment's own token counts toward it (issue 14 §3)."""
    return transfer.currency == p.currency


def _settle_other_currency(
    p: Payment, current: Transfer, canonical: bool, verdict: Verdict | None
) -> PaymentChange:
    """Another configured token than the payment's (USDT sent to a USDC payment): never
    counted toward the payment, never lost. Final, it is credited to the merchant in its
    own currency (held, from a flagged sender) and announced as
    ``payment.other_currency_received``; reversed, it just leaves. The payment's status
    does not move."""
    result = _bump(p)
    result.updated_transfers.append((current, TransferStatus.PENDING))
    if not canonical:
        current.status = TransferStatus.REVERSED
        return result
    assert verdict is not None
    current.status = TransferStatus.FINAL
    current.risk_level, current.risk_source = verdict.level, verdict.source
    asset = Asset(current.currency)
    credit = credit_held_posting if verdict.flagged else credit_payment_posting
    result.postings.append(
        credit(p.merchant_id, current.amount, current.transfer_id, int(time.time() * 1000), asset)
    )
    event = _event(p, "payment.other_currency_received")
    event.data["transfer"] = payloads.transfer_object(current)
    event.data["held"] = verdict.flagged
    result.events.append(event)
    result.sweep_due, result.sweep_currency = current.amount, current.currency
    return result


def expire_if_due(payment_id: str, now: int) -> PaymentStatus | None:
    def change(p: Payment) -> PaymentChange | None:
        new_status = state.status_at_expiry(
            p.status, p.amount, _totals(p), now, p.expires_at, p.tolerance
        )
        if new_status == p.status:
            return None
        return _transition(p, new_status, deactivate=False)

    payment = _mutate(payment_id, change)
    return payment.status


# ---- held funds (docs/adr/0020) ----------------------------------------------------------


def held_transfers(p: Payment) -> list[Transfer]:
    return [t for t in p.transactions if t.hold == "held"]


def returning_transfers(p: Payment) -> list[Transfer]:
    """Held funds reserved for a return (refund ``returned_in``) not settled yet."""
    return [t for t in p.transactions if t.hold == "returning"]


def check_four_eyes(held: list[Transfer], actor_label: str) -> None:
    """Whoever flagged the sender (listed it) may not release or return its funds."""
    if any(t.flagged_by and t.flagged_by == actor_label for t in held):
        raise FourEyes(
            "held funds are released or returned by someone other than who flagged the sender"
        )


def get_held(payment_id: str) -> tuple[Payment, list[Transfer]]:
    """The held payment and its held transfers; 409 when it is not held, or while a
    return of its held funds is under way (they go one way only)."""
    payment = payment_repo.get_payment(payment_id) if ids.plausible(payment_id, "pay") else None
    if payment is None:
        raise PaymentNotFound(f"no payment {payment_id!r}", "id")
    try:
        if settle_returns(payment):
            payment = payment_repo.get_payment(payment_id) or payment
    except ConcurrentUpdate:
        raise ConcurrentConflict(f"payment {payment_id} kept changing; retry") from None
    held = held_transfers(payment)
    if payment.status is PaymentStatus.HELD and returning_transfers(payment):
        raise ReturnUnderWay(
            f"the held funds of payment {payment_id} are being returned "
            f"(refund {returning_transfers(payment)[0].returned_in})"
        )
    if payment.status is not PaymentStatus.HELD or not held:
        raise InvalidState(f"payment {payment_id} is {payment.status.value}, not held")
    return payment, held


def settle_returns(payment: Payment) -> bool:
    """Finish what a crash may have left undone after a return's refund ended: paid,
    the transfers are returned (:func:`mark_returned`); failed or rejected, held again
    (:func:`return_failed`). True when something was finished."""
    refunds = {t.returned_in for t in returning_transfers(payment) if t.returned_in}
    done = False
    for refund_id in sorted(refunds):
        d = refund_store.get(refund_id)
        if d is None:
            continue
        if d.status is DisbursementStatus.PAID:
            mark_returned(payment.payment_id, refund_id)
            done = True
        elif d.status in (DisbursementStatus.FAILED, DisbursementStatus.REJECTED):
            return_failed(payment.payment_id, refund_id)
            done = True
    return done


def release(payment_id: str, actor_label: str) -> Payment:
    """A finance user cleared the held funds: they move held -> available (one ledger
    posting) and the payment takes the status it would have had, announcing
    ``payment.released`` (then ``payment.paid`` etc. when that status is new).

    Refused (409) while a return of its held funds is under way; a lost race or a held
    account short of the funds answers 409 too, never a 5xx. The posting moves exactly
    this payment's held transfers, which no return has reserved (a return marks them
    ``returning`` in its reservation's transaction), so it never spends another
    payment's held funds."""
    _, first = get_held(payment_id)
    check_four_eyes(first, actor_label)

    def change(p: Payment) -> PaymentChange | None:
        held = held_transfers(p)
        if p.status is PaymentStatus.HELD and returning_transfers(p):
            raise ReturnUnderWay(f"the held funds of payment {payment_id} are being returned")
        if p.status is not PaymentStatus.HELD or not held:
            raise InvalidState(f"payment {payment_id} is {p.status.value}, not held")
        check_four_eyes(held, actor_label)
        journal_id = f"{p.payment_id}/release/{p.version}"
        for t in held:
            t.hold = "released"
        released = _event(p, "payment.released")
        result = _leave_hold(p, held)
        result.events.insert(0, released)
        for t in held:
            result.updated_transfers.append((t, TransferStatus.FINAL))
        amount = sum(t.amount for t in held)
        result.postings.append(
            release_posting(
                p.merchant_id, amount, journal_id, int(time.time() * 1000), Asset(p.currency)
            )
        )
        return result

    try:
        return _mutate(payment_id, change)
    except ConcurrentUpdate:
        _explain_held_shortfall(payment_id)
        raise ConcurrentConflict(
            f"payment {payment_id} kept changing while it was released; retry"
        ) from None


def _explain_held_shortfall(payment_id: str) -> None:
    """Raise HeldFundsUnavailable when the merchant's held account cannot cover the
    payment's held funds any more (the reason a release posting keeps failing)."""
    p = payment_repo.get_payment(payment_id)
    held = held_transfers(p) if p is not None else []
    if p is None or not held:
        return
    amount = sum(t.amount for t in held)
    posting = release_posting(p.merchant_id, amount, f"{payment_id}/check", 0, Asset(p.currency))
    try:
        ledger.default().explain_rejection(posting)
    except InsufficientFunds as exc:
        raise HeldFundsUnavailable(
            f"the merchant's held account holds {exc.balance} base units; payment "
            f"{payment_id}'s held funds are {amount}"
        ) from None


def begin_return(
    p: Payment,
    transfer_ids: list[str],
    refund_id: str,
    with_writes: Callable[[TransactWrite], None],
) -> Payment:
    """One attempt to start returning ``p``'s held ``transfer_ids`` (docs/adr/0020):
    they become ``returning`` (``returned_in`` = the refund) in the same DynamoDB
    transaction as ``with_writes`` (the refund and its reservation from the held
    account), conditioned on the payment's version. The payment stays ``held`` (not
    open: it cannot expire or be canceled) until the refund settles. Raises
    ConcurrentUpdate when the payment moved on or the reservation was refused."""
    chosen = [t for t in held_transfers(p) if t.transfer_id in transfer_ids]
    if p.status is not PaymentStatus.HELD or len(chosen) != len(transfer_ids):
        raise ConcurrentUpdate(p.payment_id)
    for t in chosen:
        t.hold, t.returned_in = "returning", refund_id
    change = _bump(p)
    change.updated_transfers.extend((t, TransferStatus.FINAL) for t in chosen)
    payment_repo.commit(change, with_writes)
    return change.payment


def mark_returned(payment_id: str, refund_id: str) -> Payment:
    """The refund ``refund_id`` that returns held funds is paid: its transfers are
    ``returned`` and stop counting towards the payment (``payment.returned``). The
    payment leaves the hold for good: the status it had when held if that was a
    settled one (late funds), ``paid``/``overpaid`` if the rest covers it, else it stays
    ``held`` — never open again, so it is never expired or paid later."""

    def change(p: Payment) -> PaymentChange | None:
        back = [t for t in returning_transfers(p) if t.returned_in == refund_id]
        if not back:
            return None  # marked already (a retry), or nothing of this payment
        for t in back:
            t.hold = "returned"
        returned = _event(p, "payment.returned")
        returned.data["refund_id"] = refund_id
        result = _leave_hold(p, back, final=True)
        result.events.insert(0, returned)
        for t in back:
            result.updated_transfers.append((t, TransferStatus.FINAL))
        return result

    return _mutate(payment_id, change)


def flaggers_of_return(payment_id: str, refund_id: str) -> set[str]:
    """Who flagged the senders whose held funds ``refund_id`` returns (four eyes on
    its approval too); empty for any other refund."""
    payment = payment_repo.get_payment(payment_id) if ids.plausible(payment_id, "pay") else None
    if payment is None:
        return set()
    return {
        t.flagged_by for t in payment.transactions if t.returned_in == refund_id and t.flagged_by
    }


def return_failed(payment_id: str, refund_id: str) -> Payment | None:
    """The refund returning held funds failed or was rejected: its reservation went back
    to the held account, so the funds are held again. The payment never left ``held``:
    no status event (it was counted held once), only its version moves. None when
    ``refund_id`` returned nothing of this payment."""
    payment = payment_repo.get_payment(payment_id) if ids.plausible(payment_id, "pay") else None
    if payment is None or not any(t.returned_in == refund_id for t in payment.transactions):
        return None

    def change(p: Payment) -> PaymentChange | None:
        back = [t for t in returning_transfers(p) if t.returned_in == refund_id]
        if not back:
            return None
        for t in back:
            t.hold, t.returned_in = "held", None
        result = _bump(p)
        for t in back:
            result.updated_transfers.append((t, TransferStatus.FINAL))
        return result

    return _mutate(payment_id, change)


def _leave_hold(p: Payment, cleared: list[Transfer], final: bool = False) -> PaymentChange:
    """The payment once ``cleared`` left the hold: still held while other funds are
    held or returning; else the status it would have had (from the status it had when
    first held). With ``final`` (funds returned), a status that would be open again
    stays ``held``: the payment is over."""
    if held_transfers(p) or returning_transfers(p):
        return _bump(p)
    base = next(
        (
            PaymentStatus(t.held_from)
            for t in sorted(cleared, key=lambda t: t.block_number)
            if t.held_from and t.held_from != PaymentStatus.HELD.value
        ),
        PaymentStatus.PENDING,
    )
    new_status = state.status_after_funds(base, p.amount, _totals(p), p.tolerance)
    if final and new_status.is_open:
        return _bump(p)  # held, for good
    p.status = base
    if new_status == base:
        # e.g. a settled payment whose late funds were held: as it was
        return _bump(p)
    return _transition(p, new_status, deactivate=False)


def _risk(verdict: Verdict) -> dict[str, str]:
    return {"level": verdict.level, "source": verdict.source}


# ---- internals ------------------------------------------------------------------------


def _totals(p: Payment) -> state.Totals:
    # Funds returned (or being returned) to a flagged sender do not count towards the payment.
    returned = sum(
        t.amount
        for t in p.transactions
        if t.hold in ("returning", "returned") and t.status == TransferStatus.FINAL
    )
    return state.Totals(received=p.amount_received - returned, pending=p.amount_pending)


def _event(p: Payment, event_type: str) -> Event:
    p.event_seq += 1
    return Event(
        event_id=ids.new_id("evt"),
        type=event_type,
        created=ids.now(),
        merchant_id=p.merchant_id,
        payment_id=p.payment_id,
        seq=p.event_seq,
        data=payloads.payment_data(p),
    )


def _bump(p: Payment) -> PaymentChange:
    p.version += 1
    return PaymentChange(payment=p)


def _transition(p: Payment, new_status: PaymentStatus, deactivate: bool = False) -> PaymentChange:
    p.status = new_status
    if new_status in (PaymentStatus.PAID, PaymentStatus.OVERPAID) and p.paid_at is None:
        p.paid_at = ids.now()  # time to paid, for reports
    p.version += 1
    event_type = state.event_type_for(new_status)
    # Falling back to "pending" after a reorg is announced as payment.reversed instead.
    events = [_event(p, event_type)] if event_type in EVENT_TYPES else []
    return PaymentChange(payment=p, events=events, deactivate_address=deactivate)


def _mutate(payment_id: str, build: Callable[[Payment], PaymentChange | None]) -> Payment:
    """Optimistic concurrency: read, build the change, commit on the version; retry on a race."""
    for attempt in range(MAX_RETRIES):
        payment = payment_repo.get_payment(payment_id)
        if payment is None:
            raise PaymentNotFound(f"no payment {payment_id!r}")
        change = build(payment)
        if change is None:
            return payment
        # Events carry the final object, so rebuild their snapshots after all edits
        # (keeping what an event adds beside it: payment.held's "risk").
        for event in change.events:
            event.data = {**event.data, **payloads.payment_data(change.payment)}
        try:
            payment_repo.commit(change)
        except ConcurrentUpdate:
            if attempt == MAX_RETRIES - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
            continue
        outbox.publish(change.events)
        return change.payment
    raise AssertionError("unreachable")

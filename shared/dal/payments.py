"""Payments: the payment item, its deposit address at creation, listings, and the
money transaction (:class:`PaymentChange`) that commits a state change with its
transfers, events, ledger postings and the address's sweep bookkeeping."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from shared import actor
from shared.dal import addresses as address_repo
from shared.dal import aggregates, audit, ledger_repo
from shared.dal import events as event_repo
from shared.dal import models as m
from shared.dal import transfers as transfer_repo
from shared.dal._base import bind, created_key, full_items, is_condition_failure, take
from shared.errors import ConcurrentUpdate
from shared.models.domain import (
    Event,
    Payment,
    PaymentStatus,
    Quote,
    Transfer,
    TransferStatus,
)
from shared.models.ledger import Posting


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _payment_item(p: Payment) -> m.PaymentModel:
    return m.PaymentModel(
        p.payment_id,
        merchant_id=p.merchant_id,
        status=p.status.value,
        amount=p.amount,
        amount_received=p.amount_received,
        amount_pending=p.amount_pending,
        currency=p.currency,
        chain_id=p.chain_id,
        token_address=p.token_address,
        address=p.address,
        derivation_index=p.derivation_index,
        order_id=p.order_id,
        metadata_json=json.dumps(p.metadata, separators=(",", ":")),
        created_at=p.created_at,
        created_key=created_key(p.created_at, p.payment_id),
        created_day=_day(p.created_at),
        expires_at=p.expires_at,
        tolerance=p.tolerance,
        paid_at=p.paid_at,
        success_url=p.success_url,
        cancel_url=p.cancel_url,
        quote_json=p.quote.model_dump_json() if p.quote else None,
        open="open" if p.status.is_open else None,
        version=p.version,
        event_seq=p.event_seq,
    )


def _payment(item: m.PaymentModel) -> Payment:
    return Payment(
        payment_id=item.payment_id,
        merchant_id=item.merchant_id,
        status=PaymentStatus(item.status),
        amount=int(item.amount),
        amount_received=int(item.amount_received),
        amount_pending=int(item.amount_pending),
        currency=item.currency,
        chain_id=int(item.chain_id),
        token_address=item.token_address,
        address=item.address,
        derivation_index=int(item.derivation_index),
        order_id=item.order_id,
        metadata=json.loads(item.metadata_json),
        created_at=int(item.created_at),
        expires_at=int(item.expires_at),
        tolerance=int(item.tolerance or 0),
        paid_at=int(item.paid_at) if item.paid_at is not None else None,
        success_url=item.success_url,
        cancel_url=item.cancel_url,
        quote=Quote.model_validate_json(item.quote_json) if item.quote_json else None,
        version=int(item.version),
        event_seq=int(item.event_seq),
    )


def insert_payment(payment: Payment) -> None:
    """Payment and its deposit address, together or not at all."""
    bind()
    created = audit.AuditEntry(
        "payment.created",
        f"payment:{payment.payment_id}",
        after={"amount": str(payment.amount), "address": payment.address},
        merchant_id=payment.merchant_id,
    )

    def write(tx: TransactWrite) -> None:
        tx.save(_payment_item(payment), condition=m.PaymentModel.payment_id.does_not_exist())
        aggregates.note(
            tx,
            payment.merchant_id,
            payment.created_at,
            payment.payment_id,
            {"payments_created": 1},
        )
        tx.save(
            m.AddressModel(
                payment.address.lower(),
                payment_id=payment.payment_id,
                merchant_id=payment.merchant_id,
                derivation_index=payment.derivation_index,
                created_at=payment.created_at,
                active=True,
            ),
            condition=m.AddressModel.address.does_not_exist(),
        )

    audit.transact(write, [created])


def get_payment(payment_id: str, with_transfers: bool = True) -> Payment | None:
    bind()
    try:
        item = m.PaymentModel.get(payment_id, consistent_read=True)
    except DoesNotExist:
        return None
    payment = _payment(item)
    if with_transfers:
        payment.transactions = transfer_repo.transfers_of(payment_id)
    return payment


def list_payments(
    merchant_id: str,
    limit: int,
    starting_after: Payment | None,
    status: str | None,
) -> tuple[list[Payment], bool]:
    bind()
    last_key = None
    if starting_after is not None:
        last_key = {
            "payment_id": {"S": starting_after.payment_id},
            "merchant_id": {"S": merchant_id},
            "created_key": {"S": created_key(starting_after.created_at, starting_after.payment_id)},
        }
    query = m.PaymentModel.by_merchant.query(
        merchant_id,
        scan_index_forward=False,
        filter_condition=(m.PaymentModel.status == status) if status else None,
        last_evaluated_key=last_key,
        page_size=max(limit + 1, 25),
    )
    # The index holds the status (the filter), not the payments (docs/adr/0041).
    items = [_payment(i) for i in full_items(m.PaymentModel, take(query, limit + 1))]
    for p in items:
        p.transactions = transfer_repo.transfers_of(p.payment_id)
    return items[:limit], len(items) > limit


def list_payments_all(
    limit: int, starting_after: Payment | None, days_back: int = 90
) -> tuple[list[Payment], bool]:
    """Across merchants, newest first, walking one UTC-day partition at a time."""
    bind()
    start = (
        datetime.now(UTC)
        if starting_after is None
        else datetime.fromtimestamp(starting_after.created_at, UTC)
    )
    out: list[Payment] = []
    for offset in range(days_back):
        day = (start - timedelta(days=offset)).strftime("%Y-%m-%d")
        range_cond = None
        if starting_after is not None and offset == 0:
            after_key = created_key(starting_after.created_at, starting_after.payment_id)
            range_cond = m.PaymentModel.created_key < after_key
        query = m.PaymentModel.by_day.query(
            day, range_cond, scan_index_forward=False, page_size=limit + 1
        )
        entries = take(query, limit + 1 - len(out))
        out.extend(_payment(i) for i in full_items(m.PaymentModel, entries))
        if len(out) > limit:
            break
    return out[:limit], len(out) > limit


def open_payments_due(now: int, limit: int = 200) -> list[Payment]:
    bind()
    query = m.PaymentModel.open_by_expiry.query(
        "open", m.PaymentModel.expires_at <= now, limit=limit
    )
    return [_payment(i) for i in full_items(m.PaymentModel, query)]


@dataclass
class PaymentChange:
    """Everything one state change writes, committed in a single DynamoDB transaction."""

    payment: Payment  # the new state; written only if the stored version is payment.version - 1
    new_transfers: list[Transfer] = field(default_factory=list)
    # (new state, the status it must still have): a stale read cannot settle it twice
    updated_transfers: list[tuple[Transfer, TransferStatus]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    deactivate_address: bool = False
    # Ledger postings that commit with the change (a final transfer's credit).
    postings: list[Posting] = field(default_factory=list)
    # Final units that arrived at the payment's address: it now has something to sweep.
    sweep_due: int = 0
    sweep_currency: str = "USDT"  # the token those units are in (issue 14 §3)


def _status_entry(p: Payment) -> audit.AuditEntry:
    return audit.AuditEntry(
        f"payment.{p.status.value}",
        f"payment:{p.payment_id}",
        after={"status": p.status.value},
        merchant_id=p.merchant_id,
    )


def _report_counts(change: PaymentChange) -> dict[str, int]:
    """The payment's cohort counters this change moves: a status it entered (told by
    the event committed with it, so once) and, once paid, its time to paid."""
    p = change.payment
    counts: dict[str, int] = {}
    for event in change.events:
        for name in aggregates.STATUS_COUNTS.get(event.type, ()):
            counts[name] = counts.get(name, 0) + 1
        if event.type in aggregates.PAID_EVENTS and p.paid_at is not None:
            counts[aggregates.TTP[aggregates.ttp_bucket(p.paid_at - p.created_at)]] = 1
    return counts


def _note_late_funds(tx: TransactWrite, change: PaymentChange) -> None:
    """Late funds are money: counted on the day of their credit, like gross_received."""
    late = {t.transfer_id for t, _ in change.updated_transfers if t.late}
    for posting in change.postings:
        if posting.journal_id in late and posting.merchant_id is not None:
            amount = aggregates.money_of(posting).get("gross_received", 0)
            at = posting.created_ms // 1000
            aggregates.note(tx, posting.merchant_id, at, posting.journal_id, {"late_funds": amount})


def commit(
    change: PaymentChange, with_writes: Callable[[TransactWrite], None] | None = None
) -> None:
    """Raise ConcurrentUpdate when the payment moved on or a new transfer already exists.

    ``with_writes`` adds another change's writes to the same TransactWriteItems (the
    refund that returns held funds, reserved with the transfers' ``returning`` mark):
    both commit, or neither; a failed condition of either raises ConcurrentUpdate."""
    bind()
    p = change.payment
    # A change a caller asked for through an API (a merchant cancels) is audited here;
    # the scanner's own status changes are recorded by their postings and events.
    requested = [] if actor.current().kind == "system" else [_status_entry(p)]

    def write(tx: TransactWrite) -> None:
        tx.save(_payment_item(p), condition=m.PaymentModel.version == p.version - 1)
        for t in change.new_transfers:
            tx.save(
                transfer_repo.transfer_item(t),
                condition=m.TransferModel.transfer_id.does_not_exist(),
            )
        for t, prior in change.updated_transfers:
            tx.save(transfer_repo.transfer_item(t), condition=m.TransferModel.status == prior.value)
        for e in change.events:
            tx.save(event_repo.event_item(e), condition=m.EventModel.event_id.does_not_exist())
        for posting in change.postings:
            ledger_repo.add_to_transaction(tx, posting)
        counts = _report_counts(change)
        if counts:
            aggregates.note(tx, p.merchant_id, p.created_at, p.payment_id, counts)
        _note_late_funds(tx, change)
        if change.sweep_due > 0 and change.sweep_currency == "USDT":
            tx.update(
                m.AddressModel(p.address.lower()),
                actions=[
                    m.AddressModel.sweep_due.set("due"),
                    m.AddressModel.sweep_amount.add(change.sweep_due),
                ],
            )
        elif change.sweep_due > 0:
            # Another token's due amount: an item of its own (shared/dal/addresses.py).
            tx.update(
                m.AddressModel(address_repo.due_key(p.address, change.sweep_currency)),
                actions=[
                    m.AddressModel.sweep_due.set(address_repo.due_value(change.sweep_currency)),
                    m.AddressModel.sweep_amount.add(change.sweep_due),
                    m.AddressModel.derivation_index.set(p.derivation_index),
                    m.AddressModel.payment_id.set(p.payment_id),
                    m.AddressModel.merchant_id.set(p.merchant_id),
                ],
            )
        if change.deactivate_address:
            tx.update(
                m.AddressModel(p.address.lower()),
                actions=[m.AddressModel.active.set(False)],
            )
        if with_writes is not None:
            with_writes(tx)

    try:
        audit.transact(write, requested)
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            raise ConcurrentUpdate(p.payment_id) from exc
        raise

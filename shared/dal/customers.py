"""Customers and their deposits (issue 14 §2).

A customer item (``cus_…``) holds the permanent deposit address; a reference item
(``ref#<merchant>#<sha256 of the reference>``) written in the same transaction makes
the merchant's reference unique. The address is in the ``addresses`` table like a
payment's (owner id ``cus_…``), so the scanner finds it with one batch lookup. A deposit
is a transfer (``transfers`` table, ``payment_id`` = the customer id): its index lists a
customer's deposits, and the scanner finalizes it with the other unfinal transfers.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from shared.dal import addresses as address_repo
from shared.dal import audit, ledger_repo
from shared.dal import events as event_repo
from shared.dal import models as m
from shared.dal import transfers as transfer_repo
from shared.dal._base import bind, created_key, is_condition_failure, take
from shared.errors import ConcurrentUpdate
from shared.models.domain import Customer, Event, Transfer, TransferStatus
from shared.models.ledger import Posting


def reference_key(merchant_id: str, reference: str) -> str:
    digest = hashlib.sha256(reference.encode()).hexdigest()
    return f"ref#{merchant_id}#{digest}"


def _customer(item: m.CustomerModel) -> Customer:
    return Customer(
        customer_id=item.customer_id,
        merchant_id=str(item.merchant_id),
        reference=str(item.reference),
        currency=str(item.currency),
        address=str(item.address),
        derivation_index=int(item.derivation_index or 0),
        created_at=int(item.created_at or 0),
    )


def insert_customer(c: Customer) -> bool:
    """The customer, its reference item and its address, together; False when the
    merchant already has a customer with this reference (nothing written)."""
    bind()
    entry = audit.AuditEntry(
        "customer.created",
        f"customer:{c.customer_id}",
        after={"reference": c.reference, "address": c.address, "currency": c.currency},
        merchant_id=c.merchant_id,
    )

    def write(tx: TransactWrite) -> None:
        tx.save(
            m.CustomerModel(reference_key(c.merchant_id, c.reference), points_to=c.customer_id),
            condition=m.CustomerModel.customer_id.does_not_exist(),
        )
        tx.save(
            m.CustomerModel(
                c.customer_id,
                merchant_id=c.merchant_id,
                reference=c.reference,
                currency=c.currency,
                address=c.address,
                derivation_index=c.derivation_index,
                created_at=c.created_at,
                created_key=created_key(c.created_at, c.customer_id),
            ),
            condition=m.CustomerModel.customer_id.does_not_exist(),
        )
        tx.save(
            m.AddressModel(
                c.address.lower(),
                payment_id=c.customer_id,  # the address's owner: a customer
                merchant_id=c.merchant_id,
                derivation_index=c.derivation_index,
                created_at=c.created_at,
                active=True,
            ),
            condition=m.AddressModel.address.does_not_exist(),
        )

    return audit.committed(write, [entry])


def get_customer(customer_id: str) -> Customer | None:
    bind()
    try:
        item = m.CustomerModel.get(customer_id, consistent_read=True)
    except DoesNotExist:
        return None
    return _customer(item) if item.merchant_id else None


def by_reference(merchant_id: str, reference: str) -> Customer | None:
    bind()
    try:
        pointer = m.CustomerModel.get(reference_key(merchant_id, reference), consistent_read=True)
    except DoesNotExist:
        return None
    return get_customer(str(pointer.points_to))


def list_customers(
    merchant_id: str, limit: int, after: Customer | None
) -> tuple[list[Customer], bool]:
    """Newest first."""
    bind()
    kwargs: dict[str, Any] = {"scan_index_forward": False, "limit": limit + 1}
    if after is not None:
        kwargs["range_key_condition"] = m.CustomerModel.created_key < created_key(
            after.created_at, after.customer_id
        )
    items = list(take(m.CustomerModel.by_merchant.query(merchant_id, **kwargs), limit + 1))
    return [_customer(i) for i in items[:limit]], len(items) > limit


def deposits_of(customer_id: str) -> list[Transfer]:
    """Every deposit to the customer's address, oldest first (by block)."""
    return transfer_repo.transfers_of(customer_id)


def record_deposit(transfer: Transfer) -> bool:
    """A newly seen deposit (pending); False when it was recorded already."""
    bind()
    try:
        transfer_repo.transfer_item(transfer).save(
            condition=m.TransferModel.transfer_id.does_not_exist()
        )
    except PutError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def move_deposit(transfer: Transfer, prior: TransferStatus) -> bool:
    """Rewrite a deposit still in ``prior`` (a pending one seen in another block, a
    reversed one the chain re-included); False when it moved on meanwhile."""
    bind()
    try:
        transfer_repo.transfer_item(transfer).save(condition=m.TransferModel.status == prior.value)
    except PutError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def settle_deposit(
    transfer: Transfer, event: Event, posting: Posting | None, sweep_currency: str | None
) -> None:
    """A pending deposit became final (with its credit and the address's sweep due) or
    was reversed, with its event, in one transaction; ConcurrentUpdate when another
    scanner pass settled it first."""
    bind()

    def write(tx: TransactWrite) -> None:
        tx.save(
            transfer_repo.transfer_item(transfer),
            condition=m.TransferModel.status == TransferStatus.PENDING.value,
        )
        tx.save(event_repo.event_item(event), condition=m.EventModel.event_id.does_not_exist())
        if posting is not None:
            ledger_repo.add_to_transaction(tx, posting)
        if sweep_currency is not None:
            key = address_repo.due_key(transfer.to_address, sweep_currency)
            actions: list[Action] = [
                m.AddressModel.sweep_due.set(address_repo.due_value(sweep_currency)),
                m.AddressModel.sweep_amount.add(transfer.amount),
            ]
            if sweep_currency != "USDT":
                actions += [
                    m.AddressModel.derivation_index.set(_index_of(transfer.payment_id)),
                    m.AddressModel.payment_id.set(transfer.payment_id),
                    m.AddressModel.merchant_id.set(transfer.merchant_id),
                ]
            tx.update(m.AddressModel(key), actions=actions)

    try:
        audit.transact(write, [])
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            raise ConcurrentUpdate(transfer.transfer_id) from exc
        raise


def release_deposit(transfer: Transfer, event: Event, posting: Posting) -> bool:
    """A held deposit released (``hold`` "held" -> "released"), its held funds moved
    to available and ``deposit.released`` written, in one transaction; False when it
    was not held any more (released meanwhile)."""
    bind()

    def write(tx: TransactWrite) -> None:
        tx.save(transfer_repo.transfer_item(transfer), condition=m.TransferModel.hold == "held")
        tx.save(event_repo.event_item(event), condition=m.EventModel.event_id.does_not_exist())
        ledger_repo.add_to_transaction(tx, posting)

    try:
        audit.transact(write, [])
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def _index_of(customer_id: str) -> int:
    customer = get_customer(customer_id)
    if customer is None:
        raise LookupError(f"no customer {customer_id}")
    return customer.derivation_index

"""Repositories: map domain models to pynamodb items, and the DynamoDB
transactions that keep money and events consistent."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from shared.dal import ledger_repo
from shared.dal import models as m
from shared.errors import Conflict
from shared.ledger.ledger import Posting
from shared.models.domain import (
    ApiKey,
    Delivery,
    Event,
    Merchant,
    Payment,
    PaymentStatus,
    Transfer,
    TransferStatus,
    WebhookEndpoint,
)

EVENT_RETENTION_DAYS = 30


class ConcurrentUpdate(Exception):
    """A conditional write lost a race (version changed or item already exists)."""


def created_key(created_at: int, item_id: str) -> str:
    return f"{created_at:012d}#{item_id}"


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


# ---- merchants and keys -------------------------------------------------------------


def put_merchant(merchant: Merchant, first_key: ApiKey) -> None:
    m.bind()
    with TransactWrite(connection=m.connection()) as tx:
        tx.save(
            m.MerchantModel(
                merchant.merchant_id,
                name=merchant.name,
                created_at=merchant.created_at,
                status=merchant.status,
            ),
            condition=m.MerchantModel.merchant_id.does_not_exist(),
        )
        tx.save(_key_item(first_key), condition=m.ApiKeyModel.key_id.does_not_exist())


def get_merchant(merchant_id: str) -> Merchant | None:
    m.bind()
    try:
        item = m.MerchantModel.get(merchant_id)
    except DoesNotExist:
        return None
    return Merchant(
        merchant_id=item.merchant_id,
        name=item.name,
        created_at=int(item.created_at),
        status=item.status,
        underpay_tolerance_bps=int(item.underpay_tolerance_bps or 0),
    )


def set_underpay_tolerance(merchant_id: str, bps: int) -> bool:
    m.bind()
    try:
        m.MerchantModel(merchant_id).update(
            actions=[m.MerchantModel.underpay_tolerance_bps.set(bps)],
            condition=m.MerchantModel.merchant_id.exists(),
        )
    except UpdateError as exc:
        if _is_condition_failure(exc):
            return False
        raise
    return True


def list_merchants(limit: int, after: int | None) -> tuple[list[Merchant], bool]:
    m.bind()
    query = m.MerchantModel.by_created.query(
        "merchant",
        m.MerchantModel.created_at < after if after is not None else None,
        scan_index_forward=False,
        limit=limit + 1,
    )
    items = [
        Merchant(merchant_id=i.merchant_id, name=i.name, created_at=int(i.created_at))
        for i in _take(query, limit + 1)
    ]
    return items[:limit], len(items) > limit


def _key_item(key: ApiKey) -> m.ApiKeyModel:
    return m.ApiKeyModel(
        key.key_id,
        merchant_id=key.merchant_id,
        created_at=key.created_at,
        status=key.status,
        secret_ciphertext=key.secret_ciphertext,
        ip_allowlist=key.ip_allowlist,
        revoked_at=key.revoked_at,
    )


def put_api_key(key: ApiKey) -> None:
    m.bind()
    _key_item(key).save(condition=m.ApiKeyModel.key_id.does_not_exist())


def get_api_key(key_id: str) -> ApiKey | None:
    m.bind()
    try:
        item = m.ApiKeyModel.get(key_id, consistent_read=True)
    except DoesNotExist:
        return None
    return ApiKey(
        key_id=item.key_id,
        merchant_id=item.merchant_id,
        created_at=int(item.created_at),
        status=item.status,
        secret_ciphertext=item.secret_ciphertext,
        ip_allowlist=list(item.ip_allowlist or []),
        revoked_at=int(item.revoked_at) if item.revoked_at is not None else None,
    )


def list_api_keys(merchant_id: str) -> list[ApiKey]:
    m.bind()
    return [
        ApiKey(
            key_id=i.key_id,
            merchant_id=i.merchant_id,
            created_at=int(i.created_at),
            status=i.status,
            revoked_at=int(i.revoked_at) if i.revoked_at is not None else None,
        )
        for i in m.ApiKeyModel.by_merchant.query(merchant_id)
    ]


def revoke_api_key(key_id: str, merchant_id: str, when: int) -> bool:
    """Revoke; False when the key does not exist or belongs to another merchant."""
    m.bind()
    item = m.ApiKeyModel(key_id)
    try:
        item.update(
            actions=[m.ApiKeyModel.status.set("revoked"), m.ApiKeyModel.revoked_at.set(when)],
            condition=m.ApiKeyModel.merchant_id == merchant_id,
        )
    except UpdateError as exc:
        if _is_condition_failure(exc):
            return False
        raise
    return True


# ---- payments -----------------------------------------------------------------------


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
        version=int(item.version),
        event_seq=int(item.event_seq),
    )


def insert_payment(payment: Payment) -> None:
    """Payment and its deposit address, together or not at all."""
    m.bind()
    with TransactWrite(connection=m.connection()) as tx:
        tx.save(_payment_item(payment), condition=m.PaymentModel.payment_id.does_not_exist())
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


def get_payment(payment_id: str, with_transfers: bool = True) -> Payment | None:
    m.bind()
    try:
        item = m.PaymentModel.get(payment_id, consistent_read=True)
    except DoesNotExist:
        return None
    payment = _payment(item)
    if with_transfers:
        payment.transactions = transfers_of(payment_id)
    return payment


def list_payments(
    merchant_id: str,
    limit: int,
    starting_after: Payment | None,
    status: str | None,
) -> tuple[list[Payment], bool]:
    m.bind()
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
    items = [_payment(i) for i in _take(query, limit + 1)]
    for p in items:
        p.transactions = transfers_of(p.payment_id)
    return items[:limit], len(items) > limit


def list_payments_all(
    limit: int, starting_after: Payment | None, days_back: int = 90
) -> tuple[list[Payment], bool]:
    """Across merchants, newest first, walking one UTC-day partition at a time."""
    m.bind()
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
        out.extend(_payment(i) for i in _take(query, limit + 1 - len(out)))
        if len(out) > limit:
            break
    return out[:limit], len(out) > limit


def open_payments_due(now: int, limit: int = 200) -> list[Payment]:
    m.bind()
    query = m.PaymentModel.open_by_expiry.query(
        "open", m.PaymentModel.expires_at <= now, limit=limit
    )
    return [_payment(i) for i in query]


def payment_for_address(address: str) -> tuple[str, str] | None:
    """(payment_id, merchant_id) for a deposit address, if it is ours."""
    m.bind()
    try:
        item = m.AddressModel.get(address.lower())
    except DoesNotExist:
        return None
    return item.payment_id, item.merchant_id


def payments_for_addresses(addresses: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Batch lookup (100 keys per BatchGetItem) of which addresses are ours."""
    m.bind()
    keys = list({a.lower() for a in addresses})
    found: dict[str, tuple[str, str]] = {}
    for item in m.AddressModel.batch_get(keys):
        found[item.address] = (item.payment_id, item.merchant_id)
    return found


# ---- transfers ------------------------------------------------------------------------


def transfer_id(chain_id: int, tx_hash: str, log_index: int) -> str:
    return f"{chain_id}:{tx_hash.lower()}:{log_index}"


def _transfer(item: m.TransferModel) -> Transfer:
    return Transfer(
        transfer_id=item.transfer_id,
        chain_id=int(item.chain_id),
        tx_hash=item.tx_hash,
        log_index=int(item.log_index),
        block_number=int(item.block_number),
        block_hash=item.block_hash,
        from_address=item.from_address,
        to_address=item.to_address,
        amount=int(item.amount),
        payment_id=item.payment_id,
        merchant_id=item.merchant_id,
        status=TransferStatus(item.status),
        seen_at=int(item.seen_at),
    )


def _transfer_item(t: Transfer) -> m.TransferModel:
    return m.TransferModel(
        t.transfer_id,
        chain_id=t.chain_id,
        tx_hash=t.tx_hash,
        log_index=t.log_index,
        block_number=t.block_number,
        block_hash=t.block_hash,
        from_address=t.from_address,
        to_address=t.to_address,
        amount=t.amount,
        payment_id=t.payment_id,
        merchant_id=t.merchant_id,
        status=t.status.value,
        unfinal="unfinal" if t.status == TransferStatus.PENDING else None,
        seen_at=t.seen_at,
    )


def transfers_of(payment_id: str) -> list[Transfer]:
    m.bind()
    return [_transfer(i) for i in m.TransferModel.by_payment.query(payment_id)]


def get_transfer_status(tid: str) -> TransferStatus | None:
    m.bind()
    try:
        item = m.TransferModel.get(tid, attributes_to_get=["transfer_id", "status"])
    except DoesNotExist:
        return None
    return TransferStatus(item.status)


def transfer_exists(tid: str) -> bool:
    return get_transfer_status(tid) is not None


def unfinal_transfers(up_to_block: int | None = None) -> list[Transfer]:
    m.bind()
    cond = m.TransferModel.block_number <= up_to_block if up_to_block is not None else None
    return [_transfer(i) for i in m.TransferModel.unfinal_by_block.query("unfinal", cond)]


# ---- events -------------------------------------------------------------------------


def _event_item(e: Event, outbox: bool = True) -> m.EventModel:
    payload = {"id": e.event_id, "type": e.type, "created": e.created, "data": e.data}
    return m.EventModel(
        e.event_id,
        merchant_id=e.merchant_id,
        payment_id=e.payment_id,
        type=e.type,
        created=e.created,
        created_key=created_key(e.created, e.event_id),
        seq=e.seq,
        payload_json=json.dumps(payload, separators=(",", ":")),
        outbox="pending" if outbox else None,
        expires_at_ttl=e.created + EVENT_RETENTION_DAYS * 86400 + 86400,
    )


def _event(item: m.EventModel) -> Event:
    payload = json.loads(item.payload_json)
    return Event(
        event_id=item.event_id,
        type=item.type,
        created=int(item.created),
        merchant_id=item.merchant_id,
        payment_id=item.payment_id,
        seq=int(item.seq),
        data=payload["data"],
    )


def put_event(event: Event, outbox: bool) -> None:
    """An event outside a payment change (e.g. a test ping)."""
    m.bind()
    _event_item(event, outbox).save(condition=m.EventModel.event_id.does_not_exist())


def get_event(event_id: str) -> Event | None:
    m.bind()
    try:
        return _event(m.EventModel.get(event_id))
    except DoesNotExist:
        return None


def event_payload(event_id: str) -> tuple[str, str] | None:
    """(merchant_id, exact JSON body) of a stored event, as it is delivered."""
    m.bind()
    try:
        item = m.EventModel.get(event_id)
    except DoesNotExist:
        return None
    return item.merchant_id, item.payload_json


def outbox_pending(created_before: int, limit: int = 100) -> list[Event]:
    m.bind()
    query = m.EventModel.outbox_index.query(
        "pending", m.EventModel.created_key < f"{created_before:012d}", limit=limit
    )
    return [_event(i) for i in query]


def mark_dispatched(event_id: str) -> None:
    m.bind()
    m.EventModel(event_id).update(
        actions=[m.EventModel.outbox.remove()],
        condition=m.EventModel.event_id.exists(),
    )


# ---- the money transaction ------------------------------------------------------------


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


def commit(change: PaymentChange) -> None:
    """Raise ConcurrentUpdate when the payment moved on or a new transfer already exists."""
    m.bind()
    p = change.payment
    try:
        with TransactWrite(connection=m.connection()) as tx:
            tx.save(_payment_item(p), condition=m.PaymentModel.version == p.version - 1)
            for t in change.new_transfers:
                tx.save(_transfer_item(t), condition=m.TransferModel.transfer_id.does_not_exist())
            for t, prior in change.updated_transfers:
                tx.save(_transfer_item(t), condition=m.TransferModel.status == prior.value)
            for e in change.events:
                tx.save(_event_item(e), condition=m.EventModel.event_id.does_not_exist())
            for posting in change.postings:
                ledger_repo.add_to_transaction(tx, posting)
            if change.sweep_due > 0:
                tx.update(
                    m.AddressModel(p.address.lower()),
                    actions=[
                        m.AddressModel.sweep_due.set("due"),
                        m.AddressModel.sweep_amount.add(change.sweep_due),
                    ],
                )
            if change.deactivate_address:
                tx.update(
                    m.AddressModel(p.address.lower()),
                    actions=[m.AddressModel.active.set(False)],
                )
    except TransactWriteError as exc:
        if _is_condition_failure(exc):
            raise ConcurrentUpdate(p.payment_id) from exc
        raise


# ---- sweeps and outgoing transactions -------------------------------------------------


@dataclass(frozen=True)
class DueDeposit:
    address: str
    derivation_index: int
    amount: int  # final units credited since the last sweep


def due_deposits(limit: int) -> list[DueDeposit]:
    m.bind()
    return [
        DueDeposit(i.address, int(i.derivation_index), int(i.sweep_amount or 0))
        for i in m.AddressModel.by_sweep_due.query("due", limit=limit)
    ]


def sweep_recorded(address: str, amount: int, sweep_id: str) -> None:
    """``amount`` left the address in sweep ``sweep_id`` (counted once per sweep); it is
    no longer due once nothing is left."""
    m.bind()
    item = m.AddressModel(address.lower())
    try:
        item.update(
            actions=[
                m.AddressModel.sweep_amount.add(-amount),
                m.AddressModel.swept_by.add({sweep_id}),
            ],
            condition=~m.AddressModel.swept_by.contains(sweep_id),
        )
    except UpdateError as exc:
        if not _is_condition_failure(exc):
            raise  # otherwise this sweep was recorded already (a redelivery)
    try:
        item.update(
            actions=[m.AddressModel.sweep_due.remove()],
            condition=m.AddressModel.sweep_amount <= 0,
        )
    except UpdateError as exc:
        if not _is_condition_failure(exc):
            raise  # otherwise more final funds arrived meanwhile: stays due


# ---- webhook endpoints --------------------------------------------------------------


def _endpoint(item: m.WebhookEndpointModel) -> WebhookEndpoint:
    return WebhookEndpoint(
        endpoint_id=item.endpoint_id,
        merchant_id=item.merchant_id,
        url=item.url,
        events=list(item.events),
        created_at=int(item.created_at),
        status=item.status,
        secret_ciphertext=item.secret_ciphertext,
        previous_secret_ciphertext=item.previous_secret_ciphertext,
        previous_secret_expires_at=(
            int(item.previous_secret_expires_at) if item.previous_secret_expires_at else None
        ),
        failing_since=int(item.failing_since) if item.failing_since else None,
    )


def put_endpoint(e: WebhookEndpoint) -> None:
    m.bind()
    m.WebhookEndpointModel(
        e.endpoint_id,
        merchant_id=e.merchant_id,
        url=e.url,
        events=e.events,
        created_at=e.created_at,
        status=e.status,
        secret_ciphertext=e.secret_ciphertext,
    ).save(condition=m.WebhookEndpointModel.endpoint_id.does_not_exist())


def endpoints_by_id(endpoint_ids: Iterable[str]) -> dict[str, WebhookEndpoint]:
    m.bind()
    keys = sorted(set(endpoint_ids))
    return {i.endpoint_id: _endpoint(i) for i in m.WebhookEndpointModel.batch_get(keys)}


def event_payloads(event_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """event id -> (merchant_id, exact JSON body), one BatchGetItem per 100 ids."""
    m.bind()
    keys = sorted(set(event_ids))
    return {i.event_id: (i.merchant_id, i.payload_json) for i in m.EventModel.batch_get(keys)}


def get_endpoint(endpoint_id: str) -> WebhookEndpoint | None:
    m.bind()
    try:
        return _endpoint(m.WebhookEndpointModel.get(endpoint_id))
    except DoesNotExist:
        return None


def endpoints_of(merchant_id: str) -> list[WebhookEndpoint]:
    m.bind()
    return [_endpoint(i) for i in m.WebhookEndpointModel.by_merchant.query(merchant_id)]


def rotate_endpoint_secret(
    endpoint_id: str, merchant_id: str, new_ciphertext: str, old_ciphertext: str, old_until: int
) -> bool:
    """Swap in a new secret; the old one keeps signing until ``old_until``."""
    m.bind()
    try:
        m.WebhookEndpointModel(endpoint_id).update(
            actions=[
                m.WebhookEndpointModel.secret_ciphertext.set(new_ciphertext),
                m.WebhookEndpointModel.previous_secret_ciphertext.set(old_ciphertext),
                m.WebhookEndpointModel.previous_secret_expires_at.set(old_until),
            ],
            # The secret we read must still be current: two rotations cannot interleave.
            condition=(m.WebhookEndpointModel.merchant_id == merchant_id)
            & (m.WebhookEndpointModel.secret_ciphertext == old_ciphertext),
        )
    except UpdateError as exc:
        if _is_condition_failure(exc):
            return False
        raise
    return True


def set_endpoint_status(endpoint_id: str, status: str) -> None:
    m.bind()
    try:
        m.WebhookEndpointModel(endpoint_id).update(
            actions=[m.WebhookEndpointModel.status.set(status)],
            condition=m.WebhookEndpointModel.endpoint_id.exists(),
        )
    except UpdateError as exc:
        if not _is_condition_failure(exc):
            raise


def mark_endpoint_failing(endpoint_id: str, since: int | None) -> None:
    m.bind()
    action = (
        m.WebhookEndpointModel.failing_since.set(since)
        if since is not None
        else m.WebhookEndpointModel.failing_since.remove()
    )
    try:
        m.WebhookEndpointModel(endpoint_id).update(
            actions=[action], condition=m.WebhookEndpointModel.endpoint_id.exists()
        )
    except UpdateError as exc:
        if not _is_condition_failure(exc):
            raise


def delete_endpoint(endpoint_id: str, merchant_id: str) -> bool:
    m.bind()
    try:
        m.WebhookEndpointModel(endpoint_id).delete(
            condition=m.WebhookEndpointModel.merchant_id == merchant_id
        )
    except Exception as exc:
        if _is_condition_failure(exc):
            return False
        raise
    return True


# ---- deliveries -----------------------------------------------------------------------

DELIVERY_RETENTION_DAYS = 30


def put_delivery(d: Delivery, created_ms: int) -> None:
    m.bind()
    _delivery_item(d, created_ms).save()


def put_deliveries(items: list[tuple[Delivery, int]]) -> None:
    """Many attempt records in BatchWriteItem calls (a dispatcher batch at once)."""
    m.bind()
    with m.DeliveryModel.batch_write() as batch:
        for d, created_ms in items:
            batch.save(_delivery_item(d, created_ms))


def _delivery_item(d: Delivery, created_ms: int) -> m.DeliveryModel:
    return m.DeliveryModel(
        d.endpoint_id,
        f"{created_ms:013d}#{d.delivery_id}",
        delivery_id=d.delivery_id,
        event_id=d.event_id,
        event_type=d.event_type,
        attempt=d.attempt,
        created=d.created,
        status_code=d.status_code,
        latency_ms=d.latency_ms,
        error=d.error,
        response_excerpt=d.response_excerpt,
        expires_at_ttl=d.created + DELIVERY_RETENTION_DAYS * 86400,
    )


def deliveries_of(
    endpoint_id: str, limit: int, before_key: str | None
) -> tuple[list[Delivery], bool]:
    m.bind()
    cond = m.DeliveryModel.attempt_key < before_key if before_key else None
    query = m.DeliveryModel.query(endpoint_id, cond, scan_index_forward=False, limit=limit + 1)
    items = [
        Delivery(
            delivery_id=i.delivery_id,
            endpoint_id=i.endpoint_id,
            event_id=i.event_id,
            event_type=i.event_type,
            attempt=int(i.attempt),
            created=int(i.created),
            status_code=int(i.status_code) if i.status_code is not None else None,
            latency_ms=int(i.latency_ms),
            error=i.error,
            response_excerpt=i.response_excerpt,
            cursor=i.attempt_key,
        )
        for i in _take(query, limit + 1)
    ]
    return items[:limit], len(items) > limit


# ---- event listing --------------------------------------------------------------------


def list_events(
    merchant_id: str,
    limit: int,
    starting_after: Event | None,
    event_type: str | None,
    payment_id: str | None,
) -> tuple[list[Event], bool]:
    """Newest first; by payment via its own index, by type as a filter."""
    m.bind()
    index = m.EventModel.by_payment if payment_id else m.EventModel.by_merchant
    range_cond = (
        m.EventModel.created_key < created_key(starting_after.created, starting_after.event_id)
        if starting_after is not None
        else None
    )
    filters = m.EventModel.merchant_id == merchant_id
    if event_type:
        filters = filters & (m.EventModel.type == event_type)
    query = index.query(
        payment_id or merchant_id,
        range_cond,
        filter_condition=filters,
        scan_index_forward=False,
        page_size=max(limit + 1, 50),
    )
    items = [_event(i) for i in _take(query, limit + 1)]
    return items[:limit], len(items) > limit


# ---- idempotency ----------------------------------------------------------------------


@dataclass
class IdempotencyRecord:
    request_hash: str
    state: str
    response_status: int | None
    response_body: str | None


IDEMPOTENCY_LOCK_S = 120  # > the API function's timeout


def claim_idempotency_key(
    key: str, request_hash: str, now: int, ttl_s: int
) -> IdempotencyRecord | None:
    """Claim the key; None when claimed, else the record that holds it."""
    m.bind()
    item = m.IdempotencyModel(
        key,
        request_hash=request_hash,
        state="in_progress",
        created_at=now,
        expires_at_ttl=now + ttl_s,
    )
    try:
        # An expired record (TTL deletion is lazy) may be taken over, and so may a claim
        # whose request died mid-way (still in progress long after any Lambda timeout).
        item.save(
            condition=m.IdempotencyModel.idempotency_key.does_not_exist()
            | (m.IdempotencyModel.expires_at_ttl < now)
            | (
                (m.IdempotencyModel.state == "in_progress")
                & (m.IdempotencyModel.created_at < now - IDEMPOTENCY_LOCK_S)
            )
        )
        return None
    except PutError as exc:
        if not _is_condition_failure(exc):
            raise
    existing = m.IdempotencyModel.get(key, consistent_read=True)
    return IdempotencyRecord(
        request_hash=existing.request_hash,
        state=existing.state,
        response_status=int(existing.response_status) if existing.response_status else None,
        response_body=existing.response_body,
    )


def complete_idempotency_key(key: str, status: int, body: str) -> None:
    m.bind()
    m.IdempotencyModel(key).update(
        actions=[
            m.IdempotencyModel.state.set("done"),
            m.IdempotencyModel.response_status.set(status),
            m.IdempotencyModel.response_body.set(body),
        ]
    )


def release_idempotency_key(key: str) -> None:
    m.bind()
    m.IdempotencyModel(key).delete(condition=m.IdempotencyModel.state == "in_progress")


# ---- system singletons ----------------------------------------------------------------


def next_counter(name: str) -> int:
    """Atomically allocate the next value (0, 1, 2, ...) of a named counter."""
    m.bind()
    item = m.SystemModel(name)
    item.update(actions=[m.SystemModel.counter.add(1)])
    return int(item.counter) - 1


def get_system(name: str) -> m.SystemModel | None:
    m.bind()
    try:
        return m.SystemModel.get(name, consistent_read=True)
    except DoesNotExist:
        return None


def put_system_once(name: str, data: dict[str, Any], now: int) -> bool:
    """Create a singleton; False when it already exists (never overwritten)."""
    m.bind()
    try:
        m.SystemModel(name, data_json=json.dumps(data), updated_at=now).save(
            condition=m.SystemModel.name.does_not_exist()
        )
    except PutError as exc:
        if _is_condition_failure(exc):
            return False
        raise
    return True


def acquire_lease(name: str, owner: str, now: float, lease_s: float) -> int | None:
    """Take or extend the lease; returns the stored block cursor (None when unset)."""
    m.bind()
    item = m.SystemModel(name)
    try:
        item.update(
            actions=[
                m.SystemModel.lease_owner.set(owner),
                m.SystemModel.lease_until.set(now + lease_s),
            ],
            condition=(
                m.SystemModel.lease_owner.does_not_exist()
                | (m.SystemModel.lease_owner == owner)
                | (m.SystemModel.lease_until < now)
            ),
        )
    except UpdateError as exc:
        if _is_condition_failure(exc):
            raise ConcurrentUpdate(name) from exc
        raise
    return int(item.block) if item.block is not None else None


def advance_cursor(name: str, owner: str, block: int, now: float, lease_s: float) -> None:
    """Move the cursor forward, only while we still hold the lease."""
    m.bind()
    try:
        m.SystemModel(name).update(
            actions=[
                m.SystemModel.block.set(block),
                m.SystemModel.lease_until.set(now + lease_s),
                m.SystemModel.updated_at.set(int(now)),
            ],
            condition=(m.SystemModel.lease_owner == owner),
        )
    except UpdateError as exc:
        if _is_condition_failure(exc):
            raise ConcurrentUpdate(name) from exc
        raise


def save_lease_data(name: str, owner: str, data_json: str) -> None:
    """Store data beside a cursor, only while we hold its lease."""
    m.bind()
    try:
        m.SystemModel(name).update(
            actions=[m.SystemModel.data_json.set(data_json)],
            condition=(m.SystemModel.lease_owner == owner),
        )
    except UpdateError as exc:
        if _is_condition_failure(exc):
            raise ConcurrentUpdate(name) from exc
        raise


RESCAN_QUEUE = "rescan_queue"


def enqueue_rescan(from_block: int, to_block: int, requested_by: str, now: int) -> None:
    m.bind()
    entry = json.dumps({"from": from_block, "to": to_block, "by": requested_by, "at": now})
    # list_append onto if_not_exists(queue, []): concurrent requests never overwrite each other.
    m.SystemModel(RESCAN_QUEUE).update(
        actions=[m.SystemModel.queue.set((m.SystemModel.queue | []).append([entry]))]
    )


def pending_rescans() -> list[dict[str, Any]]:
    item = get_system(RESCAN_QUEUE)
    if item is None or not item.queue:
        return []
    return [json.loads(str(e)) for e in item.queue]


def advance_rescan(entry: dict[str, Any], next_from: int) -> None:
    """Record a rescan's progress: the first queued entry now starts at ``next_from``."""
    m.bind()
    item = get_system(RESCAN_QUEUE)
    if item is None or not item.queue or json.loads(str(item.queue[0])) != entry:
        return
    updated = json.dumps({**entry, "from": next_from})
    try:
        m.SystemModel(RESCAN_QUEUE).update(
            actions=[m.SystemModel.queue[0].set(updated)],
            condition=m.SystemModel.queue[0] == item.queue[0],
        )
    except UpdateError as exc:
        if not _is_condition_failure(exc):
            raise


def drop_rescan(entry: dict[str, Any]) -> None:
    """Remove the first queued rescan, if it is still the one we processed."""
    m.bind()
    item = get_system(RESCAN_QUEUE)
    if item is None or not item.queue or json.loads(str(item.queue[0])) != entry:
        return
    try:
        m.SystemModel(RESCAN_QUEUE).update(
            actions=[m.SystemModel.queue[0].remove()],
            condition=m.SystemModel.queue[0] == item.queue[0],
        )
    except UpdateError as exc:
        if not _is_condition_failure(exc):
            raise


def release_lease(name: str, owner: str) -> None:
    m.bind()
    try:
        m.SystemModel(name).update(
            actions=[m.SystemModel.lease_owner.remove(), m.SystemModel.lease_until.remove()],
            condition=(m.SystemModel.lease_owner == owner),
        )
    except UpdateError as exc:
        if not _is_condition_failure(exc):
            raise


# ---- helpers --------------------------------------------------------------------------


def _take(query: Iterable[Any], n: int) -> Iterator[Any]:
    for i, item in enumerate(query):
        if i >= n:
            return
        yield item


def _is_condition_failure(exc: Exception) -> bool:
    code = getattr(exc, "cause_response_code", None)
    if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
        return True
    return "ConditionalCheckFailed" in str(getattr(exc, "cause_response_message", "") or exc)


__all__ = ["ConcurrentUpdate", "Conflict", "PaymentChange"]

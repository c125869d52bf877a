"""Disbursements and settlement profiles on DynamoDB.

Every status change of a disbursement is one TransactWriteItems with the ledger
posting it implies (reservation at creation, settlement when paid, cancellation when
rejected or failed), the per-payment refund counter and the merchant's event: money
and records never disagree, and a stale or concurrent writer changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from shared.dal import audit, ledger_repo
from shared.dal import disbursement_models as dm
from shared.dal import models as m
from shared.dal._base import created_key
from shared.dal.events import event_item
from shared.errors import ConcurrentUpdate
from shared.models.domain import (
    Disbursement,
    DisbursementKind,
    DisbursementStatus,
    Event,
    PayoutSchedule,
    SettlementProfile,
)
from shared.models.ledger import Posting


@dataclass
class RefundCap:
    """Keep the payment's refunded total within ``cap`` (base units)."""

    payment_id: str
    cap: int


@dataclass
class RefundVolume:
    """Add the refund's amount to the merchant's refunds of ``day``; with ``limit``,
    only while the day's total stays within it."""

    merchant_id: str
    day: str
    limit: int | None = None


@dataclass
class DisbursementChange:
    """One disbursement write and everything that commits with it."""

    disbursement: Disbursement  # the new state (version already incremented)
    expected_status: DisbursementStatus | None = None  # None: create
    postings: list[Posting] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    refund_reserve: RefundCap | None = None  # add the refund amount to the counter
    refund_release: str | None = None  # payment id: take the refund's gross back off
    refund_volume: RefundVolume | None = None


def counter_id(payment_id: str) -> str:
    return f"refunded#{payment_id}"


def volume_id(merchant_id: str, day: str) -> str:
    return f"refund_volume#{merchant_id}#{day}"


def _item(d: Disbursement) -> dm.DisbursementModel:
    return dm.DisbursementModel(
        d.disbursement_id,
        kind=d.kind.value,
        status=d.status.value,
        merchant_id=d.merchant_id,
        merchant_kind=f"{d.merchant_id}#{d.kind.value}" if d.merchant_id else None,
        payment_id=d.payment_id,
        destination=d.destination,
        gross=d.gross,
        fee=d.fee,
        network_fee=d.network_fee,
        amount=d.amount,
        requested_by=d.requested_by,
        address_set_by=d.address_set_by,
        requested_key=d.requested_key,
        key_created_by=d.key_created_by,
        decided_by=d.decided_by,
        reason=d.reason,
        tx_hash=d.tx_hash,
        gas_fee_wei=d.gas_fee_wei,
        currency=None if d.currency == "USDT" else d.currency,
        created_at=d.created_at,
        created_key=created_key(d.created_at, d.disbursement_id),
        updated_at=d.updated_at,
        version=d.version,
    )


def _disbursement(i: dm.DisbursementModel) -> Disbursement:
    return Disbursement(
        disbursement_id=i.disbursement_id,
        kind=DisbursementKind(i.kind),
        status=DisbursementStatus(i.status),
        merchant_id=i.merchant_id,
        payment_id=i.payment_id,
        destination=str(i.destination),
        gross=int(i.gross or 0),
        fee=int(i.fee or 0),
        network_fee=int(i.network_fee or 0),
        amount=int(i.amount or 0),
        requested_by=str(i.requested_by),
        address_set_by=i.address_set_by,
        requested_key=i.requested_key,
        key_created_by=i.key_created_by,
        decided_by=i.decided_by,
        reason=i.reason,
        tx_hash=i.tx_hash,
        gas_fee_wei=int(i.gas_fee_wei) if i.gas_fee_wei is not None else None,
        currency=i.currency or "USDT",
        created_at=int(i.created_at or 0),
        updated_at=int(i.updated_at or 0),
        version=int(i.version),
    )


def commit(change: DisbursementChange) -> None:
    """Raise ConcurrentUpdate when a condition fails (the record moved on, it exists
    already, a balance or the refund cap would be exceeded); nothing is written then."""
    dm.bind()
    try:
        ledger_repo.transact(lambda tx: _write(tx, change))
    except TransactWriteError as exc:
        if ledger_repo.reason_codes(exc):
            raise ConcurrentUpdate(change.disbursement.disbursement_id) from exc
        raise


def add_to_transaction(tx: TransactWrite, change: DisbursementChange) -> None:
    """``change``'s writes inside another change's transaction (a return of held funds
    commits its refund with the payment's change, docs/adr/0020)."""
    _write(tx, change)


def _audit_entry(change: DisbursementChange) -> audit.AuditEntry:
    d = change.disbursement
    target = f"disbursement:{d.disbursement_id}"
    if change.expected_status is None:
        return audit.AuditEntry(
            f"{d.kind.value}.created",
            target,
            after={
                "status": d.status.value,
                "gross": str(d.gross),
                "amount": str(d.amount),
                "destination": d.destination,
                "requested_by": d.requested_by,
            },
            merchant_id=d.merchant_id,
        )
    after = {"status": d.status.value, "decided_by": d.decided_by, "reason": d.reason}
    if d.tx_hash:
        after["tx_hash"] = d.tx_hash
    return audit.AuditEntry(
        f"{d.kind.value}.{d.status.value}",
        target,
        before={"status": change.expected_status.value},
        after=after,
        merchant_id=d.merchant_id,
    )


def _write(tx: TransactWrite, change: DisbursementChange) -> None:
    d = change.disbursement
    model = dm.DisbursementModel
    audit.note(tx, _audit_entry(change))
    if change.expected_status is None:
        tx.save(_item(d), condition=model.disbursement_id.does_not_exist())
    else:
        tx.save(
            _item(d),
            condition=(model.status == change.expected_status.value)
            & (model.version == d.version - 1),
        )
    for posting in change.postings:
        ledger_repo.add_to_transaction(tx, posting)
    for event in change.events:
        tx.save(event_item(event), condition=m.EventModel.event_id.does_not_exist())
    if change.refund_reserve is not None:
        headroom = change.refund_reserve.cap - d.amount
        if headroom < 0:
            raise ConcurrentUpdate(d.disbursement_id)
        tx.update(
            model(counter_id(change.refund_reserve.payment_id)),
            actions=[model.refunded.add(d.amount)],
            condition=model.refunded.does_not_exist() | (model.refunded <= headroom),
        )
    if change.refund_volume is not None:
        volume = change.refund_volume
        condition = None
        if volume.limit is not None:
            condition = model.refunded.does_not_exist() | (
                model.refunded <= volume.limit - d.amount
            )
        tx.update(
            model(volume_id(volume.merchant_id, volume.day)),
            actions=[model.refunded.add(d.amount)],
            condition=condition,
        )
    if change.refund_release is not None:
        tx.update(
            model(counter_id(change.refund_release)),
            actions=[model.refunded.add(-d.amount)],
            condition=model.refunded >= d.amount,
        )


def get(disbursement_id: str) -> Disbursement | None:
    dm.bind()
    try:
        item = dm.DisbursementModel.get(disbursement_id, consistent_read=True)
    except DoesNotExist:
        return None
    return _disbursement(item) if item.kind else None


def refund_volume(merchant_id: str, day: str) -> int:
    """Base units of refunds the merchant requested on ``day`` (UTC)."""
    dm.bind()
    try:
        item = dm.DisbursementModel.get(volume_id(merchant_id, day), consistent_read=True)
    except DoesNotExist:
        return 0
    return int(item.refunded or 0)


def refunded(payment_id: str) -> int:
    """Base units refunded or reserved for refunds of this payment."""
    dm.bind()
    try:
        item = dm.DisbursementModel.get(counter_id(payment_id), consistent_read=True)
    except DoesNotExist:
        return 0
    return int(item.refunded or 0)


def _page(query: Iterable[dm.DisbursementModel], limit: int) -> tuple[list[Disbursement], bool]:
    items = [_disbursement(i) for i in _take(query, limit + 1)]
    return items[:limit], len(items) > limit


def _take(query: Iterable[dm.DisbursementModel], n: int) -> list[dm.DisbursementModel]:
    out: list[dm.DisbursementModel] = []
    for item in query:
        out.append(item)
        if len(out) >= n:
            break
    return out


def list_for_merchant(
    merchant_id: str, kind: DisbursementKind, limit: int, before_key: str | None
) -> tuple[list[Disbursement], bool]:
    dm.bind()
    index = dm.DisbursementModel.by_merchant_kind
    condition = dm.DisbursementModel.created_key < before_key if before_key else None
    query = index.query(
        f"{merchant_id}#{kind.value}", condition, scan_index_forward=False, limit=limit + 1
    )
    return _page(query, limit)


def list_for_payment(payment_id: str, limit: int = 100) -> list[Disbursement]:
    dm.bind()
    query = dm.DisbursementModel.by_payment.query(payment_id, scan_index_forward=False)
    return [_disbursement(i) for i in _take(query, limit)]


def list_by_status(
    status: DisbursementStatus, limit: int, before_key: str | None
) -> tuple[list[Disbursement], bool]:
    dm.bind()
    condition = dm.DisbursementModel.created_key < before_key if before_key else None
    query = dm.DisbursementModel.by_status.query(
        status.value, condition, scan_index_forward=False, limit=limit + 1
    )
    return _page(query, limit)


def list_all(limit: int, before_key: str | None) -> tuple[list[Disbursement], bool]:
    """Every disbursement, newest first: one Query per status partition of the
    ``by_status`` index, merged by creation key (a handful of statuses, so no Scan and
    no index of its own)."""
    dm.bind()
    newest: list[dm.DisbursementModel] = []
    for status in DisbursementStatus:
        condition = dm.DisbursementModel.created_key < before_key if before_key else None
        query = dm.DisbursementModel.by_status.query(
            status.value, condition, scan_index_forward=False, limit=limit + 1
        )
        newest.extend(_take(query, limit + 1))
    newest.sort(key=lambda i: i.created_key or "", reverse=True)
    items = [_disbursement(i) for i in newest[: limit + 1]]
    return items[:limit], len(items) > limit


def key_of(d: Disbursement) -> str:
    return created_key(d.created_at, d.disbursement_id)


# ---- settlement profiles ---------------------------------------------------------------


def put_profile(p: SettlementProfile, entry: audit.AuditEntry) -> None:
    dm.bind()
    automatic = p.schedule in (PayoutSchedule.DAILY, PayoutSchedule.THRESHOLD)
    item = dm.SettlementProfileModel(
        p.merchant_id,
        address=p.address,
        schedule=p.schedule.value,
        scheduled=p.schedule.value if automatic else None,
        threshold=p.threshold,
        fee_bps=p.fee_bps,
        fee_fixed=p.fee_fixed,
        address_changed_at=p.address_changed_at,
        address_changed_by=p.address_changed_by,
        address_confirmed_by=p.address_confirmed_by,
        address_confirmed_at=p.address_confirmed_at,
        updated_at=p.updated_at,
        updated_by=p.updated_by,
    )
    audit.transact(lambda tx: tx.save(item), [entry])


def confirm_address(merchant_id: str, address: str, confirmer: str, when: int) -> bool:
    """The second admin's confirmation of ``address``: False when the profile's address
    is another one by now, is confirmed already, or was set by ``confirmer``."""
    dm.bind()
    model = dm.SettlementProfileModel

    def write(tx: TransactWrite) -> None:
        tx.update(
            model(merchant_id),
            actions=[
                model.address_confirmed_by.set(confirmer),
                model.address_confirmed_at.set(when),
            ],
            condition=(model.address == address)
            & model.address_confirmed_by.does_not_exist()
            & (model.address_changed_by != confirmer),
        )

    entry = audit.AuditEntry(
        "settlement.address_confirmed",
        f"merchant:{merchant_id}",
        after={"address": address, "confirmed_by": confirmer},
        merchant_id=merchant_id,
    )
    try:
        audit.transact(write, [entry])
    except TransactWriteError as exc:
        if ledger_repo.reason_codes(exc):
            return False
        raise
    return True


def _profile(i: dm.SettlementProfileModel) -> SettlementProfile:
    return SettlementProfile(
        merchant_id=i.merchant_id,
        address=i.address,
        schedule=PayoutSchedule(i.schedule),
        threshold=int(i.threshold) if i.threshold is not None else None,
        fee_bps=int(i.fee_bps) if i.fee_bps is not None else None,
        fee_fixed=int(i.fee_fixed) if i.fee_fixed is not None else None,
        address_changed_at=int(i.address_changed_at or 0),
        address_changed_by=i.address_changed_by or "",
        address_confirmed_by=i.address_confirmed_by,
        address_confirmed_at=int(i.address_confirmed_at) if i.address_confirmed_at else None,
        updated_at=int(i.updated_at),
        updated_by=i.updated_by,
    )


def get_profile(merchant_id: str) -> SettlementProfile | None:
    dm.bind()
    try:
        return _profile(dm.SettlementProfileModel.get(merchant_id, consistent_read=True))
    except DoesNotExist:
        return None


def scheduled_profiles(schedule: PayoutSchedule) -> list[SettlementProfile]:
    dm.bind()
    return [_profile(i) for i in dm.SettlementProfileModel.scheduled_index.query(schedule.value)]

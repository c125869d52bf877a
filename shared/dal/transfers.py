"""Incoming token transfers, keyed by (chain id, tx hash, log index)."""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.exceptions import DoesNotExist

from shared.dal import models as m
from shared.dal._base import bind
from shared.models.domain import (
    Transfer,
    TransferStatus,
)


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
        late=bool(item.late),
        risk_level=item.risk_level,
        risk_source=item.risk_source,
        flagged_by=item.flagged_by,
        hold=item.hold,
        held_from=item.held_from,
        returned_in=item.returned_in,
        currency=item.currency or "USDT",
    )


def transfer_item(t: Transfer) -> m.TransferModel:
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
        late=t.late or None,
        risk_level=t.risk_level,
        risk_source=t.risk_source,
        flagged_by=t.flagged_by,
        hold=t.hold,
        held_from=t.held_from,
        returned_in=t.returned_in,
        currency=None if t.currency == "USDT" else t.currency,
    )


def transfers_of(payment_id: str) -> list[Transfer]:
    bind()
    return [_transfer(i) for i in m.TransferModel.by_payment.query(payment_id)]


def get_transfer_status(tid: str) -> TransferStatus | None:
    bind()
    try:
        item = m.TransferModel.get(tid, attributes_to_get=["transfer_id", "status"])
    except DoesNotExist:
        return None
    return TransferStatus(item.status)


def statuses(tids: Iterable[str]) -> dict[str, TransferStatus]:
    """The status of each recorded transfer among ``tids`` (absent: not recorded), one
    strongly consistent BatchGetItem per 100: a scanner step asks once for all its
    transfers instead of once per transfer."""
    bind()
    keys = sorted(set(tids))
    if not keys:
        return {}
    items = m.TransferModel.batch_get(
        keys, consistent_read=True, attributes_to_get=["transfer_id", "status"]
    )
    return {i.transfer_id: TransferStatus(i.status) for i in items}


def transfer_exists(tid: str) -> bool:
    return get_transfer_status(tid) is not None


def unfinal_transfers(up_to_block: int | None = None) -> list[Transfer]:
    bind()
    cond = m.TransferModel.block_number <= up_to_block if up_to_block is not None else None
    return [_transfer(i) for i in m.TransferModel.unfinal_by_block.query("unfinal", cond)]

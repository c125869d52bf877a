"""The ``screening`` table (docs/adr/0020): blocklist entries and the provider's
cached verdicts, one item each, keyed ``blocklist#<address>`` / ``cache#<address>``
(addresses lower-case hex). Blocklist changes are audited in their own transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from shared.dal import audit
from shared.dal._base import Binder, created_key, is_condition_failure, take

BLOCKLIST = "blocklist"
CACHE = "cache"


class _ScreeningByKind(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_kind"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ScreeningModel(Model):
    class Meta:
        table_name = "unbound"
        region = "us-east-1"
        logical = "screening"

    key = UnicodeAttribute(hash_key=True)  # "blocklist#0x…" | "cache#0x…"
    address = UnicodeAttribute()
    # Blocklist entries only (the sparse index lists them, newest first).
    kind = UnicodeAttribute(null=True)
    created_key = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute(null=True)  # "admin:<username>"
    created_at = NumberAttribute(default=0)
    # Cached provider verdicts only.
    level = UnicodeAttribute(null=True)
    expires_at_ttl = NumberAttribute(null=True)
    by_kind = _ScreeningByKind()


bind = Binder((ScreeningModel,))


@dataclass(frozen=True)
class BlockEntry:
    address: str  # lower-case hex
    reason: str
    created_by: str
    created_at: int


@dataclass(frozen=True)
class CachedVerdict:
    level: str
    expires_at: int


def _entry(item: ScreeningModel) -> BlockEntry:
    return BlockEntry(
        address=item.address,
        reason=item.reason or "",
        created_by=item.created_by or "",
        created_at=int(item.created_at or 0),
    )


def get_block(address: str) -> BlockEntry | None:
    bind()
    try:
        item = ScreeningModel.get(f"{BLOCKLIST}#{address.lower()}", consistent_read=True)
    except DoesNotExist:
        return None
    return _entry(item)


def put_block(entry: BlockEntry) -> bool:
    """Add the entry with its audit record; False when the address is listed already."""
    bind()
    item = ScreeningModel(
        f"{BLOCKLIST}#{entry.address}",
        address=entry.address,
        kind=BLOCKLIST,
        created_key=created_key(entry.created_at, entry.address),
        reason=entry.reason,
        created_by=entry.created_by,
        created_at=entry.created_at,
    )
    record = audit.AuditEntry(
        "screening.blocklist_added",
        f"address:{entry.address}",
        after={"reason": entry.reason},
    )
    try:
        audit.transact(
            lambda tx: tx.save(item, condition=ScreeningModel.key.does_not_exist()), [record]
        )
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def delete_block(entry: BlockEntry) -> bool:
    """Remove the entry with its audit record; False when it was gone already."""
    bind()
    record = audit.AuditEntry(
        "screening.blocklist_removed",
        f"address:{entry.address}",
        before={"reason": entry.reason, "created_by": entry.created_by},
    )
    try:
        audit.transact(
            lambda tx: tx.delete(
                ScreeningModel(f"{BLOCKLIST}#{entry.address}"),
                condition=ScreeningModel.key.exists(),
            ),
            [record],
        )
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def list_blocks(limit: int, after: BlockEntry | None) -> tuple[list[BlockEntry], bool]:
    """Newest first."""
    bind()
    cond = None
    if after is not None:
        cond = ScreeningModel.created_key < created_key(after.created_at, after.address)
    query = ScreeningModel.by_kind.query(
        BLOCKLIST, cond, scan_index_forward=False, page_size=limit + 1
    )
    items = [_entry(i) for i in take(query, limit + 1)]
    return items[:limit], len(items) > limit


def get_cached(address: str, now: int) -> CachedVerdict | None:
    """A provider verdict still inside its TTL (DynamoDB deletes expired items late)."""
    bind()
    try:
        item = ScreeningModel.get(f"{CACHE}#{address.lower()}")
    except DoesNotExist:
        return None
    expires = int(item.expires_at_ttl or 0)
    if expires <= now or not item.level:
        return None
    return CachedVerdict(level=item.level, expires_at=expires)


def put_cached(address: str, level: str, expires_at: int, now: int) -> None:
    bind()
    ScreeningModel(
        f"{CACHE}#{address.lower()}",
        address=address.lower(),
        level=level,
        created_at=now,
        expires_at_ttl=expires_at,
    ).save()

"""The blocklist admins keep (``/admin/screening/blocklist``): add, list, remove, each
audited; and the screening source that reads it."""

from __future__ import annotations

import re

from shared import actor, ids
from shared.dal import screening as store
from shared.dal.screening import BlockEntry
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.screening import Verdict

MAX_REASON = 500
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class AlreadyListed(Conflict):
    code = "already_listed"


def checked_address(value: str, param: str = "address") -> str:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value.strip()):
        raise ValidationFailed(f"{param} must be a 0x-prefixed 20-byte hex address", param)
    return value.strip().lower()


def add(address: str, reason: str) -> BlockEntry:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("reason is required", "reason")
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"reason is longer than {MAX_REASON} characters", "reason")
    entry = BlockEntry(
        address=checked_address(address),
        reason=reason,
        created_by=actor.current().label,
        created_at=ids.now(),
    )
    if not store.put_block(entry):
        raise AlreadyListed(f"{entry.address} is on the blocklist already", "address")
    return entry


def get(address: str) -> BlockEntry:
    entry = store.get_block(checked_address(address))
    if entry is None:
        raise NotFound(f"{address} is not on the blocklist", "address")
    return entry


def remove(address: str) -> BlockEntry:
    entry = get(address)
    if not store.delete_block(entry):
        raise NotFound(f"{address} is not on the blocklist", "address")
    return entry


def list_entries(limit: int, starting_after: str | None) -> tuple[list[BlockEntry], bool]:
    after = get(starting_after) if starting_after else None
    return store.list_blocks(limit, after)


class BlocklistSource:
    """An address on the blocklist is "severe", flagged by whoever listed it."""

    def screen(self, address: str) -> Verdict | None:
        entry = store.get_block(address)
        if entry is None:
            return None
        return Verdict(
            flagged=True, level="severe", source="blocklist", flagged_by=entry.created_by
        )

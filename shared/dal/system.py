"""System singletons: named counters, write-once items (custody material), the scanner's
cursor lease, and the rescan queue."""

from __future__ import annotations

import json
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action

from shared import ids
from shared.dal import audit
from shared.dal import models as m
from shared.dal._base import bind, is_condition_failure
from shared.errors import ConcurrentUpdate


def next_counter(name: str) -> int:
    """Atomically allocate the next value (0, 1, 2, ...) of a named counter."""
    bind()
    item = m.SystemModel(name)
    item.update(actions=[m.SystemModel.counter.add(1)])
    return int(item.counter) - 1


def get_system(name: str) -> m.SystemModel | None:
    bind()
    try:
        return m.SystemModel.get(name, consistent_read=True)
    except DoesNotExist:
        return None


def put_system_once(name: str, data: dict[str, Any], now: int) -> bool:
    """Create a singleton; False when it already exists (never overwritten)."""
    bind()
    try:
        m.SystemModel(name, data_json=json.dumps(data), updated_at=now).save(
            condition=m.SystemModel.name.does_not_exist()
        )
    except PutError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def replace_system_data(name: str, before_json: str, data: dict[str, Any], now: int) -> bool:
    """Replace a singleton's data only while it still holds ``before_json`` (compare and
    set); False when it changed meanwhile or does not exist."""
    bind()
    try:
        m.SystemModel(name, data_json=json.dumps(data), updated_at=now).save(
            condition=m.SystemModel.data_json == before_json
        )
    except PutError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def acquire_lease(name: str, owner: str, now: float, lease_s: float) -> int | None:
    """Take or extend the lease; returns the stored block cursor (None when unset)."""
    bind()
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
        if is_condition_failure(exc):
            raise ConcurrentUpdate(name) from exc
        raise
    return int(item.block) if item.block is not None else None


def advance_cursor(
    name: str, owner: str, block: int, now: float, lease_s: float, finalized: int | None = None
) -> None:
    """Move the cursor forward (and note the last finalized block seen), only while we
    still hold the lease. The item stays small: one write unit per block (issue 16 §3)."""
    bind()
    actions: list[Action] = [
        m.SystemModel.block.set(block),
        m.SystemModel.lease_until.set(now + lease_s),
        m.SystemModel.updated_at.set(int(now)),
    ]
    if finalized is not None and finalized >= 0:
        actions.append(m.SystemModel.finalized.set(finalized))
    try:
        m.SystemModel(name).update(
            actions=actions,
            condition=(m.SystemModel.lease_owner == owner),
        )
    except UpdateError as exc:
        if is_condition_failure(exc):
            raise ConcurrentUpdate(name) from exc
        raise


def save_beside_lease(
    lease_name: str, owner: str, name: str, data_json: str, *, drop_legacy: bool = False
) -> None:
    """Store ``data_json`` in its own item ``name``, only while ``owner`` holds the lease
    on ``lease_name`` (one transaction). ``drop_legacy``: also remove the data an older
    release kept on the lease item itself, so that item shrinks back to one write unit."""
    bind()

    def write(tx: Any) -> None:
        # An UpdateItem, not a ConditionCheck: the lease condition needs no other grant.
        actions: list[Action] = [m.SystemModel.updated_at.set(ids.now())]
        if drop_legacy:
            actions.append(m.SystemModel.data_json.remove())
        tx.update(
            m.SystemModel(lease_name),
            actions=actions,
            condition=m.SystemModel.lease_owner == owner,
        )
        tx.update(m.SystemModel(name), actions=[m.SystemModel.data_json.set(data_json)])

    try:
        audit.transact(write, [])
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            raise ConcurrentUpdate(lease_name) from exc
        raise


def save_lease_data(name: str, owner: str, data_json: str) -> None:
    """Store data beside a cursor, only while we hold its lease."""
    bind()
    try:
        m.SystemModel(name).update(
            actions=[m.SystemModel.data_json.set(data_json)],
            condition=(m.SystemModel.lease_owner == owner),
        )
    except UpdateError as exc:
        if is_condition_failure(exc):
            raise ConcurrentUpdate(name) from exc
        raise


RESCAN_QUEUE = "rescan_queue"


def enqueue_rescan(from_block: int, to_block: int, requested_by: str, now: int) -> None:
    bind()
    entry = json.dumps({"from": from_block, "to": to_block, "by": requested_by, "at": now})
    # list_append onto if_not_exists(queue, []): concurrent requests never overwrite each other.
    audit.transact(
        lambda tx: tx.update(
            m.SystemModel(RESCAN_QUEUE),
            actions=[m.SystemModel.queue.set((m.SystemModel.queue | []).append([entry]))],
        ),
        [
            audit.AuditEntry(
                "chain.rescan_requested",
                f"blocks:{from_block}-{to_block}",
                after={"from_block": from_block, "to_block": to_block},
            )
        ],
    )


def pending_rescans() -> list[dict[str, Any]]:
    item = get_system(RESCAN_QUEUE)
    if item is None or not item.queue:
        return []
    return [json.loads(str(e)) for e in item.queue]


def advance_rescan(entry: dict[str, Any], next_from: int) -> None:
    """Record a rescan's progress: the first queued entry now starts at ``next_from``."""
    bind()
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
        if not is_condition_failure(exc):
            raise


def drop_rescan(entry: dict[str, Any]) -> None:
    """Remove the first queued rescan, if it is still the one we processed."""
    bind()
    item = get_system(RESCAN_QUEUE)
    if item is None or not item.queue or json.loads(str(item.queue[0])) != entry:
        return
    try:
        m.SystemModel(RESCAN_QUEUE).update(
            actions=[m.SystemModel.queue[0].remove()],
            condition=m.SystemModel.queue[0] == item.queue[0],
        )
    except UpdateError as exc:
        if not is_condition_failure(exc):
            raise


def release_lease(name: str, owner: str) -> None:
    bind()
    try:
        m.SystemModel(name).update(
            actions=[m.SystemModel.lease_owner.remove(), m.SystemModel.lease_until.remove()],
            condition=(m.SystemModel.lease_owner == owner),
        )
    except UpdateError as exc:
        if not is_condition_failure(exc):
            raise


ADMIN_SIGN_OUTS = "admin_sign_outs"


def record_sign_out(username: str, when: int) -> None:
    """Tokens of ``username`` issued at or before ``when`` are refused from now on
    (Cognito's global sign-out revokes refresh tokens, not the ID tokens in hand)."""
    bind()
    item = m.SystemModel(ADMIN_SIGN_OUTS)
    try:
        item.update(
            actions=[m.SystemModel.signed_out.set({})],
            condition=m.SystemModel.signed_out.does_not_exist(),
        )
    except UpdateError as exc:
        if not is_condition_failure(exc):
            raise
    item.update(actions=[m.SystemModel.signed_out[username].set(when)])


def signed_out_at(username: str) -> int | None:
    found = get_system(ADMIN_SIGN_OUTS)
    value = (found.signed_out.as_dict() if found and found.signed_out else {}).get(username)
    return int(value) if value is not None else None

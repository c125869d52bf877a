"""The audit trail on DynamoDB (docs/adr/0017): one append-only, hash-chained record per
audited change, written in the same TransactWriteItems as the change.

Every audited write goes through :func:`transact`: it runs the caller's ``write(tx)``
and appends the transaction's records (the ``entries`` given, plus any a helper noted
on the transaction with :func:`note`, e.g. a ledger posting) at the head of one of
``CHAINS`` chains. A record stores its chain position (``seq``), the hash of the
chain's previous record and the SHA-256 of its own content, so an edited record no
longer matches its hash and a deleted one breaks the chain (:func:`verify`). Records
are only ever put with ``attribute_not_exists``; IAM denies updating or deleting them.
Two writers racing for the same position: the loser's transaction is cancelled
(nothing written) and it retries on a fresh head.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from shared import actor, ids
from shared.dal import audit_models as am
from shared.dal._base import connection, created_key, reason_codes, reasons

CHAINS = 16
GENESIS = "0" * 64
CONFLICT_RETRIES = 4
POSITION_RETRIES = 12
SECRET_WORDS = ("secret", "password", "private", "ciphertext", "token", "mnemonic")
MASK = "***"


@dataclass
class AuditEntry:
    action: str  # "merchant.created", "api_key.approved", "payout.created", …
    target: str  # "merchant:mer_…", "api_key:ak_…", "disbursement:po_…", …
    before: dict[str, Any] | None = None  # changed fields only; secrets are masked
    after: dict[str, Any] | None = None
    merchant_id: str | None = None


class AuditedTransaction(TransactWrite):
    """A TransactWrite that carries the audit entries of what it writes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entries: list[AuditEntry] = []
        # Writes a helper gathers while the transaction is built and adds once at the
        # end, by name (e.g. report counters merged per item: DynamoDB refuses two
        # operations on one item in a transaction).
        self.finishers: dict[str, Callable[[TransactWrite], None]] = {}


def note(tx: TransactWrite, entry: AuditEntry) -> None:
    """Record ``entry`` with the transaction ``tx`` (built by :func:`transact`)."""
    if not isinstance(tx, AuditedTransaction):
        raise TypeError("an audited change must be written through shared.dal.audit.transact")
    tx.entries.append(entry)


def _sizes(tx: TransactWrite) -> tuple[int, int]:
    """(items DynamoDB lists before the puts, puts): pynamodb sends condition checks,
    deletes, puts, then updates, and cancellation reasons follow that order."""
    before = len(tx._condition_check_items) + len(tx._delete_items)
    return before, len(tx._put_items)


def transact(write: Callable[[Any], None], entries: Sequence[AuditEntry] = ()) -> None:
    """One TransactWriteItems: what ``write(tx)`` adds and one chained record per audit
    entry. A failed condition of ``write``'s own raises the TransactWriteError; the
    transaction is retried only when DynamoDB cancelled it for a conflict alone or
    when another writer took its chain position (nothing was written either way)."""
    conflicts = positions = 0
    while True:
        chain = f"chain-{random.randrange(CHAINS):02d}"  # noqa: S311 - spreads writers
        tx = AuditedTransaction(connection=connection())
        audit_slots = range(0)
        try:
            with tx:
                write(tx)
                for finish in tx.finishers.values():
                    finish(tx)
                first, puts = _sizes(tx)
                records = _records(chain, [*entries, *tx.entries])
                for record in records:
                    tx.save(record, condition=am.AuditModel.chain.does_not_exist())
                audit_slots = range(first + puts, first + puts + len(records))
            return
        except TransactWriteError as exc:
            codes = reasons(exc)
            failed = {i for i, code in enumerate(codes) if code == "ConditionalCheckFailed"}
            if failed and failed <= set(audit_slots) and positions < POSITION_RETRIES:
                positions += 1  # another writer took this chain position: nothing written
                continue
            found = reason_codes(exc)
            conflict = "TransactionConflict" in found and "ConditionalCheckFailed" not in found
            if conflict and conflicts < CONFLICT_RETRIES:
                time.sleep(random.uniform(0, 0.02 * 2**conflicts))  # noqa: S311 - jitter
                conflicts += 1
                continue
            raise


def committed(write: Callable[[Any], None], entries: Sequence[AuditEntry] = ()) -> bool:
    """:func:`transact`, False (nothing written) when one of ``write``'s conditions failed."""
    try:
        transact(write, entries)
    except TransactWriteError as exc:
        if "ConditionalCheckFailed" in reason_codes(exc):
            return False
        raise
    return True


def append(entries: Sequence[AuditEntry]) -> None:
    """Records alone, for an audited action with no DynamoDB change of its own (a
    Cognito role change, a redelivery handed to the queue)."""
    transact(lambda tx: None, entries)


# ---- records --------------------------------------------------------------------------


def _head(chain: str) -> tuple[int, str]:
    am.bind()
    for item in am.AuditModel.query(chain, scan_index_forward=False, limit=1, consistent_read=True):
        return int(item.seq), str(item.hash)
    return 0, GENESIS


def _records(chain: str, entries: Sequence[AuditEntry]) -> list[am.AuditModel]:
    if not entries:
        return []
    seq, prev = _head(chain)
    who = actor.current()
    made: list[am.AuditModel] = []
    for entry in entries:
        seq += 1
        record_id = ids.new_id("aud")
        content = {
            "id": record_id,
            "chain": chain,
            "seq": seq,
            "prev_hash": prev,
            "created_ms": int(record_id[4:15], 16),
            "actor": {
                "label": who.label,
                "kind": who.kind,
                "id": who.id,
                "name": who.name,
                "roles": list(who.roles),
                "merchant_id": who.merchant_id,
            },
            "action": entry.action,
            "target": entry.target,
            "merchant_id": entry.merchant_id or who.merchant_id,
            "before": masked(entry.before),
            "after": masked(entry.after),
            "request_id": actor.request_id(),
            "source_ip": actor.source_ip(),
        }
        digest = content_hash(content)
        made.append(_item(content, digest))
        prev = digest
    return made


def canonical(content: dict[str, Any]) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)


def content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(content).encode()).hexdigest()


def masked(value: Any) -> Any:
    """``value`` with every field whose name suggests a secret replaced by ``***``."""
    if isinstance(value, dict):
        return {
            k: MASK if any(w in str(k).lower() for w in SECRET_WORDS) else masked(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def _item(content: dict[str, Any], digest: str) -> am.AuditModel:
    return am.AuditModel(
        content["chain"],
        content["seq"],
        record_id=content["id"],
        kind="audit",
        created_key=created_key(content["created_ms"], content["id"]),
        created_ms=content["created_ms"],
        actor_label=content["actor"]["label"],
        target=content["target"],
        action=content["action"],
        body=canonical(content),
        prev_hash=content["prev_hash"],
        hash=digest,
    )


def content_of(item: am.AuditModel) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(item.body)
    return content


# ---- reading --------------------------------------------------------------------------


def key_of(record_id: str) -> str | None:
    """A record's listing key, from its id (ids start with their creation millisecond,
    see ``shared.ids``); None for what cannot be a record id."""
    if not ids.plausible(record_id, "aud") or len(record_id) < 15:
        return None
    return created_key(int(record_id[4:15], 16), record_id)


@dataclass
class Search:
    actor: str | None = None  # an actor label, "admin:ann"
    target: str | None = None
    action: str | None = None
    from_ms: int | None = None
    to_ms: int | None = None
    before_key: str | None = None  # the listing key of the previous page's last record
    limit: int = 50


def search(query: Search) -> tuple[list[am.AuditModel], bool]:
    """Newest first; by target, actor or action from their index, else across the trail."""
    am.bind()
    model = am.AuditModel
    if query.target:
        index: Any = model.by_target
        partition = query.target
    elif query.actor:
        index, partition = model.by_actor, query.actor
    elif query.action:
        index, partition = model.by_action, query.action
    else:
        index, partition = model.by_time, "audit"
    upper = query.before_key
    if query.to_ms is not None:
        bound = created_key(query.to_ms + 1, "")
        upper = bound if upper is None else min(upper, bound)
    lower = created_key(query.from_ms, "") if query.from_ms is not None else None
    key = model.created_key
    condition: Any = None
    if upper is not None and lower is not None:
        condition = key.between(lower, upper)
    elif upper is not None:
        condition = key < upper
    elif lower is not None:
        condition = key >= lower
    filters: Any = None
    if query.action:
        filters = model.action == query.action
    if query.actor and query.target:
        by_actor = model.actor_label == query.actor
        filters = by_actor if filters is None else filters & by_actor
    found: list[am.AuditModel] = []
    for item in index.query(
        partition, condition, filter_condition=filters, scan_index_forward=False
    ):
        if upper is not None and item.created_key >= upper:
            continue  # between() is inclusive: the previous page's last record stays out
        found.append(item)
        if len(found) > query.limit:
            break
    # The indexes hold what the filters need, not the records (docs/adr/0041).
    keys = [(str(i.chain), int(i.seq)) for i in found[: query.limit]]
    records = {(str(r.chain), int(r.seq)): r for r in model.batch_get(keys)} if keys else {}
    return [records[k] for k in keys if k in records], len(found) > query.limit


@dataclass
class Verification:
    ok: bool
    checked: int = 0
    first_break: str | None = None
    reason: str | None = None


def chain_items(chain: str) -> Iterator[am.AuditModel]:
    am.bind()
    yield from am.AuditModel.query(chain, consistent_read=True)


def verify() -> Verification:
    """Walk every chain in order: each record's content must hash to its stored hash,
    name the previous record's hash, and follow it by one seq."""
    checked = 0
    for n in range(CHAINS):
        broken, count = verify_chain(chain_items(f"chain-{n:02d}"))
        checked += count
        if broken is not None:
            record_id, reason = broken
            return Verification(False, checked, record_id, reason)
    return Verification(True, checked)


def verify_chain(items: Iterator[am.AuditModel]) -> tuple[tuple[str, str] | None, int]:
    """((first broken record id, why) or None, records checked before it)."""
    expected_seq, prev, checked = 1, GENESIS, 0
    for item in items:
        problem = _problem(item, expected_seq, prev)
        if problem is not None:
            return (str(item.record_id), problem), checked
        checked += 1
        expected_seq, prev = int(item.seq) + 1, str(item.hash)
    return None, checked


def _problem(item: am.AuditModel, expected_seq: int, prev: str) -> str | None:
    try:
        content = content_of(item)
    except (TypeError, ValueError):
        return "its content is not readable (the record was edited)"
    if int(item.seq) != expected_seq:
        return f"records are missing before it (expected seq {expected_seq}, found {item.seq})"
    if content.get("prev_hash") != prev or item.prev_hash != prev:
        return "it does not follow the previous record of its chain (a record was removed)"
    if content_hash(content) != item.hash:
        return "its content does not match its hash (the record was edited)"
    indexed = {
        "id": item.record_id,
        "chain": item.chain,
        "seq": int(item.seq),
        "action": item.action,
        "target": item.target,
    }
    label = (content.get("actor") or {}).get("label")
    listed = created_key(int(content.get("created_ms") or 0), str(content.get("id")))
    if (
        any(content.get(k) != v for k, v in indexed.items())
        or label != item.actor_label
        or listed != item.created_key
    ):
        return "its indexed fields differ from its content (the record was edited)"
    return None

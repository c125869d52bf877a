"""DynamoDB side of broadcast safety (docs/adr/0012): the hot wallet's nonce item and the
state machine of one outgoing token transfer in the ``outgoing`` table.

A nonce is taken only in the DynamoDB transaction that records the signed transaction
using it: ``UpdateItem`` on the nonce item (condition: it still holds the value the
writer read) + the ``outgoing`` record's own conditional update. So a failure before
signing leaves no gap, and two writers can never both get nonce N.

Every transfer transition is conditioned on the record's ``version`` (and state): a
duplicate writer that read an older record loses and re-reads.

A sweep's record (:func:`create_sweep`) moves PENDING → SIGNED → BROADCAST →
CONFIRMED | FAILED; each of its hot-wallet transactions is a transfer record of its own
(kind ``sweep_tx``, id ``{sweep_id}/{first tx hash}``), created SIGNED together with its
nonce and appended to the sweep in one transaction (:func:`sign_sweep_tx`).

Every record carries ``open`` = its kind until it is CONFIRMED or FAILED (sparse GSI
``open_by_updated``): :func:`open_records` finds sweeps whose queue message gave up.

Longer than ~400 lines on purpose: the nonce item and the transfer and sweep records
are written together in the same transactions (a nonce is taken only with the record
that uses it); keeping them in one module keeps every such transaction in view.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from shared.dal import audit, ledger_repo
from shared.dal import models as m
from shared.dal._base import Binder, bind, connection, is_condition_failure
from shared.errors import ConcurrentUpdate
from shared.models.ledger import Posting

# One nonce item per sending wallet role. The system table is granted per item name
# (IAM dynamodb:LeadingKeys, infra/cdk/constants.py), and the hot wallet's address is
# not known at synth time, so the name is fixed and the item records the address it
# counts for: a different address (new custody material) starts over from the chain.
HOT_WALLET_NONCE = "nonce#hot_wallet"

TERMINAL = ("CONFIRMED", "FAILED")
LIVE_ATTEMPT = ("SIGNED", "BROADCAST")
SWEEP_TX_KIND = "sweep_tx"
SWEEP_KIND = "sweep"


class NonceTaken(Exception):
    """The nonce item no longer holds what the writer read: another writer took a nonce."""


# ---- the nonce item ------------------------------------------------------------------


class NonceModel(Model):
    """The next nonce bscpay will use for ``wallet`` (an item of the ``system`` table)."""

    class Meta:
        table_name = "unbound"
        region = "us-east-1"
        logical = "system"

    name = UnicodeAttribute(hash_key=True)
    wallet = UnicodeAttribute(null=True)  # lower-case address
    next_nonce = m.ExactIntAttribute(null=True)
    updated_at = m.ExactIntAttribute(null=True)


_bind_nonce = Binder((NonceModel,))


def _bind() -> None:
    bind()
    _bind_nonce()


def stored_nonce(wallet: str, name: str = HOT_WALLET_NONCE) -> int | None:
    """The next nonce stored for ``wallet``; None when there is none (or it counts for
    another address)."""
    _bind()
    try:
        item = NonceModel.get(name, consistent_read=True)
    except DoesNotExist:
        return None
    if item.wallet != wallet.lower() or item.next_nonce is None:
        return None
    return int(item.next_nonce)


@dataclass(frozen=True)
class NonceClaim:
    """Take ``nonce`` for ``wallet``; the item must still hold ``expected`` (None: no
    value for this wallet yet)."""

    wallet: str
    nonce: int
    expected: int | None
    name: str = HOT_WALLET_NONCE


def _take(tx: TransactWrite, claim: NonceClaim, now: int) -> None:
    wallet = claim.wallet.lower()
    condition: Condition
    if claim.expected is None:
        condition = NonceModel.next_nonce.does_not_exist() | (NonceModel.wallet != wallet)
    else:
        condition = (NonceModel.wallet == wallet) & (NonceModel.next_nonce == claim.expected)
    tx.update(
        NonceModel(claim.name),
        actions=[
            NonceModel.wallet.set(wallet),
            NonceModel.next_nonce.set(claim.nonce + 1),
            NonceModel.updated_at.set(now),
        ],
        condition=condition,
    )


def _nonce_position(tx: TransactWrite) -> int:
    """Where the nonce update (the first update, :func:`_take`) sits among the
    cancellation reasons: pynamodb sends condition checks, deletes, puts, then updates."""
    return len(tx._condition_check_items) + len(tx._delete_items) + len(tx._put_items)


def _raise_for(exc: TransactWriteError, tx_id: str, nonce_at: int) -> None:
    """The nonce item's failed condition is NonceTaken; any other ConcurrentUpdate."""
    reasons = exc.cancellation_reasons or []
    nonce = reasons[nonce_at] if nonce_at < len(reasons) else None
    if nonce is not None and nonce.code == "ConditionalCheckFailed":
        raise NonceTaken(tx_id) from exc
    if is_condition_failure(exc):
        raise ConcurrentUpdate(tx_id) from exc
    raise exc


# ---- one outgoing transfer ------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    tx_hash: str
    raw_tx: str  # 0x-hex signed transaction
    gas_price_wei: int
    kind: str  # transfer | cancel
    state: str  # SIGNED | BROADCAST | CONFIRMED | FAILED | REPLACED | REFUSED
    signed_at_ms: int
    error: str | None = None

    @property
    def live(self) -> bool:
        return self.state in LIVE_ATTEMPT


@dataclass(frozen=True)
class NonceUsedWatch:
    """The record's nonce was seen used on chain while no attempt of it had a receipt
    (docs/adr/0012, "Nonce used, no receipt of ours"): when that was first seen (ms,
    and the head block then), when the grace ran out and was alerted (ms), and the next
    block the inclusion scan looks at (None: not started)."""

    seen_ms: int
    seen_block: int
    alerted_ms: int | None = None
    scan_next: int | None = None


@dataclass(frozen=True)
class TransferRecord:
    tx_id: str
    kind: str
    state: str
    payload: dict[str, Any]
    version: int
    wallet: str | None = None
    nonce: int | None = None
    gas_limit: int | None = None
    tx_hash: str | None = None
    attempts: tuple[Attempt, ...] = ()
    amount: int | None = None
    fee_wei: int | None = None
    error: str | None = None
    created_at: int = 0
    updated_at: int = 0
    nonce_used: NonceUsedWatch | None = None

    @property
    def live(self) -> tuple[Attempt, ...]:
        return tuple(a for a in self.attempts if a.live)


def create_transfer(tx_id: str, kind: str, wallet: str, payload: dict[str, Any], now: int) -> bool:
    """PENDING, once per ``tx_id``: False when the record already exists."""
    return _create(tx_id, kind, payload, now, wallet=wallet.lower(), version=0)


def _create(tx_id: str, kind: str, payload: dict[str, Any], now: int, **extra: Any) -> bool:
    _bind()
    try:
        m.OutgoingModel(
            tx_id,
            kind=kind,
            state="PENDING",
            payload_json=json.dumps(payload, separators=(",", ":"), sort_keys=True),
            created_at=now,
            updated_at=now,
            open=kind,  # on the sparse open_by_updated index until it ends
            **extra,
        ).save(condition=m.OutgoingModel.tx_id.does_not_exist())
    except PutError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def get_transfer(tx_id: str) -> TransferRecord | None:
    _bind()
    try:
        i = m.OutgoingModel.get(tx_id, consistent_read=True)
    except DoesNotExist:
        return None
    return TransferRecord(
        tx_id=i.tx_id,
        kind=i.kind,
        state=i.state,
        payload=json.loads(i.payload_json),
        version=int(i.version or 0),
        wallet=i.wallet,
        nonce=i.nonce,
        gas_limit=i.gas_limit,
        tx_hash=i.tx_hash,
        attempts=tuple(
            Attempt(
                tx_hash=a.tx_hash,
                raw_tx=a.raw_tx,
                gas_price_wei=int(a.gas_price_wei),
                kind=a.kind,
                state=a.state,
                signed_at_ms=int(a.signed_at_ms),
                error=a.error,
            )
            for a in i.attempts or []
        ),
        amount=i.amount,
        fee_wei=i.fee_wei,
        error=i.error,
        created_at=int(i.created_at),
        updated_at=int(i.updated_at),
        nonce_used=(
            NonceUsedWatch(
                seen_ms=int(i.nonce_used_seen_ms),
                seen_block=int(i.nonce_used_seen_block or 0),
                alerted_ms=i.nonce_used_alerted,
                scan_next=i.nonce_scan_next,
            )
            if i.nonce_used_seen_ms is not None
            else None
        ),
    )


def _attempt_items(attempts: tuple[Attempt, ...]) -> list[m.AttemptAttribute]:
    return [
        m.AttemptAttribute(
            tx_hash=a.tx_hash,
            raw_tx=a.raw_tx,
            gas_price_wei=a.gas_price_wei,
            kind=a.kind,
            state=a.state,
            signed_at_ms=a.signed_at_ms,
            error=a.error,
        )
        for a in attempts
    ]


@dataclass(frozen=True)
class Change:
    """What a transition writes besides state, attempts and version."""

    tx_hash: str | None = None
    amount: int | None = None
    fee_wei: int | None = None
    error: str | None = None
    nonce_used: NonceUsedWatch | None = None


def _actions(record: TransferRecord, state: str, now: int, change: Change) -> list[Action]:
    actions: list[Action] = [
        m.OutgoingModel.state.set(state),
        m.OutgoingModel.attempts.set(_attempt_items(record.attempts)),
        m.OutgoingModel.version.set(record.version + 1),
        m.OutgoingModel.updated_at.set(now),
    ]
    if change.tx_hash is not None:
        actions.append(m.OutgoingModel.tx_hash.set(change.tx_hash))
    if change.amount is not None:
        actions.append(m.OutgoingModel.amount.set(change.amount))
    if change.fee_wei is not None:
        actions.append(m.OutgoingModel.fee_wei.set(change.fee_wei))
    if change.error is not None:
        actions.append(m.OutgoingModel.error.set(change.error[:500]))
    if change.nonce_used is not None:
        watch = change.nonce_used
        actions.append(m.OutgoingModel.nonce_used_seen_ms.set(watch.seen_ms))
        actions.append(m.OutgoingModel.nonce_used_seen_block.set(watch.seen_block))
        if watch.alerted_ms is not None:
            actions.append(m.OutgoingModel.nonce_used_alerted.set(watch.alerted_ms))
        if watch.scan_next is not None:
            actions.append(m.OutgoingModel.nonce_scan_next.set(watch.scan_next))
    if state in TERMINAL:
        actions.append(m.OutgoingModel.open.remove())
    return actions


def _expected(record: TransferRecord, states: tuple[str, ...]) -> Condition:
    return (m.OutgoingModel.version == record.version) & m.OutgoingModel.state.is_in(*states)


def sign(record: TransferRecord, claim: NonceClaim, gas_limit: int, now: int) -> TransferRecord:
    """PENDING → SIGNED: take ``claim.nonce`` and record the signed first attempt
    (``record.attempts``), in one DynamoDB transaction. Raises NonceTaken when another
    writer took a nonce meanwhile, ConcurrentUpdate when the record moved on."""
    _bind()
    actions = _actions(record, "SIGNED", now, Change(tx_hash=record.attempts[-1].tx_hash))
    actions += [m.OutgoingModel.nonce.set(claim.nonce), m.OutgoingModel.gas_limit.set(gas_limit)]
    try:
        with TransactWrite(connection=connection()) as tx:
            _take(tx, claim, now)
            tx.update(
                m.OutgoingModel(record.tx_id),
                actions=actions,
                condition=_expected(record, ("PENDING",)),
            )
    except TransactWriteError as exc:
        _raise_for(exc, record.tx_id, _nonce_position(tx))
    return replace(
        record,
        state="SIGNED",
        version=record.version + 1,
        nonce=claim.nonce,
        gas_limit=gas_limit,
        tx_hash=record.attempts[-1].tx_hash,
        updated_at=now,
    )


def transition(
    before: TransferRecord,
    after: TransferRecord,
    now: int,
    change: Change | None = None,
) -> TransferRecord:
    """Write ``after`` (state, attempts, ``change``) if the stored record is still
    ``before`` (same version and state); raise ConcurrentUpdate otherwise."""
    _bind()
    change = change or Change()
    try:
        m.OutgoingModel(before.tx_id).update(
            actions=_actions(after, after.state, now, change),
            condition=_expected(before, (before.state,)),
        )
    except UpdateError as exc:
        if is_condition_failure(exc):
            raise ConcurrentUpdate(before.tx_id) from exc
        raise
    return replace(
        after,
        version=before.version + 1,
        tx_hash=change.tx_hash if change.tx_hash is not None else after.tx_hash,
        amount=change.amount if change.amount is not None else after.amount,
        fee_wei=change.fee_wei if change.fee_wei is not None else after.fee_wei,
        error=change.error[:500] if change.error is not None else after.error,
        nonce_used=change.nonce_used if change.nonce_used is not None else after.nonce_used,
        updated_at=now,
    )


# ---- a sweep and its transactions -----------------------------------------------------


def sweep_tx_id(sweep_id: str, first_tx_hash: str) -> str:
    """The transfer record of a sweep's hot-wallet transaction (every attempt at its
    nonce), named after its first attempt, the hash the sweep's record lists."""
    return f"{sweep_id}/{first_tx_hash}"


def _append_to_sweep(
    tx_hash: str, raw_hex: str, seen: str, now: int
) -> tuple[list[Action], Condition]:
    """The sweep record's update for one more signed transaction (recorded before it is
    sent): PENDING/SIGNED → SIGNED, or BROADCAST stays BROADCAST (``seen``: the state
    the writer last saw; anything else is a concurrent writer → the condition fails)."""
    actions: list[Action] = [
        m.OutgoingModel.tx_hashes.set((m.OutgoingModel.tx_hashes | []).append([tx_hash])),
        m.OutgoingModel.raw_txs.set((m.OutgoingModel.raw_txs | []).append([raw_hex])),
        m.OutgoingModel.updated_at.set(now),
    ]
    if seen == "BROADCAST":
        return actions, m.OutgoingModel.state == "BROADCAST"
    actions.append(m.OutgoingModel.state.set("SIGNED"))
    return actions, m.OutgoingModel.state.is_in("PENDING", "SIGNED")


def sign_sweep_tx(
    sweep_id: str, child: TransferRecord, claim: NonceClaim, gas_limit: int, seen: str, now: int
) -> TransferRecord:
    """A sweep's hot-wallet transaction, before it is sent, in one DynamoDB transaction:
    take ``claim.nonce``, create ``child`` SIGNED (its first attempt in ``attempts``),
    append its hash and raw bytes to the sweep (→ SIGNED). Raises NonceTaken when
    another writer took the nonce, ConcurrentUpdate when the sweep moved on."""
    _bind()
    first = child.attempts[0]
    actions, condition = _append_to_sweep(first.tx_hash, first.raw_tx, seen, now)
    try:
        with TransactWrite(connection=connection()) as tx:
            _take(tx, claim, now)
            tx.update(m.OutgoingModel(sweep_id), actions=actions, condition=condition)
            tx.save(
                m.OutgoingModel(
                    child.tx_id,
                    kind=child.kind,
                    state="SIGNED",
                    payload_json=json.dumps(child.payload, separators=(",", ":"), sort_keys=True),
                    wallet=claim.wallet.lower(),
                    nonce=claim.nonce,
                    gas_limit=gas_limit,
                    tx_hash=first.tx_hash,
                    attempts=_attempt_items(child.attempts),
                    version=1,
                    created_at=now,
                    updated_at=now,
                    open=child.kind,
                ),
                condition=m.OutgoingModel.tx_id.does_not_exist(),
            )
    except TransactWriteError as exc:
        _raise_for(exc, sweep_id, _nonce_position(tx))
    return replace(
        child,
        state="SIGNED",
        version=1,
        wallet=claim.wallet.lower(),
        nonce=claim.nonce,
        gas_limit=gas_limit,
        tx_hash=first.tx_hash,
        created_at=now,
        updated_at=now,
    )


@dataclass
class Outgoing:
    """A sweep's record, as the sweep worker reads it."""

    tx_id: str
    kind: str
    state: str
    payload: dict[str, Any]
    tx_hashes: list[str]
    raw_txs: list[str]
    amount: int | None = None
    fee_wei: int | None = None


def get_outgoing(tx_id: str) -> Outgoing | None:
    _bind()
    try:
        i = m.OutgoingModel.get(tx_id, consistent_read=True)
    except DoesNotExist:
        return None
    return Outgoing(
        tx_id=i.tx_id,
        kind=i.kind,
        state=i.state,
        payload=json.loads(i.payload_json),
        tx_hashes=[str(h) for h in i.tx_hashes or []],
        raw_txs=[str(r) for r in i.raw_txs or []],
        amount=int(i.amount) if i.amount is not None else None,
        fee_wei=int(i.fee_wei) if i.fee_wei is not None else None,
    )


def create_sweep(sweep_id: str, payload: dict[str, Any], now: int) -> bool:
    """A sweep's record, PENDING (and open), once: False when it already exists (a
    redelivered or re-sent message)."""
    return _create(sweep_id, SWEEP_KIND, payload, now)


@dataclass(frozen=True)
class OpenRecord:
    tx_id: str
    kind: str
    payload: dict[str, Any]
    updated_at: int


def open_records(kind: str, updated_before: int, limit: int) -> list[OpenRecord]:
    """Records of ``kind`` not final yet whose last change is at or before
    ``updated_before`` (epoch seconds), oldest first (sparse GSI ``open_by_updated``)."""
    _bind()
    query = m.OutgoingModel.open_by_updated.query(
        kind, m.OutgoingModel.updated_at <= updated_before, limit=limit
    )
    return [
        OpenRecord(i.tx_id, i.kind, json.loads(i.payload_json), int(i.updated_at)) for i in query
    ]


def post_alone(posting: Posting) -> None:
    """Write one ledger posting on its own (a DynamoDB transaction of its items).
    ConcurrentUpdate when one of its conditions failed: ask the ledger why
    (``Ledger.explain_rejection``: a replay, or a typed error)."""
    _bind()
    try:
        audit.transact(lambda tx: ledger_repo.add_to_transaction(tx, posting))
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            raise ConcurrentUpdate(posting.journal_id) from exc
        raise


def record_sweep_tx(sweep_id: str, tx_hash: str, raw_hex: str, seen: str, now: int) -> None:
    """A deposit's own transaction of a sweep (naive path), before it is sent."""
    _bind()
    actions, condition = _append_to_sweep(tx_hash, raw_hex, seen, now)
    try:
        m.OutgoingModel(sweep_id).update(actions=actions, condition=condition)
    except UpdateError as exc:
        if is_condition_failure(exc):
            raise ConcurrentUpdate(sweep_id) from exc
        raise


def sweep_broadcast(sweep_id: str, now: int) -> None:
    """SIGNED → BROADCAST: the node accepted one of the sweep's transactions."""
    _bind()
    try:
        m.OutgoingModel(sweep_id).update(
            actions=[
                m.OutgoingModel.state.set("BROADCAST"),
                m.OutgoingModel.updated_at.set(now),
            ],
            condition=m.OutgoingModel.state == "SIGNED",
        )
    except UpdateError as exc:
        if is_condition_failure(exc):
            raise ConcurrentUpdate(sweep_id) from exc
        raise


def finish_sweep(
    sweep_id: str,
    state: str,
    now: int,
    *,
    amount: int,
    fee_wei: int,
    error: str | None = None,
    postings: tuple[Posting, ...] = (),
) -> None:
    """PENDING/SIGNED/BROADCAST → CONFIRMED | FAILED, together with ``postings`` (e.g.
    the gas a failed sweep burnt) in one transaction. ConcurrentUpdate when the sweep is
    already finished or a posting was refused (ask the ledger why)."""
    if state not in TERMINAL:
        raise ValueError(f"{state} is not a final state")
    _bind()
    actions: list[Action] = [
        m.OutgoingModel.state.set(state),
        m.OutgoingModel.amount.set(amount),
        m.OutgoingModel.fee_wei.set(fee_wei),
        m.OutgoingModel.updated_at.set(now),
        m.OutgoingModel.open.remove(),
    ]
    if error:
        actions.append(m.OutgoingModel.error.set(error[:500]))
    finished = audit.AuditEntry(
        f"sweep.{state.lower()}",
        f"sweep:{sweep_id}",
        after={"state": state, "amount": str(amount), "fee_wei": str(fee_wei), "error": error},
    )

    def write(tx: TransactWrite) -> None:
        tx.update(
            m.OutgoingModel(sweep_id),
            actions=actions,
            condition=m.OutgoingModel.state.is_in("PENDING", "SIGNED", "BROADCAST"),
        )
        for posting in postings:
            ledger_repo.add_to_transaction(tx, posting)

    try:
        audit.transact(write, [finished])
    except TransactWriteError as exc:
        if is_condition_failure(exc):
            raise ConcurrentUpdate(sweep_id) from exc
        raise

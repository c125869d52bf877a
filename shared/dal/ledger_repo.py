"""The ledger's repository on DynamoDB: one TransactWriteItems per posting.

A posting writes, all or nothing:
- the journal item, conditioned ``attribute_not_exists(journal_id)`` (idempotency);
- for each leg, the account's balance item: ``SET balance = if_not_exists(balance, 0) ± n``
  conditioned ``balance >= n`` when the leg decreases it (no overdraft, no read first);
- for each leg, an entry item (``attribute_not_exists``);
- for a payout's settle/cancel, the reservation's journal item: ``payout_state`` from
  ``reserved`` to ``settled``/``cancelled``, conditioned on ``reserved``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from shared.dal import aggregates, audit
from shared.dal import ledger_models as lm
from shared.dal._base import reason_codes as reason_codes  # re-exported
from shared.models.ledger import (
    Account,
    Entry,
    Journal,
    Kind,
    Leg,
    PayoutState,
    PayoutTerms,
    Posting,
    PostingRejected,
    Side,
    entries_of,
)


class DynamoLedgerRepository:
    """``shared.ledger.LedgerRepository`` on the ``ledger_*`` tables."""

    def post(self, posting: Posting) -> None:
        try:
            transact(lambda tx: add_to_transaction(tx, posting))
        except TransactWriteError as exc:
            if "ConditionalCheckFailed" in reason_codes(exc):
                raise PostingRejected(posting.journal_id) from exc
            raise

    def journal(self, journal_id: str) -> Journal | None:
        lm.bind()
        try:
            item = lm.LedgerJournalModel.get(journal_id, consistent_read=True)
        except DoesNotExist:
            return None
        return _journal(item)

    def balances(self, accounts: Iterable[Account]) -> dict[Account, int]:
        lm.bind()
        wanted = {account.key: account for account in accounts}
        if not wanted:
            return {}
        found = {
            item.account: int(item.balance)
            for item in lm.LedgerAccountModel.batch_get(list(wanted), consistent_read=True)
        }
        return {account: found.get(key, 0) for key, account in wanted.items()}

    def entries(self, account: Account, limit: int, before_key: str | None) -> list[Entry]:
        lm.bind()
        query = lm.LedgerEntryModel.query(
            account.key,
            lm.LedgerEntryModel.entry_key < before_key if before_key is not None else None,
            scan_index_forward=False,
            limit=limit,
        )
        return [_entry(item) for item in query]

    def accounts(self) -> dict[Account, int]:
        """Scans the account table: for scheduled reports and reconciliation only."""
        lm.bind()
        return {
            Account.parse(item.account): int(item.balance) for item in lm.LedgerAccountModel.scan()
        }


def add_to_transaction(tx: TransactWrite, posting: Posting) -> None:
    """Add a posting's items to a transaction the caller commits, e.g. the payment's own
    (``shared.dal.payments.commit``), so a final transfer and its credit commit together. A
    taken journal id then cancels the caller's whole transaction (a ConditionalCheckFailed)."""
    lm.bind()
    audit.note(tx, _audit_entry(posting))
    aggregates.note_posting(tx, posting)
    tx.save(
        lm.LedgerJournalModel(
            posting.journal_id,
            kind=posting.kind.value,
            created_ms=posting.created_ms,
            fingerprint=posting.fingerprint,
            legs_json=json.dumps(
                [[leg.account.key, leg.side.value, str(leg.amount)] for leg in posting.legs]
            ),
            merchant_id=posting.merchant_id,
            payout_json=_payout_json(posting.payout),
            payout_state=posting.payout_state.value if posting.payout_state else None,
            closes_payout=posting.closes_payout,
        ),
        condition=lm.LedgerJournalModel.journal_id.does_not_exist(),
    )
    closing = posting.closing_state
    if posting.closes_payout is not None and closing is not None:
        tx.update(
            lm.LedgerJournalModel(posting.closes_payout),
            actions=[lm.LedgerJournalModel.payout_state.set(closing.value)],
            condition=lm.LedgerJournalModel.payout_state == PayoutState.RESERVED.value,
        )
    balance = lm.LedgerAccountModel.balance
    count = lm.LedgerAccountModel.entry_count
    for entry in entries_of(posting):
        account = entry.account
        change = (balance | 0) + entry.delta if entry.delta >= 0 else (balance | 0) - entry.amount
        tx.update(
            lm.LedgerAccountModel(account.key),
            actions=[
                balance.set(change),
                count.set((count | 0) + 1),
                lm.LedgerAccountModel.asset.set(account.asset.value),
                lm.LedgerAccountModel.name.set(account.name),
                lm.LedgerAccountModel.normal.set(account.normal.value),
                lm.LedgerAccountModel.updated_ms.set(posting.created_ms),
            ],
            condition=balance >= entry.amount if entry.delta < 0 else None,
        )
        tx.save(
            lm.LedgerEntryModel(
                account.key,
                entry.entry_key,
                journal_id=entry.journal_id,
                kind=entry.kind.value,
                side=entry.side.value,
                amount=entry.amount,
                delta=entry.delta,
                created_ms=entry.created_ms,
            ),
            condition=lm.LedgerEntryModel.entry_key.does_not_exist(),
        )


def _audit_entry(posting: Posting) -> audit.AuditEntry:
    """Every posting is a money movement (credit, sweep, payout, refund, cold move, gas):
    its legs are the record."""
    after: dict[str, Any] = {
        "legs": [[leg.account.key, leg.side.value, str(leg.amount)] for leg in posting.legs]
    }
    if posting.closes_payout is not None:
        after["closes"] = posting.closes_payout
    return audit.AuditEntry(
        f"ledger.{posting.kind.value}",
        f"journal:{posting.journal_id}",
        after=after,
        merchant_id=posting.merchant_id,
    )


# ---- mapping ----------------------------------------------------------------------------


def _payout_json(terms: PayoutTerms | None) -> str | None:
    if terms is None:
        return None
    return json.dumps(
        {
            "merchant_id": terms.merchant_id,
            "gross": str(terms.gross),
            "fee": str(terms.fee),
            "network_fee": str(terms.network_fee),
            **({"destination": terms.destination} if terms.destination else {}),
        }
    )


def _journal(item: lm.LedgerJournalModel) -> Journal:
    payout: PayoutTerms | None = None
    if item.payout_json:
        raw = json.loads(item.payout_json)
        payout = PayoutTerms(
            raw["merchant_id"],
            int(raw["gross"]),
            int(raw["fee"]),
            int(raw["network_fee"]),
            destination=raw.get("destination"),
        )
    return Journal(
        journal_id=item.journal_id,
        kind=Kind(item.kind),
        legs=tuple(
            Leg(Account.parse(key), Side(side), int(amount))
            for key, side, amount in json.loads(item.legs_json)
        ),
        created_ms=int(item.created_ms),
        fingerprint=item.fingerprint,
        merchant_id=item.merchant_id,
        payout=payout,
        payout_state=PayoutState(item.payout_state) if item.payout_state else None,
        closes_payout=item.closes_payout,
    )


def _entry(item: lm.LedgerEntryModel) -> Entry:
    return Entry(
        account=Account.parse(item.account),
        entry_key=item.entry_key,
        journal_id=item.journal_id,
        kind=Kind(item.kind),
        side=Side(item.side),
        amount=int(item.amount),
        delta=int(item.delta),
        created_ms=int(item.created_ms),
    )


def transact(write: Callable[[TransactWrite], None]) -> None:
    """One TransactWriteItems built by ``write``, with the audit records of what it
    writes (``shared.dal.audit.transact``: retried while DynamoDB cancels it for a
    "TransactionConflict" alone). A failed condition raises the TransactWriteError
    (see :func:`reason_codes`)."""
    audit.transact(write)

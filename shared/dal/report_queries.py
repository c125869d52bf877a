"""Read-only queries the exports, the statement and the regulatory reports run: each
yields one record at a time while pynamodb fetches the next page behind it, so a
report over any period holds one page in memory, never a table. Queries only (on a key
or an index), never scans."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pynamodb.expressions.condition import Condition

from shared.dal import disbursement_models as dm
from shared.dal import disbursements as disbursement_repo
from shared.dal import ledger_models as lm
from shared.dal import models as m
from shared.dal import payments as payment_repo
from shared.dal import transfers as transfer_repo
from shared.dal._base import bind, full_items
from shared.dal.ledger_repo import _entry, _journal
from shared.dal.merchants import _merchant
from shared.models.domain import Disbursement, DisbursementKind, Merchant, Payment, Transfer
from shared.models.ledger import Account, Entry, Journal, entry_key

PAGE = 200  # items per DynamoDB page (well under the 1 MB page limit)


def _created_range(start: int, end: int) -> tuple[str, str]:
    """Bounds of ``created_key`` ("{created_at:012d}#{id}") for created_at in [start, end):
    every key of second ``end`` sorts after the bare "{end:012d}"."""
    return f"{start:012d}", f"{end:012d}"


def payments(merchant_id: str, start: int, end: int) -> Iterator[Payment]:
    """The merchant's payments created in [start, end), oldest first, without transfers."""
    bind()
    low, high = _created_range(start, end)
    query = m.PaymentModel.by_merchant.query(
        merchant_id,
        m.PaymentModel.created_key.between(low, high),
        scan_index_forward=True,
        page_size=PAGE,
    )
    entries = (i for i in query if i.created_key < high)
    for item in full_items(m.PaymentModel, entries):  # the index holds keys (ADR 0041)
        yield payment_repo._payment(item)


def transfers(merchant_id: str, start: int, end: int) -> Iterator[Transfer]:
    """The merchant's incoming transfers first seen in [start, end), oldest first."""
    bind()
    query = m.TransferModel.by_merchant.query(
        merchant_id,
        m.TransferModel.seen_at.between(start, end - 1),
        scan_index_forward=True,
        page_size=PAGE,
    )
    for item in full_items(m.TransferModel, query):  # the index holds keys (ADR 0041)
        yield transfer_repo._transfer(item)


def disbursements(
    merchant_id: str, kind: DisbursementKind, start: int, end: int
) -> Iterator[Disbursement]:
    """The merchant's payouts or refunds created in [start, end), oldest first."""
    dm.bind()
    low, high = _created_range(start, end)
    query = dm.DisbursementModel.by_merchant_kind.query(
        f"{merchant_id}#{kind.value}",
        dm.DisbursementModel.created_key.between(low, high),
        scan_index_forward=True,
        page_size=PAGE,
    )
    for item in query:
        if item.created_key is not None and item.created_key < high:
            yield disbursement_repo._disbursement(item)


def merchants() -> Iterator[Merchant]:
    """Every merchant, oldest first (one small partition: merchants are few)."""
    bind()
    for item in m.MerchantModel.by_created.query(
        "merchant", scan_index_forward=True, page_size=PAGE
    ):
        yield _merchant(item)


# ---- ledger -----------------------------------------------------------------------------


def entries(account: Account, start_ms: int | None, end_ms: int | None) -> Iterator[Entry]:
    """The account's entries with created_ms in [start_ms, end_ms), oldest first; a
    missing bound is open."""
    lm.bind()
    low = entry_key(start_ms, "") if start_ms is not None else None
    high = entry_key(end_ms, "") if end_ms is not None else None
    entry = lm.LedgerEntryModel.entry_key
    condition: Condition | None = None
    if low is not None and high is not None:
        condition = entry.between(low, high)
    elif low is not None:
        condition = entry >= low
    elif high is not None:
        condition = entry < high
    query = lm.LedgerEntryModel.query(
        account.key, condition, scan_index_forward=True, page_size=PAGE * 5
    )
    for item in query:
        if high is None or item.entry_key < high:
            yield _entry(item)


def sum_of_deltas(account: Account, start_ms: int | None, end_ms: int | None) -> int:
    """Σ delta of the account's entries in [start_ms, end_ms), reading page by page."""
    return sum(e.delta for e in entries(account, start_ms, end_ms))


def balances(accounts: Iterable[Account]) -> dict[Account, int]:
    """The accounts' stored balances now (strongly consistent)."""
    lm.bind()
    wanted = {a.key: a for a in accounts}
    found = {
        item.account: int(item.balance)
        for item in lm.LedgerAccountModel.batch_get(list(wanted), consistent_read=True)
    }
    return {a: found.get(key, 0) for key, a in wanted.items()}


def journal(journal_id: str) -> Journal | None:
    lm.bind()
    try:
        return _journal(lm.LedgerJournalModel.get(journal_id))
    except lm.LedgerJournalModel.DoesNotExist:
        return None

"""The double-entry ledger (docs/adr/0010-ledger.md): the vocabulary (accounts,
postings, errors) in ``shared.models.ledger``, the logic in ``shared.ledger.service``,
the in-memory reference repository in ``shared.ledger.memory``, storage in
``shared.dal.ledger_repo``. This package is the ledger's public face."""

from __future__ import annotations

from functools import lru_cache

from shared.ledger.memory import InMemoryLedgerRepository
from shared.ledger.service import (
    Drift,
    Ledger,
    LedgerRepository,
    credit_payment_posting,
    holding_name,
    reconcile,
)
from shared.models.ledger import (
    COLD,
    DEPOSITS,
    FEES,
    GAS,
    GAS_EXPENSE,
    HOLDINGS,
    HOT,
    NETWORK_FEES,
    OPERATOR_EQUITY,
    Account,
    Asset,
    Entry,
    EntryPage,
    InsufficientFunds,
    InvalidPosting,
    Journal,
    JournalConflict,
    Kind,
    LedgerContention,
    MerchantBalance,
    PayoutNotFound,
    PayoutNotReserved,
    PayoutState,
    Posting,
    PostingRejected,
    Side,
    hot_of,
    merchant_available,
    merchant_pending_payout,
)


@lru_cache(maxsize=1)
def default() -> Ledger:
    """The deployment's ledger on DynamoDB (tables bound from configuration)."""
    # Imported here: the ledger's logic and its in-memory repository load without
    # pynamodb (unit tests, tools).
    from shared.dal.ledger_repo import DynamoLedgerRepository

    return Ledger(DynamoLedgerRepository())


__all__ = [
    "COLD",
    "DEPOSITS",
    "FEES",
    "GAS",
    "GAS_EXPENSE",
    "HOLDINGS",
    "HOT",
    "NETWORK_FEES",
    "OPERATOR_EQUITY",
    "Account",
    "Asset",
    "Drift",
    "Entry",
    "EntryPage",
    "InMemoryLedgerRepository",
    "InsufficientFunds",
    "InvalidPosting",
    "Journal",
    "JournalConflict",
    "Kind",
    "Ledger",
    "LedgerContention",
    "LedgerRepository",
    "MerchantBalance",
    "PayoutNotFound",
    "PayoutNotReserved",
    "PayoutState",
    "Posting",
    "PostingRejected",
    "Side",
    "credit_payment_posting",
    "default",
    "holding_name",
    "hot_of",
    "merchant_available",
    "merchant_pending_payout",
    "reconcile",
]

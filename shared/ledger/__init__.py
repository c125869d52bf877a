"""The double-entry ledger (docs/adr/0010-ledger.md): logic in ``shared.ledger.ledger``,
storage in ``shared.dal.ledger_repo``."""

from __future__ import annotations

from functools import lru_cache

from shared.ledger.ledger import (
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
    Drift,
    Entry,
    EntryPage,
    InMemoryLedgerRepository,
    InsufficientFunds,
    InvalidPosting,
    Journal,
    JournalConflict,
    Kind,
    Ledger,
    LedgerContention,
    LedgerRepository,
    MerchantBalance,
    PayoutNotFound,
    PayoutNotReserved,
    PayoutState,
    Posting,
    PostingRejected,
    Side,
    credit_payment_posting,
    merchant_available,
    merchant_pending_payout,
    reconcile,
)


@lru_cache(maxsize=1)
def default() -> Ledger:
    """The deployment's ledger on DynamoDB (tables bound from configuration)."""
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
    "merchant_available",
    "merchant_pending_payout",
    "reconcile",
]

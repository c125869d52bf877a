"""The ledger repository contract in memory: the reference the DynamoDB adapter is
tested against, and a fake for unit tests."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace

from shared.models.ledger import (
    Account,
    Entry,
    Journal,
    PayoutState,
    Posting,
    PostingRejected,
    entries_of,
)


class InMemoryLedgerRepository:
    """The repository contract in memory: the reference the DynamoDB adapter is tested
    against, and a fake for unit tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._balances: dict[Account, int] = {}
        self._entries: dict[Account, list[Entry]] = {}
        self._journals: dict[str, Journal] = {}

    def post(self, posting: Posting) -> None:
        with self._lock:
            if posting.journal_id in self._journals:
                raise PostingRejected(posting.journal_id)
            closing = None
            if posting.closes_payout is not None:
                closing = self._journals.get(posting.closes_payout)
                if closing is None or closing.payout_state != PayoutState.RESERVED:
                    raise PostingRejected(posting.journal_id)
            for leg in posting.legs:
                if self._balances.get(leg.account, 0) + leg.delta < 0:
                    raise PostingRejected(posting.journal_id)
            # every condition holds: apply all of it
            self._journals[posting.journal_id] = Journal.of(posting)
            if closing is not None:
                self._journals[closing.journal_id] = replace(
                    closing, payout_state=posting.closing_state
                )
            for entry in entries_of(posting):
                self._balances[entry.account] = self._balances.get(entry.account, 0) + entry.delta
                self._entries.setdefault(entry.account, []).append(entry)

    def journal(self, journal_id: str) -> Journal | None:
        with self._lock:
            return self._journals.get(journal_id)

    def balances(self, accounts: Iterable[Account]) -> dict[Account, int]:
        with self._lock:
            return {account: self._balances.get(account, 0) for account in accounts}

    def entries(self, account: Account, limit: int, before_key: str | None) -> list[Entry]:
        with self._lock:
            newest_first = sorted(
                self._entries.get(account, []), key=lambda e: e.entry_key, reverse=True
            )
        if before_key is not None:
            newest_first = [e for e in newest_first if e.entry_key < before_key]
        return newest_first[:limit]

    def accounts(self) -> dict[Account, int]:
        with self._lock:
            return dict(self._balances)

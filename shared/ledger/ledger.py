"""Double-entry ledger for the money bscpay holds (docs/adr/0010-ledger.md).

Every money movement is one *posting*: a journal record plus two or more entries whose
debits equal their credits per asset, written together with the balance items of the
accounts it touches, in one storage transaction, keyed by a journal id the caller
chose (a transfer id, a payout id) so a redelivered message never posts twice.

Balances never go negative: the storage adapter conditions every decrease on the
balance item it updates (``balance >= amount``) inside that same transaction, so an
overdraft is refused atomically instead of being checked by a read first.

This module is logic only: it receives a :class:`LedgerRepository` (the DynamoDB one is
``shared.dal.ledger_repo.DynamoLedgerRepository``; :class:`InMemoryLedgerRepository` is
the reference implementation of the same contract, used by the unit tests).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from shared.errors import Conflict, IdempotencyConflict, InvalidState, NotFound, ValidationFailed

# Amounts are integer base units (18 decimals for both USDT-BEP20 and BNB). The cap keeps
# any sum of balances far inside DynamoDB's 38 significant digits.
MAX_AMOUNT = 10**33
MAX_ID_LENGTH = 200
MAX_PAGE = 1000
# A rejected posting is explained by reading the journal and balances afterwards; when the
# state moved on in between and nothing explains it any more, the posting is tried again.
MAX_ATTEMPTS = 5


# ---- accounts -------------------------------------------------------------------------


class Asset(StrEnum):
    USDT = "USDT"
    BNB = "BNB"


class Side(StrEnum):
    DEBIT = "D"
    CREDIT = "C"


_DEBIT_NORMAL = ("holdings:", "expense:")
_CREDIT_NORMAL = ("merchant:", "revenue:", "equity:")


@dataclass(frozen=True, order=True)
class Account:
    """An account is an (asset, name) pair: USDT and BNB are separate ledgers."""

    asset: Asset
    name: str

    def __post_init__(self) -> None:
        if not self.name.startswith(_DEBIT_NORMAL + _CREDIT_NORMAL):
            raise ValueError(f"unknown account class: {self.name!r}")

    @property
    def key(self) -> str:
        return f"{self.asset.value}:{self.name}"

    @classmethod
    def parse(cls, key: str) -> Account:
        asset, _, name = key.partition(":")
        return cls(Asset(asset), name)

    @property
    def normal(self) -> Side:
        """Assets and expenses grow by debits; liabilities, revenue and equity by credits."""
        return Side.DEBIT if self.name.startswith(_DEBIT_NORMAL) else Side.CREDIT

    def delta(self, side: Side, amount: int) -> int:
        """The change of this account's (normal-side, never negative) balance."""
        return amount if side == self.normal else -amount

    def signed(self, balance: int) -> int:
        """The balance as debits minus credits; these sum to zero per asset."""
        return balance if self.normal == Side.DEBIT else -balance


DEPOSITS = Account(Asset.USDT, "holdings:deposits")  # USDT on deposit addresses
HOT = Account(Asset.USDT, "holdings:hot")  # USDT on the hot wallet
COLD = Account(Asset.USDT, "holdings:cold")  # USDT on the cold wallet
GAS = Account(Asset.BNB, "holdings:gas")  # BNB on the hot wallet
FEES = Account(Asset.USDT, "revenue:fees")
NETWORK_FEES = Account(Asset.USDT, "revenue:network_fees")  # gas recovered from payouts
GAS_EXPENSE = Account(Asset.BNB, "expense:gas")
OPERATOR_EQUITY = Account(Asset.BNB, "equity:operator")  # BNB the operator put in for gas

HOLDINGS: tuple[Account, ...] = (DEPOSITS, HOT, COLD, GAS)
USDT_HOLDINGS: tuple[Account, ...] = (DEPOSITS, HOT, COLD)
SYSTEM_ACCOUNTS: tuple[Account, ...] = (*HOLDINGS, FEES, NETWORK_FEES, GAS_EXPENSE, OPERATOR_EQUITY)


def merchant_available(merchant_id: str) -> Account:
    return Account(Asset.USDT, f"merchant:{_checked_id(merchant_id, 'merchant_id')}:available")


def merchant_pending_payout(merchant_id: str) -> Account:
    return Account(Asset.USDT, f"merchant:{_checked_id(merchant_id, 'merchant_id')}:pending_payout")


# ---- postings ---------------------------------------------------------------------------


class Kind(StrEnum):
    PAYMENT = "payment"
    GAS_FUNDING = "gas_funding"
    SWEEP = "sweep"
    PAYOUT = "payout"
    PAYOUT_SETTLED = "payout_settled"
    PAYOUT_CANCELLED = "payout_cancelled"
    REFUND = "refund"
    COLD_MOVE = "cold_move"
    GAS = "gas"  # gas burnt by a transaction that moved nothing (reverted, cancelled)


class PayoutState(StrEnum):
    RESERVED = "reserved"
    SETTLED = "settled"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Leg:
    account: Account
    side: Side
    amount: int

    @property
    def delta(self) -> int:
        return self.account.delta(self.side, self.amount)


@dataclass(frozen=True)
class PayoutTerms:
    merchant_id: str
    gross: int  # leaves the merchant's available balance
    fee: int  # bscpay's fee, revenue:fees
    network_fee: int  # gas recovered in USDT, revenue:network_fees

    @property
    def net(self) -> int:
        """What the merchant receives on chain."""
        return self.gross - self.fee - self.network_fee


@dataclass(frozen=True)
class Posting:
    """One balanced journal transaction, written atomically by the repository."""

    journal_id: str
    kind: Kind
    legs: tuple[Leg, ...]
    created_ms: int
    merchant_id: str | None = None
    payout: PayoutTerms | None = None  # on a reservation: what settle/cancel will move
    closes_payout: str | None = None  # settle/cancel: this reservation must still be RESERVED

    def __post_init__(self) -> None:
        # Room for the "/settled" and "/cancelled" suffixes of a payout's closing journals.
        _checked_id(self.journal_id, "journal_id", MAX_ID_LENGTH + 16)
        if len(self.legs) < 2:
            raise InvalidPosting("a posting needs at least two entries")
        accounts = [leg.account for leg in self.legs]
        if len(set(accounts)) != len(accounts):
            raise InvalidPosting("a posting touches each account at most once")
        totals: dict[Asset, int] = {}
        for leg in self.legs:
            _checked_amount(leg.amount, "amount")
            sign = 1 if leg.side == Side.DEBIT else -1
            totals[leg.account.asset] = totals.get(leg.account.asset, 0) + sign * leg.amount
        if any(totals.values()):
            raise InvalidPosting(f"debits and credits differ: {totals}")

    @property
    def payout_state(self) -> PayoutState | None:
        # A reservation (a payout, or a refund awaiting its transfer) carries terms.
        return PayoutState.RESERVED if self.payout is not None else None

    @property
    def closing_state(self) -> PayoutState | None:
        return {
            Kind.PAYOUT_SETTLED: PayoutState.SETTLED,
            Kind.PAYOUT_CANCELLED: PayoutState.CANCELLED,
        }.get(self.kind)

    @property
    def fingerprint(self) -> str:
        """What a replay must repeat exactly (the time of the request aside)."""
        return _fingerprint(self.kind, self.legs, self.merchant_id, self.payout, self.closes_payout)


@dataclass(frozen=True)
class Journal:
    """A stored posting. ``payout_state`` is the one field that changes (reservations)."""

    journal_id: str
    kind: Kind
    legs: tuple[Leg, ...]
    created_ms: int
    fingerprint: str
    merchant_id: str | None = None
    payout: PayoutTerms | None = None
    payout_state: PayoutState | None = None
    closes_payout: str | None = None
    replayed: bool = False  # not stored: True when this call found the posting already made

    @classmethod
    def of(cls, posting: Posting) -> Journal:
        return cls(
            journal_id=posting.journal_id,
            kind=posting.kind,
            legs=posting.legs,
            created_ms=posting.created_ms,
            fingerprint=posting.fingerprint,
            merchant_id=posting.merchant_id,
            payout=posting.payout,
            payout_state=posting.payout_state,
            closes_payout=posting.closes_payout,
        )


@dataclass(frozen=True)
class Entry:
    account: Account
    entry_key: str  # "{created_ms:013d}#{journal_id}": time order, unique per account
    journal_id: str
    kind: Kind
    side: Side
    amount: int
    delta: int  # effect on the account's balance
    created_ms: int


@dataclass(frozen=True)
class EntryPage:
    entries: list[Entry]
    next_cursor: str | None


@dataclass(frozen=True)
class MerchantBalance:
    available: int
    pending_payout: int


def entry_key(created_ms: int, journal_id: str) -> str:
    return f"{created_ms:013d}#{journal_id}"


def entries_of(posting: Posting) -> list[Entry]:
    return [
        Entry(
            account=leg.account,
            entry_key=entry_key(posting.created_ms, posting.journal_id),
            journal_id=posting.journal_id,
            kind=posting.kind,
            side=leg.side,
            amount=leg.amount,
            delta=leg.delta,
            created_ms=posting.created_ms,
        )
        for leg in posting.legs
    ]


# ---- typed errors -----------------------------------------------------------------------


class InvalidPosting(ValidationFailed):
    code = "invalid_posting"


class InsufficientFunds(Conflict):
    """The posting would take an account below zero; nothing was written."""

    code = "insufficient_funds"

    def __init__(self, account: Account, balance: int, requested: int) -> None:
        super().__init__(f"{account.key} holds {balance}, {requested} requested", param="amount")
        self.account = account
        self.balance = balance
        self.requested = requested


class JournalConflict(IdempotencyConflict):
    """The journal id was already used for a different posting."""

    code = "journal_conflict"


class PayoutNotFound(NotFound):
    pass


class PayoutNotReserved(InvalidState):
    def __init__(self, payout_id: str, state: PayoutState | None) -> None:
        super().__init__(f"payout {payout_id!r} is {state.value if state else 'unknown'}")
        self.payout_id = payout_id
        self.state = state


class LedgerContention(Conflict):
    """The posting kept losing races to other writers; retry later (queue redelivery)."""

    status = 503
    code = "ledger_contention"


# ---- the repository port ----------------------------------------------------------------


class PostingRejected(Exception):
    """Raised by a repository when a condition of the posting's transaction failed
    (journal id taken, a balance too low, the reservation no longer RESERVED):
    nothing was written. The ledger finds out which by reading."""


class LedgerRepository(Protocol):
    def post(self, posting: Posting) -> None:
        """Atomically: create the journal (its id must be new), apply every leg to its
        account's balance (refusing any that would go below zero), add the entries, and
        for settle/cancel move the reservation from RESERVED to the closing state.
        Raise :class:`PostingRejected` when any of those conditions fails."""
        ...

    def journal(self, journal_id: str) -> Journal | None:
        """Strongly consistent read."""
        ...

    def balances(self, accounts: Iterable[Account]) -> dict[Account, int]:
        """Strongly consistent; 0 for an account never posted to."""
        ...

    def entries(self, account: Account, limit: int, before_key: str | None) -> list[Entry]:
        """Newest first, entry_key strictly below ``before_key`` when given."""
        ...

    def accounts(self) -> dict[Account, int]:
        """Every account with its balance, for reports and reconciliation (not a request
        path: the DynamoDB implementation scans)."""
        ...


# ---- the ledger ---------------------------------------------------------------------------


def _now_ms() -> int:
    return int(time.time() * 1000)


class Ledger:
    def __init__(self, repo: LedgerRepository, clock: Callable[[], int] = _now_ms) -> None:
        self._repo = repo
        self._clock = clock

    # -- operations: each is one posting, idempotent by journal id --

    def credit_payment(self, merchant_id: str, amount: int, journal_id: str) -> Journal:
        """Funds for a merchant became final on a deposit address."""
        return self._post(credit_payment_posting(merchant_id, amount, journal_id, self._clock()))

    def fund_gas(self, amount_bnb: int, journal_id: str) -> Journal:
        """The operator sent BNB to the hot wallet for gas."""
        return self._post(
            _posting(
                journal_id,
                Kind.GAS_FUNDING,
                self._clock(),
                _entries(
                    debit=GAS,
                    credit=OPERATOR_EQUITY,
                    amount=_checked_amount(amount_bnb, "amount_bnb"),
                ),
            )
        )

    def sweep(self, amount: int, gas_bnb: int, journal_id: str) -> Journal:
        """USDT moved from deposit addresses to the hot wallet, paying ``gas_bnb``."""
        legs = _entries(debit=HOT, credit=DEPOSITS, amount=_checked_amount(amount, "amount"))
        legs += _gas(gas_bnb)
        return self._post(_posting(journal_id, Kind.SWEEP, self._clock(), legs))

    def payout(
        self, merchant_id: str, gross: int, fee: int, network_fee: int, journal_id: str
    ) -> Journal:
        """Reserve ``gross`` of the merchant's available balance for a payout of
        ``gross - fee - network_fee``; then :meth:`settle_payout` or :meth:`cancel_payout`
        with the same journal id."""
        return self._post(
            self.reservation_posting(merchant_id, gross, fee, network_fee, journal_id)
        )

    def settle_payout(self, payout_journal_id: str, gas_bnb: int = 0) -> Journal:
        """The payout transfer is final on chain: ``net`` left the hot wallet, the fees
        are earned. Journal id ``{payout_journal_id}/settled``."""
        return self._post(self.settle_posting(payout_journal_id, gas_bnb))

    def cancel_payout(self, payout_journal_id: str) -> Journal:
        """The payout will not be sent: ``gross`` returns to available.
        Journal id ``{payout_journal_id}/cancelled``."""
        return self._post(self.cancel_posting(payout_journal_id))

    # -- posting builders, for callers that commit a posting in their own transaction
    #    (``shared.dal.ledger_repo.add_to_transaction``) together with their records --

    def reservation_posting(
        self,
        merchant_id: str,
        gross: int,
        fee: int,
        network_fee: int,
        journal_id: str,
        kind: Kind = Kind.PAYOUT,
    ) -> Posting:
        """A reservation of ``gross`` for money leaving the hot wallet later: a payout
        (``Kind.PAYOUT``) or a refund (``Kind.REFUND``, its ``net`` goes to the payer)."""
        _checked_id(journal_id, "journal_id")
        if kind not in (Kind.PAYOUT, Kind.REFUND):
            raise InvalidPosting(f"{kind} is not a reservation", "kind")
        terms = PayoutTerms(
            merchant_id,
            _checked_amount(gross, "gross"),
            _checked_amount(fee, "fee", allow_zero=True),
            _checked_amount(network_fee, "network_fee", allow_zero=True),
        )
        if terms.net <= 0:
            raise InvalidPosting("fee and network_fee must leave a positive payout", "fee")
        legs = _entries(
            debit=merchant_available(merchant_id),
            credit=merchant_pending_payout(merchant_id),
            amount=gross,
        )
        return _posting(
            journal_id, kind, self._clock(), legs, merchant_id=merchant_id, payout=terms
        )

    def settle_posting(self, payout_journal_id: str, gas_bnb: int = 0) -> Posting:
        terms = self._reservation(payout_journal_id)
        pending = merchant_pending_payout(terms.merchant_id)
        legs = [
            Leg(pending, Side.DEBIT, terms.gross),
            Leg(HOT, Side.CREDIT, terms.net),
            *([Leg(FEES, Side.CREDIT, terms.fee)] if terms.fee else []),
            *([Leg(NETWORK_FEES, Side.CREDIT, terms.network_fee)] if terms.network_fee else []),
            *_gas(gas_bnb),
        ]
        return _posting(
            f"{payout_journal_id}/settled",
            Kind.PAYOUT_SETTLED,
            self._clock(),
            legs,
            merchant_id=terms.merchant_id,
            closes_payout=payout_journal_id,
        )

    def cancel_posting(self, payout_journal_id: str, gas_bnb: int = 0) -> Posting:
        """``gas_bnb``: what a transfer that failed on chain (reverted, or cancelled by a
        self-transfer) still cost the hot wallet."""
        terms = self._reservation(payout_journal_id)
        legs = _entries(
            debit=merchant_pending_payout(terms.merchant_id),
            credit=merchant_available(terms.merchant_id),
            amount=terms.gross,
        )
        legs += _gas(gas_bnb)
        return _posting(
            f"{payout_journal_id}/cancelled",
            Kind.PAYOUT_CANCELLED,
            self._clock(),
            legs,
            merchant_id=terms.merchant_id,
            closes_payout=payout_journal_id,
        )

    def cold_move_posting(self, amount: int, journal_id: str, gas_bnb: int = 0) -> Posting:
        legs = _entries(debit=COLD, credit=HOT, amount=_checked_amount(amount, "amount"))
        legs += _gas(gas_bnb)
        return _posting(journal_id, Kind.COLD_MOVE, self._clock(), legs)

    def gas_posting(self, gas_bnb: int, journal_id: str) -> Posting:
        """Gas a failed transaction burnt. Journal id ``{journal_id}/gas``."""
        legs = _gas(_checked_amount(gas_bnb, "gas_bnb"))
        return _posting(f"{journal_id}/gas", Kind.GAS, self._clock(), legs)

    def explain_rejection(self, posting: Posting) -> Journal | None:
        """For a posting refused inside the caller's own transaction: the journal it
        replays, or a typed error (InsufficientFunds, PayoutNotReserved, ...)."""
        return self._explain_rejection(posting)

    def refund(self, merchant_id: str, amount: int, journal_id: str, gas_bnb: int = 0) -> Journal:
        """``amount`` of the merchant's available balance was sent back to a payer from
        the hot wallet."""
        legs = [
            Leg(merchant_available(merchant_id), Side.DEBIT, _checked_amount(amount, "amount")),
            Leg(HOT, Side.CREDIT, amount),
            *_gas(gas_bnb),
        ]
        return self._post(
            _posting(journal_id, Kind.REFUND, self._clock(), legs, merchant_id=merchant_id)
        )

    def move_to_cold(self, amount: int, journal_id: str, gas_bnb: int = 0) -> Journal:
        return self._post(self.cold_move_posting(amount, journal_id, gas_bnb))

    # -- queries --

    def balance(self, account: Account) -> int:
        return self._repo.balances([account])[account]

    def entries(self, account: Account, limit: int = 50, cursor: str | None = None) -> EntryPage:
        """The account's entries, newest first; pass ``next_cursor`` back for more."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be 1..{MAX_PAGE}", "limit")
        items = self._repo.entries(account, limit + 1, _decode_cursor(cursor) if cursor else None)
        page = items[:limit]
        more = len(items) > limit
        return EntryPage(page, _encode_cursor(page[-1].entry_key) if more else None)

    def merchant_balance(self, merchant_id: str) -> MerchantBalance:
        available, pending = merchant_available(merchant_id), merchant_pending_payout(merchant_id)
        got = self._repo.balances([available, pending])
        return MerchantBalance(available=got[available], pending_payout=got[pending])

    def holdings(self) -> dict[str, int]:
        """What the ledger says is on chain: ``holdings:deposits|hot|cold`` (USDT) and
        ``holdings:gas`` (BNB)."""
        got = self._repo.balances(HOLDINGS)
        return {account.name: got[account] for account in HOLDINGS}

    def journal(self, journal_id: str) -> Journal | None:
        return self._repo.journal(journal_id)

    def trial_balance(self) -> dict[Asset, int]:
        """Debits minus credits over every account, per asset: zero when balanced.
        Reads every account: for scheduled checks, not request paths."""
        totals = {asset: 0 for asset in Asset}
        for account, balance in self._repo.accounts().items():
            totals[account.asset] += account.signed(balance)
        return totals

    # -- internals --

    def _reservation(self, payout_journal_id: str) -> PayoutTerms:
        reserved = self._repo.journal(payout_journal_id)
        if reserved is None or reserved.payout is None or reserved.closes_payout is not None:
            raise PayoutNotFound(f"no payout {payout_journal_id!r}", "journal_id")
        return reserved.payout

    def _post(self, posting: Posting) -> Journal:
        for _ in range(MAX_ATTEMPTS):
            try:
                self._repo.post(posting)
            except PostingRejected:
                pass
            else:
                return Journal.of(posting)
            replayed = self._explain_rejection(posting)
            if replayed is not None:
                return replayed
        raise LedgerContention(f"posting {posting.journal_id!r} kept conflicting; retry later")

    def _explain_rejection(self, posting: Posting) -> Journal | None:
        """Why a posting was refused: the journal it replays (returned), or a typed error
        (raised); None when no reason holds any more (the state moved on: try again)."""
        existing = self._repo.journal(posting.journal_id)
        if existing is not None:
            if existing.fingerprint != posting.fingerprint:
                raise JournalConflict(
                    f"journal {posting.journal_id!r} was posted with different terms",
                    "journal_id",
                )
            return replace(existing, replayed=True)
        if posting.closes_payout is not None:
            reserved = self._repo.journal(posting.closes_payout)
            state = reserved.payout_state if reserved else None
            if state != PayoutState.RESERVED:
                raise PayoutNotReserved(posting.closes_payout, state)
        decreasing = [leg for leg in posting.legs if leg.delta < 0]
        balances = self._repo.balances([leg.account for leg in decreasing])
        for leg in decreasing:
            if balances[leg.account] < leg.amount:
                raise InsufficientFunds(leg.account, balances[leg.account], leg.amount)
        return None


# ---- reconciliation ---------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    account: str  # a holdings account name, e.g. "holdings:hot"
    ledger: int
    chain: int

    @property
    def difference(self) -> int:
        return self.chain - self.ledger

    @property
    def kind(self) -> str:
        """``shortfall``: the chain holds less than the ledger says (money missing, page
        someone); ``surplus``: unrecognised funds on chain (e.g. not yet final)."""
        return "shortfall" if self.chain < self.ledger else "surplus"


def reconcile(
    ledger: Ledger,
    chain_balances: Mapping[str, int],
    tolerance: Mapping[str, int] | None = None,
) -> list[Drift]:
    """Compare the ledger's holdings with balances read from the chain by the caller,
    keyed by holdings account name (``holdings:deposits``, ``holdings:hot``,
    ``holdings:cold`` in USDT base units; ``holdings:gas`` in BNB wei). Only the names
    given are compared. A difference within ``tolerance[name]`` (default 0) is no drift."""
    known = {account.name for account in HOLDINGS}
    unknown = set(chain_balances) - known
    if unknown:
        raise ValueError(f"unknown holdings accounts {sorted(unknown)}; expected {sorted(known)}")
    held = ledger.holdings()
    limits = tolerance or {}
    return [
        Drift(name, held[name], chain)
        for name, chain in sorted(chain_balances.items())
        if abs(chain - held[name]) > limits.get(name, 0)
    ]


# ---- the reference repository ---------------------------------------------------------------


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


# ---- posting builders (also for callers that add a posting to their own transaction) ----


def credit_payment_posting(
    merchant_id: str, amount: int, journal_id: str, created_ms: int
) -> Posting:
    """Debit holdings:deposits, credit the merchant's available balance."""
    legs = _entries(
        debit=DEPOSITS,
        credit=merchant_available(merchant_id),
        amount=_checked_amount(amount, "amount"),
    )
    return _posting(journal_id, Kind.PAYMENT, created_ms, legs, merchant_id=merchant_id)


def _posting(
    journal_id: str,
    kind: Kind,
    created_ms: int,
    legs: list[Leg],
    *,
    merchant_id: str | None = None,
    payout: PayoutTerms | None = None,
    closes_payout: str | None = None,
) -> Posting:
    return Posting(
        journal_id=journal_id,
        kind=kind,
        legs=tuple(legs),
        created_ms=created_ms,
        merchant_id=merchant_id,
        payout=payout,
        closes_payout=closes_payout,
    )


def _entries(*, debit: Account, credit: Account, amount: int) -> list[Leg]:
    return [Leg(debit, Side.DEBIT, amount), Leg(credit, Side.CREDIT, amount)]


def _gas(gas_bnb: int) -> list[Leg]:
    if _checked_amount(gas_bnb, "gas_bnb", allow_zero=True) == 0:
        return []
    return _entries(debit=GAS_EXPENSE, credit=GAS, amount=gas_bnb)


def _checked_amount(value: int, param: str, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPosting(f"{param} must be an integer number of base units", param)
    if value < 0 or (value == 0 and not allow_zero) or value > MAX_AMOUNT:
        raise InvalidPosting(f"{param} out of range: {value}", param)
    return value


def _checked_id(value: str, param: str, max_length: int = MAX_ID_LENGTH) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= max_length or "#" in value:
        raise InvalidPosting(f"{param} must be 1..{max_length} characters without '#'", param)
    return value


def _fingerprint(
    kind: Kind,
    legs: tuple[Leg, ...],
    merchant_id: str | None,
    payout: PayoutTerms | None,
    closes_payout: str | None,
) -> str:
    canonical = {
        "kind": kind.value,
        "legs": sorted([leg.account.key, leg.side.value, str(leg.amount)] for leg in legs),
        "merchant_id": merchant_id,
        "payout": [payout.merchant_id, str(payout.gross), str(payout.fee), str(payout.network_fee)]
        if payout
        else None,
        "closes_payout": closes_payout,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("malformed cursor", "cursor") from exc

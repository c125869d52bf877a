"""The ledger's vocabulary (docs/adr/0010-ledger.md): accounts, postings, journals and
entries, and the ledger's typed errors. Plain values, no storage and no logic beyond
their own invariants (a posting balances per asset, ids and amounts in range): the
ledger logic (``shared.ledger``) and its DynamoDB repository (``shared.dal.ledger_repo``)
both speak it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

from shared.errors import Conflict, IdempotencyConflict, InvalidState, NotFound, ValidationFailed

# Amounts are integer base units (18 decimals for both USDT-BEP20 and BNB). The cap keeps
# any sum of balances far inside DynamoDB's 38 significant digits.
MAX_AMOUNT = 10**33
MAX_ID_LENGTH = 200


# ---- accounts -------------------------------------------------------------------------


class Asset(StrEnum):
    USDT = "USDT"
    BNB = "BNB"
    # The other stablecoins a deployment may accept (issue 14 §3): each its own ledger.
    USDC = "USDC"
    FDUSD = "FDUSD"


STABLECOINS: tuple[Asset, ...] = (Asset.USDT, Asset.USDC, Asset.FDUSD)


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


def deposits_of(asset: Asset) -> Account:
    """``asset`` on deposit addresses (USDT: :data:`DEPOSITS`)."""
    return Account(asset, DEPOSITS.name)


def hot_of(asset: Asset) -> Account:
    """``asset`` on the hot wallet (USDT: :data:`HOT`)."""
    return Account(asset, HOT.name)


def merchant_available(merchant_id: str, asset: Asset = Asset.USDT) -> Account:
    return Account(asset, f"merchant:{checked_id(merchant_id, 'merchant_id')}:available")


def merchant_held(merchant_id: str, asset: Asset = Asset.USDT) -> Account:
    """Final funds from a flagged sender, until a finance user releases or returns them
    (docs/adr/0020): never available, never paid out."""
    return Account(asset, f"merchant:{checked_id(merchant_id, 'merchant_id')}:held")


def merchant_pending_payout(merchant_id: str, asset: Asset = Asset.USDT) -> Account:
    return Account(asset, f"merchant:{checked_id(merchant_id, 'merchant_id')}:pending_payout")


def fees_of(asset: Asset) -> Account:
    """Platform fees earned in ``asset`` (USDT: :data:`FEES`)."""
    return Account(asset, FEES.name)


def network_fees_of(asset: Asset) -> Account:
    return Account(asset, NETWORK_FEES.name)


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
    RELEASE = "release"  # held funds released to the merchant's available balance


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
    # Where ``net`` goes (lower-case hex), fixed when the funds are reserved: settlement
    # re-checks the disbursement against it before signing. None on older reservations.
    destination: str | None = None

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
        checked_id(self.journal_id, "journal_id", MAX_ID_LENGTH + 16)
        if len(self.legs) < 2:
            raise InvalidPosting("a posting needs at least two entries")
        accounts = [leg.account for leg in self.legs]
        if len(set(accounts)) != len(accounts):
            raise InvalidPosting("a posting touches each account at most once")
        totals: dict[Asset, int] = {}
        for leg in self.legs:
            checked_amount(leg.amount, "amount")
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
        return posting_fingerprint(
            self.kind, self.legs, self.merchant_id, self.payout, self.closes_payout
        )


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
    held: int = 0  # from flagged senders, awaiting review (docs/adr/0020)


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


class PostingRejected(Exception):
    """Raised by a repository when a condition of the posting's transaction failed
    (journal id taken, a balance too low, the reservation no longer RESERVED):
    nothing was written. The ledger finds out which by reading."""


# ---- checks ---------------------------------------------------------------------------


def checked_amount(value: int, param: str, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPosting(f"{param} must be an integer number of base units", param)
    if value < 0 or (value == 0 and not allow_zero) or value > MAX_AMOUNT:
        raise InvalidPosting(f"{param} out of range: {value}", param)
    return value


def checked_id(value: str, param: str, max_length: int = MAX_ID_LENGTH) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= max_length or "#" in value:
        raise InvalidPosting(f"{param} must be 1..{max_length} characters without '#'", param)
    return value


def posting_fingerprint(
    kind: Kind,
    legs: tuple[Leg, ...],
    merchant_id: str | None,
    payout: PayoutTerms | None,
    closes_payout: str | None,
) -> str:
    canonical: dict[str, object] = {
        "kind": kind.value,
        "legs": sorted([leg.account.key, leg.side.value, str(leg.amount)] for leg in legs),
        "merchant_id": merchant_id,
        "payout": [payout.merchant_id, str(payout.gross), str(payout.fee), str(payout.network_fee)]
        if payout
        else None,
        "closes_payout": closes_payout,
    }
    if payout is not None and payout.destination is not None:
        # Only when set: fingerprints of reservations made before it stay the same.
        canonical["destination"] = payout.destination
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()

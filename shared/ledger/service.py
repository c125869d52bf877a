"""The double-entry ledger (docs/adr/0010-ledger.md).

Every money movement is one *posting*: a journal record plus two or more entries whose
debits equal their credits per asset, written together with the balance items of the
accounts it touches, in one storage transaction, keyed by a journal id the caller
chose (a transfer id, a payout id) so a redelivered message never posts twice.

Balances never go negative: the storage adapter conditions every decrease on the
balance item it updates (``balance >= amount``) inside that same transaction, so an
overdraft is refused atomically instead of being checked by a read first.

This module is logic only: it receives a :class:`LedgerRepository` (the DynamoDB one is
``shared.dal.ledger_repo.DynamoLedgerRepository``; ``shared.ledger.memory`` holds the
reference implementation of the same contract, used by the unit tests). The vocabulary
(accounts, postings, errors) is ``shared.models.ledger``.

Longer than ~400 lines on purpose: :class:`Ledger` is one cohesive class, each
operation a short method building one posting, plus the reading side; splitting it
would scatter the operations a reviewer checks together.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from shared.errors import ValidationFailed
from shared.models.ledger import (
    COLD,
    GAS,
    GAS_EXPENSE,
    HOLDINGS,
    HOT,
    OPERATOR_EQUITY,
    STABLECOINS,
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
    Leg,
    MerchantBalance,
    PayoutNotFound,
    PayoutNotReserved,
    PayoutState,
    PayoutTerms,
    Posting,
    PostingRejected,
    Side,
    checked_amount,
    checked_id,
    deposits_of,
    fees_of,
    hot_of,
    merchant_available,
    merchant_held,
    merchant_pending_payout,
    network_fees_of,
)

MAX_PAGE = 1000
# A rejected posting is explained by reading the journal and balances afterwards; when the
# state moved on in between and nothing explains it any more, the posting is tried again.
MAX_ATTEMPTS = 5


# ---- the repository port ----------------------------------------------------------------


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

# The other stablecoins' deposit and hot-wallet holdings (issue 14 §3).
OTHER_TOKEN_HOLDINGS: tuple[Account, ...] = tuple(
    account
    for asset in STABLECOINS
    if asset is not Asset.USDT
    for account in (deposits_of(asset), hot_of(asset))
)


def holding_name(account: Account) -> str:
    """``holdings:hot`` for USDT and BNB (the names reconciliation always used),
    ``USDC:holdings:hot`` for another stablecoin."""
    return account.name if account.asset in (Asset.USDT, Asset.BNB) else account.key


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
                    amount=checked_amount(amount_bnb, "amount_bnb"),
                ),
            )
        )

    def sweep(
        self, amount: int, gas_bnb: int, journal_id: str, asset: Asset = Asset.USDT
    ) -> Journal:
        """``asset`` moved from deposit addresses to the hot wallet, paying ``gas_bnb``."""
        legs = _entries(
            debit=hot_of(asset), credit=deposits_of(asset), amount=checked_amount(amount, "amount")
        )
        legs += _gas(gas_bnb)
        return self._post(_posting(journal_id, Kind.SWEEP, self._clock(), legs))

    def payout(
        self,
        merchant_id: str,
        gross: int,
        fee: int,
        network_fee: int,
        journal_id: str,
        destination: str | None = None,
    ) -> Journal:
        """Reserve ``gross`` of the merchant's available balance for a payout of
        ``gross - fee - network_fee`` to ``destination``; then :meth:`settle_payout` or
        :meth:`cancel_payout` with the same journal id."""
        return self._post(
            self.reservation_posting(
                merchant_id, gross, fee, network_fee, journal_id, destination=destination
            )
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
        *,
        destination: str | None = None,
        from_held: bool = False,
        asset: Asset = Asset.USDT,
    ) -> Posting:
        """A reservation of ``gross`` for money leaving the hot wallet later: a payout
        (``Kind.PAYOUT``) or a refund (``Kind.REFUND``, its ``net`` goes to the payer).
        ``destination``: the address ``net`` is for, part of the reservation, so a
        disbursement record changed afterwards no longer matches it. ``from_held``: a
        refund of held funds to their sender (docs/adr/0020) reserves from the held
        account; cancelling it returns them there, never to available. ``asset``: the
        token it is paid in (issue 14 §3); settling and cancelling read it back from
        this reservation's legs."""
        checked_id(journal_id, "journal_id")
        if kind not in (Kind.PAYOUT, Kind.REFUND):
            raise InvalidPosting(f"{kind} is not a reservation", "kind")
        terms = PayoutTerms(
            merchant_id,
            checked_amount(gross, "gross"),
            checked_amount(fee, "fee", allow_zero=True),
            checked_amount(network_fee, "network_fee", allow_zero=True),
            destination=_checked_destination(destination),
        )
        if terms.net <= 0:
            raise InvalidPosting("fee and network_fee must leave a positive payout", "fee")
        if from_held and kind is not Kind.REFUND:
            raise InvalidPosting("only a refund can be reserved from held funds", "kind")
        source = (
            merchant_held(merchant_id, asset)
            if from_held
            else merchant_available(merchant_id, asset)
        )
        legs = _entries(
            debit=source, credit=merchant_pending_payout(merchant_id, asset), amount=gross
        )
        return _posting(
            journal_id, kind, self._clock(), legs, merchant_id=merchant_id, payout=terms
        )

    def settle_posting(self, payout_journal_id: str, gas_bnb: int = 0) -> Posting:
        terms, asset = self._reservation_of(payout_journal_id)
        pending = merchant_pending_payout(terms.merchant_id, asset)
        legs = [
            Leg(pending, Side.DEBIT, terms.gross),
            Leg(hot_of(asset), Side.CREDIT, terms.net),
            *([Leg(fees_of(asset), Side.CREDIT, terms.fee)] if terms.fee else []),
            *(
                [Leg(network_fees_of(asset), Side.CREDIT, terms.network_fee)]
                if terms.network_fee
                else []
            ),
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
        terms, asset = self._reservation_of(payout_journal_id)
        legs = _entries(
            debit=merchant_pending_payout(terms.merchant_id, asset),
            credit=self._reserved_from(payout_journal_id, terms.merchant_id, asset),
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
        legs = _entries(debit=COLD, credit=HOT, amount=checked_amount(amount, "amount"))
        legs += _gas(gas_bnb)
        return _posting(journal_id, Kind.COLD_MOVE, self._clock(), legs)

    def gas_posting(self, gas_bnb: int, journal_id: str) -> Posting:
        """Gas a failed transaction burnt. Journal id ``{journal_id}/gas``."""
        legs = _gas(checked_amount(gas_bnb, "gas_bnb"))
        return _posting(f"{journal_id}/gas", Kind.GAS, self._clock(), legs)

    def explain_rejection(self, posting: Posting) -> Journal | None:
        """For a posting refused inside the caller's own transaction: the journal it
        replays, or a typed error (InsufficientFunds, PayoutNotReserved, ...)."""
        return self._explain_rejection(posting)

    def refund(self, merchant_id: str, amount: int, journal_id: str, gas_bnb: int = 0) -> Journal:
        """``amount`` of the merchant's available balance was sent back to a payer from
        the hot wallet."""
        legs = [
            Leg(merchant_available(merchant_id), Side.DEBIT, checked_amount(amount, "amount")),
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

    def merchant_balance(self, merchant_id: str, asset: Asset = Asset.USDT) -> MerchantBalance:
        available = merchant_available(merchant_id, asset)
        pending = merchant_pending_payout(merchant_id, asset)
        held = merchant_held(merchant_id, asset)
        got = self._repo.balances([available, pending, held])
        return MerchantBalance(
            available=got[available], pending_payout=got[pending], held=got[held]
        )

    def holdings(self) -> dict[str, int]:
        """What the ledger says is on chain: ``holdings:deposits|hot|cold`` (USDT),
        ``holdings:gas`` (BNB), and ``<TOKEN>:holdings:deposits|hot`` for the other
        stablecoins (issue 14 §3)."""
        accounts = (*HOLDINGS, *OTHER_TOKEN_HOLDINGS)
        got = self._repo.balances(accounts)
        return {holding_name(account): got[account] for account in accounts}

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

    def _reserved_from(
        self, payout_journal_id: str, merchant_id: str, asset: Asset = Asset.USDT
    ) -> Account:
        """The account a reservation took its funds from (available, or held for the
        return of held funds): where a cancellation puts them back."""
        reserved = self._repo.journal(payout_journal_id)
        held = merchant_held(merchant_id, asset)
        if reserved is not None and any(
            leg.account == held and leg.side is Side.DEBIT for leg in reserved.legs
        ):
            return held
        return merchant_available(merchant_id, asset)

    def _reservation(self, payout_journal_id: str) -> PayoutTerms:
        return self._reservation_of(payout_journal_id)[0]

    def _reservation_of(self, payout_journal_id: str) -> tuple[PayoutTerms, Asset]:
        """The reservation's terms and the token it is in (its legs' asset)."""
        reserved = self._repo.journal(payout_journal_id)
        if reserved is None or reserved.payout is None or reserved.closes_payout is not None:
            raise PayoutNotFound(f"no payout {payout_journal_id!r}", "journal_id")
        return reserved.payout, reserved.legs[0].account.asset

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
    known = {holding_name(account) for account in (*HOLDINGS, *OTHER_TOKEN_HOLDINGS)}
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


# ---- posting builders (also for callers that add a posting to their own transaction) ----


def credit_payment_posting(
    merchant_id: str, amount: int, journal_id: str, created_ms: int, asset: Asset = Asset.USDT
) -> Posting:
    """Debit holdings:deposits, credit the merchant's available balance (in ``asset``)."""
    legs = _entries(
        debit=deposits_of(asset),
        credit=merchant_available(merchant_id, asset),
        amount=checked_amount(amount, "amount"),
    )
    return _posting(journal_id, Kind.PAYMENT, created_ms, legs, merchant_id=merchant_id)


def credit_held_posting(
    merchant_id: str, amount: int, journal_id: str, created_ms: int, asset: Asset = Asset.USDT
) -> Posting:
    """Final funds from a flagged sender: debit holdings:deposits, credit the merchant's
    held account (docs/adr/0020). Same journal id as the credit it replaces."""
    legs = _entries(
        debit=deposits_of(asset),
        credit=merchant_held(merchant_id, asset),
        amount=checked_amount(amount, "amount"),
    )
    return _posting(journal_id, Kind.PAYMENT, created_ms, legs, merchant_id=merchant_id)


def release_posting(
    merchant_id: str, amount: int, journal_id: str, created_ms: int, asset: Asset = Asset.USDT
) -> Posting:
    """Held funds a finance user released: held -> available (in ``asset``)."""
    legs = _entries(
        debit=merchant_held(merchant_id, asset),
        credit=merchant_available(merchant_id, asset),
        amount=checked_amount(amount, "amount"),
    )
    return _posting(journal_id, Kind.RELEASE, created_ms, legs, merchant_id=merchant_id)


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


def _checked_destination(destination: str | None) -> str | None:
    """An address is compared case-insensitively: stored lower-case."""
    if destination is None:
        return None
    if not isinstance(destination, str) or not re.fullmatch(r"0x[0-9a-fA-F]{40}", destination):
        raise InvalidPosting("destination must be a 0x-prefixed 20-byte address", "destination")
    return destination.lower()


def _entries(*, debit: Account, credit: Account, amount: int) -> list[Leg]:
    return [Leg(debit, Side.DEBIT, amount), Leg(credit, Side.CREDIT, amount)]


def _gas(gas_bnb: int) -> list[Leg]:
    if checked_amount(gas_bnb, "gas_bnb", allow_zero=True) == 0:
        return []
    return _entries(debit=GAS_EXPENSE, credit=GAS, amount=gas_bnb)


def _encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("malformed cursor", "cursor") from exc

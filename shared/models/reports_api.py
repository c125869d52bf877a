"""API output models of the exports, statement and regulatory report routes (they
document the OpenAPI responses; the routes answer the same shapes). Columns of the CSV
files: docs/reports.md."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.models.base import Model


class ExportOut(Model):
    """A CSV too large to answer inline: fetch ``url`` (a pre-signed S3 GET) before it
    expires. Answered with 303 See Other and ``Location: <url>``."""

    object: Literal["export"] = "export"
    filename: str
    rows: int
    bytes: int
    url: str
    expires_in: int  # seconds


class StatementEntryOut(Model):
    created_at_utc: str
    created_ms: int
    journal_id: str
    kind: str  # payment | payout | payout_settled | payout_cancelled | refund | ...
    account: Literal["available", "pending_payout", "held"]
    side: Literal["credit", "debit"]
    amount: str
    delta: str  # signed effect on the account's balance
    account_balance: str  # that account's balance after the entry
    balance: str  # the merchant's total balance after the entry


class StatementOut(Model):
    object: Literal["statement"] = "statement"
    merchant_id: str
    currency: Literal["USDT"] = "USDT"
    # the period [from, to), unix seconds
    from_: int = Field(alias="from")
    to: int
    from_utc: str
    to_utc: str
    opening_balance: str
    opening_balances: dict[str, str]
    credits: str  # payments credited
    fees: str  # fees and network fees of settled payouts and refunds
    payouts: str  # what settled payouts sent
    refunds: str  # what settled refunds sent
    # net changes no category explains (an unknown kind, a manual correction, a
    # reservation that does not net to zero): non-zero makes the statement unbalanced
    adjustments: str
    unexplained_journals: list[str]  # their journal ids (the first 20)
    unexplained_count: int
    closing_balance: str
    closing_balances: dict[str, str]
    balance_at_to: str  # the stored balances less the counters and entries since `to`
    balances_at_to: dict[str, str]
    entry_count: int
    balanced: bool
    difference: str  # closing - (opening + credits - fees - payouts - refunds)
    balance_difference: str  # closing - balance_at_to
    entries: list[StatementEntryOut]


class LargeTransferOut(Model):
    seen_at: int
    seen_at_utc: str
    day: str
    reason: Literal["single", "daily_total"]
    sender: str
    amount: str
    sender_day_total: str
    sender_day_count: int
    merchant_id: str
    merchant_name: str
    payment_id: str
    tx_hash: str
    log_index: int
    block_number: int
    status: str


class LargeTransferList(Model):
    object: Literal["report.large_transfers"] = "report.large_transfers"
    from_: int = Field(alias="from")
    to: int
    threshold: str
    data: list[LargeTransferOut]


class MonthlyRow(Model):
    month: str
    merchant_id: str
    merchant_name: str
    payments_created: int
    payments_paid: int
    gross_received: str
    fees_earned: str
    refunded: str
    paid_out: str

    model_config = {"extra": "allow"}  # every field of the summary report's totals


class MonthlyReport(Model):
    object: Literal["report.monthly"] = "report.monthly"
    month: str
    from_: int = Field(alias="from")
    to: int
    data: list[MonthlyRow]

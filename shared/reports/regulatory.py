"""Regulatory reports for the compliance team (docs/reports.md):

- **large transfers**: incoming transfers in ``[from, to)`` of at least ``threshold``,
  or whose sender's total that UTC day (across every merchant) reaches it: structuring
  a large sum as several small transfers is reported too;
- **monthly totals**: per merchant, the summary report's totals for one calendar month
  (``shared.reports.summary``, served from the report counters).

Both read page by page: the large-transfer report walks each merchant's transfers
twice (per-sender day totals first, over the whole UTC days the period touches, then
the period's rows), holding only one number per (sender, day) in memory. A transfer's
day is the UTC day of its block time when the transfer records one, else of
``seen_at`` (when the scanner first saw it; transfers store no block time today, so a
rescan long after the block can move a transfer to a later day). Both passes check
``BSCPAY_EXPORT_MAX_SECONDS`` on every transfer, listed or skipped: past it, 422
asking for a shorter period.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from shared import config
from shared.dal import report_queries as queries
from shared.errors import ValidationFailed
from shared.models.amounts import format_amount, parse_amount
from shared.models.domain import Merchant, Transfer, TransferStatus
from shared.reports.period import Period, day_of, iso

DEFAULT_THRESHOLD = "10000"  # USDT
JSON_MAX_ROWS = 5000  # a JSON report lists at most this many rows: 422 beyond, use CSV

LARGE_TRANSFER_COLUMNS = (
    "seen_at",
    "seen_at_utc",
    "day",
    "reason",
    "sender",
    "amount",
    "sender_day_total",
    "sender_day_count",
    "merchant_id",
    "merchant_name",
    "payment_id",
    "tx_hash",
    "log_index",
    "block_number",
    "status",
)

# The summary report's totals, in the order; fields the summary adds later
# follow them (monthly_columns).
SUMMARY_FIELDS = (
    "payments_created",
    "payments_paid",
    "payments_expired",
    "payments_underpaid",
    "payments_overpaid",
    "conversion_rate",
    "gross_received",
    "late_funds",
    "fees_earned",
    "refunded",
    "paid_out",
    "time_to_paid_p50_s",
    "time_to_paid_p95_s",
)


class ReportTooLarge(ValidationFailed):
    code = "report_too_large"


def parse_threshold(raw: str | None) -> int:
    """A decimal USDT amount (``"10000"``, ``"9999.99"``) -> base units; else 422."""
    return parse_amount(
        raw if raw is not None else DEFAULT_THRESHOLD, config.chain().token_decimals, "threshold"
    )


def _amount(units: int) -> str:
    return format_amount(units, config.chain().token_decimals)


class Deadline:
    """``BSCPAY_EXPORT_MAX_SECONDS`` from the report's start: 422 past it."""

    def __init__(self) -> None:
        self.budget = config.exports().max_seconds
        self.end = time.monotonic() + self.budget

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise ReportTooLarge(
                f"the report took more than {self.budget} s: ask for a shorter period", "from"
            )


DAY = 86_400


def whole_days(period: Period) -> Period:
    """The UTC days ``period`` touches, from the first one's 00:00 to the last one's end."""
    return Period(period.start - period.start % DAY, -(-period.end // DAY) * DAY)


def when(t: Transfer) -> int:
    """The time a transfer is reported at: its block time if recorded, else seen_at."""
    block_time = getattr(t, "block_time", None)
    return int(block_time) if block_time else t.seen_at


def large_transfers(
    period: Period, threshold: int, deadline: Deadline | None = None
) -> Iterator[dict[str, Any]]:
    """Rows of :data:`LARGE_TRANSFER_COLUMNS`, merchant by merchant, oldest first.
    Reversed transfers (a reorg took them) are left out. A sender's day total sums the
    whole UTC day, even when ``from`` or ``to`` falls inside it."""
    deadline = deadline or Deadline()
    merchants = list(queries.merchants())
    days = whole_days(period)
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for merchant in merchants:
        for t in queries.transfers(merchant.merchant_id, days.start, days.end):
            deadline.check()
            if t.status is not TransferStatus.REVERSED:
                total = totals[(t.from_address.lower(), day_of(when(t)))]
                total[0] += t.amount
                total[1] += 1
    for merchant in merchants:
        yield from _large_of(merchant, period, threshold, totals, deadline)


def _large_of(
    merchant: Merchant,
    period: Period,
    threshold: int,
    totals: dict[tuple[str, str], list[int]],
    deadline: Deadline,
) -> Iterator[dict[str, Any]]:
    for t in queries.transfers(merchant.merchant_id, period.start, period.end):
        deadline.check()  # also while skipping: few rows may come out of many transfers
        if t.status is TransferStatus.REVERSED:
            continue
        day = day_of(when(t))
        day_total, day_count = totals.get((t.from_address.lower(), day), [t.amount, 1])
        if t.amount >= threshold:
            reason = "single"
        elif day_total >= threshold:
            reason = "daily_total"
        else:
            continue
        yield {
            "seen_at": t.seen_at,
            "seen_at_utc": iso(t.seen_at),
            "day": day,
            "reason": reason,
            "sender": t.from_address,
            "amount": _amount(t.amount),
            "sender_day_total": _amount(day_total),
            "sender_day_count": day_count,
            "merchant_id": merchant.merchant_id,
            "merchant_name": merchant.name,
            "payment_id": t.payment_id,
            "tx_hash": t.tx_hash,
            "log_index": t.log_index,
            "block_number": t.block_number,
            "status": t.status.value,
        }


def monthly(
    month: Period, deadline: Deadline | None = None
) -> tuple[tuple[str, ...], Iterator[dict[str, Any]]]:
    """(columns, rows): per merchant, the summary totals of ``month``."""
    from shared.reports.summary import summary  # the lead's report counters

    check = (deadline or Deadline()).check

    def totals_of(merchant: Merchant) -> dict[str, Any]:
        check()
        got = summary(merchant.merchant_id, month, "month")["totals"]
        return {
            "month": iso(month.start)[:7],
            "merchant_id": merchant.merchant_id,
            "merchant_name": merchant.name,
            **{k: v for k, v in got.items() if k not in ("start", "end")},
        }

    merchants = queries.merchants()
    first = next(merchants, None)
    head = ("month", "merchant_id", "merchant_name", *SUMMARY_FIELDS)
    if first is None:
        return head, iter(())
    first_row = totals_of(first)
    columns = head + tuple(k for k in first_row if k not in head)

    def rows() -> Iterator[dict[str, Any]]:
        yield first_row
        for merchant in merchants:
            yield totals_of(merchant)

    return columns, rows()


def as_list(rows: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """A JSON report's rows, at most :data:`JSON_MAX_ROWS` (422 beyond: use format=csv)."""
    out: list[dict[str, Any]] = []
    budget = config.exports().max_seconds
    deadline = time.monotonic() + budget
    for row in rows:
        if len(out) >= JSON_MAX_ROWS:
            raise ReportTooLarge(
                f"more than {JSON_MAX_ROWS} rows: ask for a shorter period or format=csv", "to"
            )
        if time.monotonic() > deadline:
            raise ReportTooLarge(f"the report took more than {budget} s: ask for a shorter period")
        out.append(row)
    return out

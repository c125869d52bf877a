"""The summary report: payment counts, conversion, money and time to paid per day, week
or month, from the report counters (``shared.dal.aggregates``; docs/adr/0022).

``from`` and ``to`` are those of every report (``shared.reports.period``: unix seconds
or ``YYYY-MM-DD``, ``[from, to)``); counters are kept per UTC day, so a bound inside a
day takes that whole day. Buckets are days, ISO weeks (Monday first) or calendar
months, clipped to the period; every bucket is listed, empty ones too, so a chart needs
no gap filling. ``start`` and ``end`` are unix seconds, ``end`` excluded.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared import config
from shared.dal import aggregates
from shared.errors import ValidationFailed
from shared.models.amounts import format_amount
from shared.reports.period import EARLIEST, Period, parse_period, parse_time

INTERVALS = ("day", "week", "month")
DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366  # three years of daily buckets at most per request
LAST_DAY = date(9999, 11, 30)


def report_period(from_: str | None, to: str | None) -> Period:
    """The summary's period (``shared.reports.period``); without ``from``, the last 30 days."""
    if not from_:
        end = int(time.time()) + 1 if not to else parse_time(to, "to")
        from_ = str(max(EARLIEST, end - DEFAULT_DAYS * 86_400))
    return parse_period(from_, to)


def days_of(span: Period) -> tuple[date, date]:
    """The whole UTC days a period touches: a bound inside a day takes that whole day."""
    first = datetime.fromtimestamp(span.start, UTC).date()
    last = datetime.fromtimestamp(span.end - 1, UTC).date()
    if last > LAST_DAY:  # a month bucket must still have a next month
        raise ValidationFailed(f"a summary ends by {LAST_DAY.isoformat()}", "to")
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationFailed(f"a summary covers at most {MAX_DAYS} days", "from")
    return first, last


def _bucket_start(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _next_start(start: date, interval: str) -> date:
    if interval == "week":
        return start + timedelta(days=7)
    if interval == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def _unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def percentile(histogram: Counter[str], fraction: float) -> int | None:
    """Nearest rank over the time-to-paid histogram: the upper edge of the bucket that
    holds the ``fraction`` * n-th fastest payment (to the histogram's resolution)."""
    n = sum(histogram[name] for name in aggregates.TTP)
    if n == 0:
        return None
    rank = max(1, math.ceil(fraction * n))
    seen = 0
    for bucket, name in enumerate(aggregates.TTP):
        seen += histogram[name]
        if seen >= rank:
            return aggregates.ttp_value(bucket)
    return None  # unreachable: the ranks add up to n


def row(values: Counter[str], decimals: int) -> dict[str, Any]:
    """The report's fields from summed counters."""
    created, paid = values["payments_created"], values["payments_paid"]
    out: dict[str, Any] = {name: values[name] for name in aggregates.COUNTS}
    out["conversion_rate"] = f"{paid / created:.4f}" if created else None
    for name in aggregates.AMOUNTS:
        out[name] = format_amount(values[name], decimals)
    out["time_to_paid_p50_s"] = percentile(values, 0.50)
    out["time_to_paid_p95_s"] = percentile(values, 0.95)
    return out


def summary(merchant_id: str | None, span: Period, interval: str = "day") -> dict[str, Any]:
    """The report for one merchant (``None``: the whole platform) over the whole days
    of ``span``."""
    first, last = days_of(span)
    if interval not in INTERVALS:
        raise ValidationFailed(f"interval must be one of {', '.join(INTERVALS)}", "interval")
    decimals = config.chain().token_decimals
    by_day = {
        d.day: d.values for d in aggregates.days(merchant_id, first.isoformat(), last.isoformat())
    }
    data: list[dict[str, Any]] = []
    totals: Counter[str] = Counter()
    start = first
    while start <= last:
        end = min(_next_start(_bucket_start(start, interval), interval), last + timedelta(days=1))
        values: Counter[str] = Counter()
        day = start
        while day < end:
            values.update(by_day.get(day.isoformat(), Counter()))
            day += timedelta(days=1)
        totals.update(values)
        data.append({"start": _unix(start), "end": _unix(end), **row(values, decimals)})
        start = end
    return {
        "object": "report.summary",
        "data": data,
        "totals": {
            "start": _unix(first),
            "end": _unix(last + timedelta(days=1)),
            **row(totals, decimals),
        },
        "interval": interval,
        "merchant_id": merchant_id,
    }

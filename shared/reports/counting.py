"""Since when the report counters hold every ledger posting's net change per merchant
account (``net_available``, ``net_pending_payout``, ``net_held`` in ``report_buckets``,
docs/adr/0022): the statement may use a day's counters instead of its entries only for
days that started after counting did.

The counters came with a release; postings made before it wrote none, so a day's
counter covers the whole day only from the first UTC day that *started* after the
release was deployed. That day is ``BSCPAY_EXPORT_COUNTERS_SINCE`` (unix seconds,
rounded up to a day start) when set, else the day after the first day
the platform's counters show any ``net_*`` value (a day that has one was counted at
least from that posting on, so the next day was counted whole). Inferring may be a day
late, never early: a late answer only makes a statement read more entries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from shared import config
from shared.dal import aggregates
from shared.reports.period import EARLIEST, day_of

DAY_MS = 86_400_000
LAST_DAY = "9999-12-31"

_lock = threading.Lock()
_inferred_ms: int | None = None  # found once per process: the first counted day never moves


def day_start_ms(ms: int) -> int:
    return ms - ms % DAY_MS


def day_ms(day: str) -> int:
    """``YYYY-MM-DD`` -> its 00:00 UTC in unix milliseconds."""
    moment = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1000


def counted_from_ms(check: Callable[[], None] = lambda: None) -> int | None:
    """Unix ms of the first UTC day whose every posting wrote counters; None when no
    counter shows it yet (read every entry instead). ``check`` runs per day read (the
    caller's deadline)."""
    global _inferred_ms
    since = config.exports().counters_since
    if since:
        return -(-since * 1000 // DAY_MS) * DAY_MS  # rounded up to a day start
    if _inferred_ms is not None:
        return _inferred_ms
    wanted = set(aggregates.NETS.values())
    for day in aggregates.days(None, day_of(EARLIEST), LAST_DAY):
        check()
        if wanted & set(day.values):
            with _lock:
                _inferred_ms = day_ms(day.day) + DAY_MS
            return _inferred_ms
    return None


def reset() -> None:
    """Forget the inferred day (tests)."""
    global _inferred_ms
    _inferred_ms = None

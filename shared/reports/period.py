"""The reporting period every report route takes: ``from`` and ``to`` as unix seconds
or ISO dates (``YYYY-MM-DD``, 00:00 UTC), half-open ``[from, to)``.

``to`` is exclusive so consecutive periods never count a record twice:
``from=2026-11-01&to=2026-12-01`` is November. A missing ``to`` is now.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

from shared.errors import ValidationFailed

_SECONDS = re.compile(r"[0-9]{1,11}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
# Nothing before 2020 (BSC's launch) or after 9999 is a reporting period.
EARLIEST = 1_577_836_800  # 2020-01-01
LATEST = 253_402_300_799  # 9999-12-31T23:59:59Z


@dataclass(frozen=True)
class Period:
    start: int  # unix seconds, inclusive
    end: int  # unix seconds, exclusive

    @property
    def start_ms(self) -> int:
        return self.start * 1000

    @property
    def end_ms(self) -> int:
        return self.end * 1000


def parse_time(raw: str, param: str) -> int:
    """Unix seconds or ``YYYY-MM-DD`` (00:00 UTC) -> unix seconds; else 422."""
    value = raw.strip()
    if _SECONDS.fullmatch(value):
        seconds = int(value)
    elif _DATE.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValidationFailed(f"{param} is not a calendar date: {value!r}", param) from None
        seconds = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    else:
        raise ValidationFailed(
            f"{param} must be unix seconds or a date YYYY-MM-DD (UTC), e.g. 2026-11-01", param
        )
    if not EARLIEST <= seconds <= LATEST:
        raise ValidationFailed(f"{param} must be between 2020-01-01 and 9999-12-31", param)
    return seconds


def parse_period(from_: str | None, to: str | None, now: int | None = None) -> Period:
    """``from`` is required; ``to`` defaults to now. ``from`` must be before ``to``."""
    if not from_:
        raise ValidationFailed("from is required (unix seconds or YYYY-MM-DD)", "from")
    start = parse_time(from_, "from")
    end = parse_time(to, "to") if to else int(now if now is not None else time.time()) + 1
    if start >= end:
        raise ValidationFailed("from must be before to (the period is [from, to))", "to")
    return Period(start, end)


def parse_month(raw: str | None) -> Period:
    """``YYYY-MM`` -> that calendar month in UTC."""
    match = _MONTH.fullmatch((raw or "").strip())
    if match is None:
        raise ValidationFailed("month must be YYYY-MM, e.g. 2026-11", "month")
    year, month = int(match.group(1)), int(match.group(2))
    if not 2020 <= year <= 9998 or not 1 <= month <= 12:
        raise ValidationFailed("month must be YYYY-MM between 2020-01 and 9998-12", "month")
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return Period(int(start.timestamp()), int(end.timestamp()))


def iso(seconds: int) -> str:
    """Unix seconds -> ``2026-11-01T00:00:00Z``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(ms: int) -> str:
    """Unix milliseconds -> ``2026-11-01T00:00:00.123Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def day_of(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")

"""The reporting period every report route takes (shared/reports/period.py): unix
seconds or YYYY-MM-DD, half-open [from, to), clear 422s."""

from __future__ import annotations

import pytest

from shared.errors import ValidationFailed
from shared.reports.period import Period, iso, parse_month, parse_period, parse_time


def test_dates_are_utc_midnight_and_seconds_are_taken_as_given() -> None:
    assert parse_time("2026-11-01", "from") == 1_793_491_200
    assert parse_time("1793491200", "from") == 1_793_491_200
    assert iso(1_793_491_200) == "2026-11-01T00:00:00Z"


def test_period_is_half_open_and_to_defaults_to_now() -> None:
    november = parse_period("2026-11-01", "2026-12-01")
    assert november == Period(1_793_491_200, 1_796_083_200)
    assert (november.start_ms, november.end_ms) == (1_793_491_200_000, 1_796_083_200_000)
    assert parse_period("2026-11-01", None, now=1_793_491_300).end == 1_793_491_301


@pytest.mark.parametrize(
    ("from_", "to", "param"),
    [
        (None, None, "from"),
        ("", "2026-12-01", "from"),
        ("yesterday", None, "from"),
        ("2026-02-30", None, "from"),
        ("2026-11-01T00:00:00Z", None, "from"),
        ("-1", None, "from"),
        ("1e9", None, "from"),
        ("1500000000", None, "from"),  # before 2020
        ("2026-11-01", "2026-11-01", "to"),  # empty period
        ("2026-12-01", "2026-11-01", "to"),
        ("2026-11-01", "999999999999", "to"),
        ("2026-11-01", "2026-13-01", "to"),
    ],
)
def test_bad_periods_are_validation_errors_naming_the_param(
    from_: str | None, to: str | None, param: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_period(from_, to, now=1_793_491_200)
    assert caught.value.status == 422
    assert caught.value.param == param


def test_month_is_the_calendar_month_in_utc() -> None:
    assert parse_month("2026-12") == Period(1_796_083_200, 1_798_761_600)
    assert parse_month("2026-02").end - parse_month("2026-02").start == 28 * 86_400


@pytest.mark.parametrize("raw", [None, "", "2026-13", "2026-00", "2026-1", "2019-12", "x"])
def test_bad_months_are_422(raw: str | None) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_month(raw)
    assert caught.value.param == "month"

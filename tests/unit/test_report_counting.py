"""Since when the statement may use the daily net counters (shared/reports/counting.py):
the configured moment rounded up to a whole UTC day, else inferred from the counters
(the day after the first day that has a net change), never earlier."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from shared import config
from shared.dal import aggregates
from shared.reports import counting

DAY_MS = 86_400_000
JAN_1 = 1_577_836_800  # 2020-01-01T00:00:00Z


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv("BSCPAY_EXPORT_COUNTERS_SINCE", raising=False)
    config.reset()
    counting.reset()
    yield monkeypatch
    monkeypatch.undo()
    config.reset()
    counting.reset()


@pytest.mark.parametrize(
    ("since", "expected_ms"),
    [
        (JAN_1, JAN_1 * 1000),  # a day start is that day
        (JAN_1 + 1, JAN_1 * 1000 + DAY_MS),  # mid-day: that day was partly uncounted
        (JAN_1 + 86_399, JAN_1 * 1000 + DAY_MS),
    ],
)
def test_the_configured_moment_is_rounded_up_to_a_day(
    fresh: pytest.MonkeyPatch, since: int, expected_ms: int
) -> None:
    fresh.setenv("BSCPAY_EXPORT_COUNTERS_SINCE", str(since))
    config.reset()
    assert counting.counted_from_ms() == expected_ms


def test_unset_it_is_the_day_after_the_first_day_with_a_net_change(
    fresh: pytest.MonkeyPatch,
) -> None:
    # Given counters of two days: payments only, then the first net change
    days = [
        aggregates.DayTotals("2026-11-30", Counter({"payments_created": 3})),
        aggregates.DayTotals("2026-12-01", Counter({"net_available": 0, "payments_paid": 1})),
        aggregates.DayTotals("2026-12-02", Counter({"net_held": 5})),
    ]
    reads: list[str] = []

    def fake_days(merchant_id: str | None, first: str, last: str) -> Iterator[object]:
        assert merchant_id is None  # the platform's counters
        for d in days:
            reads.append(d.day)
            yield d

    fresh.setattr(aggregates, "days", fake_days)

    # Then counting covers whole days from 2026-12-02, and is found once per process
    expected = counting.day_ms("2026-12-02")
    assert counting.counted_from_ms() == expected
    assert counting.counted_from_ms() == expected
    assert reads == ["2026-11-30", "2026-12-01"]


def test_no_counter_at_all_means_read_the_entries(fresh: pytest.MonkeyPatch) -> None:
    fresh.setattr(aggregates, "days", lambda *args: iter(()))
    assert counting.counted_from_ms() is None

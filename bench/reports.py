"""Report query figures (issue 12): the summary report over a year of daily counters
for a merchant with a million payments, and the platform's year, answered from
``report_buckets`` (docs/adr/0022) on moto server in its own process, as DynamoDB is a
remote service to the API.

The counters are written as the transactions would leave them (every shard of every
day of the year), so the query reads exactly what a year of traffic leaves behind; the
number of payments does not change what is read. Days older than a week are written as
the daily compaction leaves them (one item); the last week is sharded and folded by
the job's own code (shared.jobs.report_compaction), timed too.
Writes ``bench/results/reports.json``.

    .venv/bin/python -m bench.reports
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.common import RESULTS_DIR, machine, percentile
from shared.dal import aggregates
from shared.jobs import report_compaction
from shared.local.chain import free_port
from shared.local.stack import LocalStack, StackConfig
from shared.reports.period import Period
from shared.reports.summary import summary

PAYMENTS = 1_000_000
DAYS = 365
RUNS = int(os.environ.get("BENCH_REPORT_RUNS", "15"))
GOAL_MS = 1000.0  # "well under a second"


def _fill(merchant_id: str, first: date) -> None:
    """A year of counters for ``merchant_id`` and the platform, PAYMENTS spread evenly
    over every shard of every day, as the transactions leave them."""
    per_day = PAYMENTS // DAYS
    aggregates.bind()
    model = aggregates.ReportBucketModel
    with model.batch_write() as batch:
        for offset in range(DAYS):
            day = (first + timedelta(days=offset)).isoformat()
            # Days the daily job has folded already are one item; the last week is sharded.
            recent = offset >= DAYS - 1 - report_compaction.DAYS_BACK
            for pk, shards in (
                (f"m#{merchant_id}", aggregates.MERCHANT_SHARDS),
                (aggregates.PLATFORM, aggregates.PLATFORM_SHARDS),
            ):
                names = [str(n) for n in range(shards)] if recent else [aggregates.COMPACTED]
                for shard in names:
                    n = per_day // len(names)
                    item = model(pk, f"{day}#{shard}")
                    item.payments_created = n
                    item.payments_paid = n * 9 // 10
                    item.payments_expired = n - n * 9 // 10
                    item.gross_received = n * 25 * 10**18
                    item.fees_earned = n * 10**17
                    for bucket in range(0, 30, 3):
                        setattr(item, aggregates.TTP[bucket], n * 9 // 100)
                    item.writes = n
                    batch.save(item)


def _compact(merchant_id: str, first: date) -> float:
    """The daily job's work: fold the last DAYS_BACK finished days. Returns seconds."""
    start = time.perf_counter()
    for offset in range(DAYS - 1 - report_compaction.DAYS_BACK, DAYS - 1):  # today stays
        day = (first + timedelta(days=offset)).isoformat()
        for pk in (f"m#{merchant_id}", aggregates.PLATFORM):
            aggregates.compact_day(pk, day)
    return time.perf_counter() - start


def _timed(fn: Callable[[], Any]) -> dict[str, float]:
    fn()  # warm: connection and botocore models
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return {
        "p50_ms": round(percentile(times, 50), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "max_ms": round(max(times), 1),
    }


def main() -> None:
    cfg = StackConfig(
        api_port=free_port(),
        rpc_port=free_port(),
        aws_port=free_port(),
        block_time=None,
        prefix="bscpay-bench-rep",
        moto_in_subprocess=True,
        state_file=None,
        serve_api=False,
        run_workers=False,
    )
    stack = LocalStack(cfg).start()
    try:
        merchant_id = "mer_" + "b" * 32
        first = datetime.now(UTC).date() - timedelta(days=DAYS - 1)
        _fill(merchant_id, first)
        compact_s = _compact(merchant_id, first)
        days_back = report_compaction.DAYS_BACK
        print(f"compaction of {days_back} days x 2 partitions: {compact_s:.1f} s")
        start = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp())
        year = Period(start, start + DAYS * 86_400)
        results: dict[str, Any] = {}
        month = Period(year.end - 30 * 86_400, year.end)
        for label, who, span, interval in (
            ("merchant_year_daily", merchant_id, year, "day"),
            ("merchant_year_monthly", merchant_id, year, "month"),
            ("platform_30_days_daily", None, month, "day"),
            ("platform_year_daily", None, year, "day"),
        ):

            def query(who: str | None = who, span: Period = span, interval: str = interval) -> Any:
                return summary(who, span, interval)

            figures = _timed(query)
            check = summary(who, span, interval)["totals"]["payments_created"]
            results[label] = {**figures, "payments_counted": check}
            print(f"{label:24s} p50 {figures['p50_ms']:7.1f} ms  p95 {figures['p95_ms']:7.1f} ms")
    finally:
        stack.stop()
    worst = max(r["p95_ms"] for r in results.values())
    figures_out = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "payments_per_merchant_year": PAYMENTS,
        # finished days folded to one item each; today keeps its shards
        "buckets_read": {
            "merchant": DAYS - 1 + aggregates.MERCHANT_SHARDS,
            "platform": DAYS - 1 + aggregates.PLATFORM_SHARDS,
        },
        "shards": {"merchant": aggregates.MERCHANT_SHARDS, "platform": aggregates.PLATFORM_SHARDS},
        "compaction_s": round(compact_s, 1),
        "runs": RUNS,
        "results": results,
        "goal": {"p95_ms_below": GOAL_MS, "met": worst < GOAL_MS},
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "reports.json").write_text(json.dumps(figures_out, indent=2) + "\n")
    verdict = "met" if worst < GOAL_MS else "MISSED"
    print(f"goal p95 < {GOAL_MS:.0f} ms: {verdict} (worst {worst} ms)")


if __name__ == "__main__":
    main()

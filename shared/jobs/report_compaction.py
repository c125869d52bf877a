"""Folds finished days of report counters into one item per day (docs/adr/0022), so a
year of a merchant's summary reads about 365 items however many shards took its writes.
Run once a day by the digest function (and the local stack's digest loop)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from aws_lambda_powertools import Logger

from shared.dal import aggregates
from shared.dal import merchants as merchant_repo

logger = Logger(child=True)

DAYS_BACK = 7  # a late write to an older day leaves one more item; a later run folds it
MERCHANT_PAGE = 100


@dataclass
class Compaction:
    days_folded: int = 0
    raced: int = 0  # a write reached a shard meanwhile: left for the next run


def _partitions() -> list[str]:
    keys = [aggregates.PLATFORM]
    after = None
    while True:
        page, more = merchant_repo.list_merchants(MERCHANT_PAGE, after)
        keys += [f"m#{merchant.merchant_id}" for merchant in page]
        if not more or not page:
            return keys
        after = page[-1].created_at


def run(today: date, days_back: int = DAYS_BACK) -> Compaction:
    """Fold each of the ``days_back`` days before ``today`` (UTC), for every partition."""
    done = Compaction()
    days = [(today - timedelta(days=n)).isoformat() for n in range(1, days_back + 1)]
    for pk in _partitions():
        for day in days:
            outcome = aggregates.compact_day(pk, day)
            if outcome is True:
                done.days_folded += 1
            elif outcome is None:
                done.raced += 1
    logger.info("report counters compacted", extra=vars(done))
    return done

"""Report counters (docs/adr/0022-report-aggregates.md): items per merchant, UTC day
and shard in the ``report_buckets`` table, changed with ``ADD`` in the same
TransactWriteItems as the payment or ledger change it counts, so a report is a query of
a few hundred small items, never a scan, and can never disagree with what committed.

- ``pk``: ``m#<merchant id>`` for a merchant, ``all`` for the whole platform;
- ``sk``: ``<YYYY-MM-DD>#<shard>``; a writer's shard comes from the id it writes
  (payment or journal), which spreads concurrent transactions over several items (a
  transaction touching an item another one is writing is cancelled and retried).
- Once a day is over, :func:`compact_day` folds its shards into one ``<day>#c`` item
  (deleting each shard only if no write reached it meanwhile), so a year reads about
  365 items. A late write to a compacted day makes a new shard item; reads sum them all.

Payment counts and time to paid belong to the day the payment was created (a cohort:
``conversion_rate`` is the share of that day's payments that were paid); money belongs
to the day the ledger moved it. Time to paid is a histogram of :data:`TTP_EDGES`.
"""

from __future__ import annotations

import types
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from shared.dal._base import Binder, connection, reason_codes
from shared.dal.ledger_models import IntegerAttribute
from shared.models.ledger import FEES, HOT, Asset, Kind, Posting, Side

MERCHANT_SHARDS = 8
PLATFORM_SHARDS = 16
COMPACTED = "c"  # the shard name of a day's folded item
PLATFORM = "all"

COUNTS = (
    "payments_created",
    "payments_paid",  # paid or overpaid: paid in full
    "payments_overpaid",
    "payments_underpaid",
    "payments_expired",
    "payments_canceled",
    "payments_held",
)
AMOUNTS = ("gross_received", "late_funds", "fees_earned", "refunded", "paid_out")

# Upper edges (seconds) of the time-to-paid histogram: 5 s steps to a minute, 30 s to
# ten minutes, 5 min to an hour, an hour to a day; one more bucket for a day or more.
TTP_EDGES: tuple[int, ...] = (
    *range(5, 61, 5),
    *range(90, 601, 30),
    *range(900, 3601, 300),
    *range(7200, 86_401, 3600),
)
TTP_BUCKETS = len(TTP_EDGES) + 1
TTP = tuple(f"ttp_{i:02d}" for i in range(TTP_BUCKETS))
# Per merchant and day, the net change of each of its ledger accounts (signed, in the
# account's normal direction): a statement's opening balance is the balance now minus
# the changes since, without reading every entry of the history.
NETS = {"available": "net_available", "pending_payout": "net_pending_payout", "held": "net_held"}
FIELDS = (*COUNTS, *AMOUNTS, *TTP, *NETS.values())
WRITES = "writes"  # every write adds 1: compaction deletes a shard only if it is unchanged

# The payment event that counts a payment in a status (an overpaid payment is also paid).
STATUS_COUNTS: dict[str, tuple[str, ...]] = {
    "payment.paid": ("payments_paid",),
    "payment.overpaid": ("payments_paid", "payments_overpaid"),
    "payment.underpaid": ("payments_underpaid",),
    "payment.expired": ("payments_expired",),
    "payment.canceled": ("payments_canceled",),
    "payment.held": ("payments_held",),
}
PAID_EVENTS = frozenset({"payment.paid", "payment.overpaid"})


def ttp_bucket(seconds: int) -> int:
    """The histogram bucket of a time to paid."""
    for i, edge in enumerate(TTP_EDGES):
        if seconds <= edge:
            return i
    return len(TTP_EDGES)


def ttp_value(bucket: int) -> int:
    """What a bucket reports: its upper edge; the last one (a day or more) reports a day."""
    return TTP_EDGES[min(bucket, len(TTP_EDGES) - 1)]


def day_of(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _shard(key: str, shards: int) -> int:
    return zlib.crc32(key.encode()) % shards


def _namespace(attrs: dict[str, Any]) -> None:
    attrs.update({name: IntegerAttribute(null=True) for name in (*FIELDS, WRITES)})
    attrs["pk"] = UnicodeAttribute(hash_key=True)
    attrs["sk"] = UnicodeAttribute(range_key=True)

    class Meta:
        table_name = "unbound"
        region = "us-east-1"
        logical = "report_buckets"

    attrs["Meta"] = Meta


# Seventy-odd exact integers, one per counter and histogram bucket: built from FIELDS.
ReportBucketModel: Any = types.new_class("ReportBucketModel", (Model,), {}, _namespace)
bind = Binder((ReportBucketModel,))


# ---- writing (inside an audited transaction) ------------------------------------------


def note(tx: TransactWrite, merchant_id: str, at: int, key: str, counts: dict[str, int]) -> None:
    """Count ``counts`` for ``merchant_id`` (and the platform) on the UTC day of ``at``,
    with the transaction ``tx`` (built by ``shared.dal.audit.transact``)."""
    tallies: dict[tuple[str, str], Counter[str]] | None = getattr(tx, "tallies", None)
    if tallies is None:
        finishers = getattr(tx, "finishers", None)
        if finishers is None:
            raise TypeError("report counters must be written through shared.dal.audit.transact")
        tallies = {}
        tx.tallies = tallies  # type: ignore[attr-defined]
        finishers["report_buckets"] = _flush
    day = day_of(at)
    for pk, shards in ((f"m#{merchant_id}", MERCHANT_SHARDS), (PLATFORM, PLATFORM_SHARDS)):
        tallies.setdefault((pk, f"{day}#{_shard(key, shards)}"), Counter()).update(counts)


def note_posting(tx: TransactWrite, posting: Posting) -> None:
    """The money columns a ledger posting moves for its merchant, and the net change of
    each merchant account it touches."""
    at = posting.created_ms // 1000
    if posting.merchant_id is not None:
        counts = money_of(posting)
        if counts:
            note(tx, posting.merchant_id, at, posting.journal_id, counts)
    for merchant_id, nets in nets_of(posting).items():
        note(tx, merchant_id, at, posting.journal_id, nets)


def nets_of(posting: Posting) -> dict[str, dict[str, int]]:
    """{merchant id: {net_<account>: signed change}} for the merchant accounts of a posting."""
    out: dict[str, Counter[str]] = {}
    for leg in posting.legs:
        kind, _, rest = leg.account.name.partition(":")
        merchant_id, _, account = rest.partition(":")
        field = NETS.get(account) if kind == "merchant" else None
        if field is not None:
            out.setdefault(merchant_id, Counter())[field] += leg.account.delta(leg.side, leg.amount)
    return {m: {k: v for k, v in c.items() if v} for m, c in out.items() if any(c.values())}


def money_of(posting: Posting) -> dict[str, int]:
    """gross_received: a final transfer's credit to the merchant; fees_earned: the fee
    revenue of a settled payout or refund; paid_out / refunded: what left the hot wallet
    for the merchant's settlement address / a payer (net of fees)."""
    counts: Counter[str] = Counter()
    for leg in posting.legs:
        if leg.account.asset is not Asset.USDT:
            continue  # reports are in USDT; other tokens' money is not counted (issue 14)
        signed = leg.amount if leg.side == Side.CREDIT else -leg.amount
        if posting.kind == Kind.PAYMENT and leg.account.name.startswith("merchant:"):
            counts["gross_received"] += signed
        elif leg.account == FEES:
            counts["fees_earned"] += signed
        elif leg.account == HOT and leg.side == Side.CREDIT:
            refund = posting.kind == Kind.REFUND or (posting.closes_payout or "").startswith("re_")
            if posting.kind in (Kind.REFUND, Kind.PAYOUT_SETTLED):
                counts["refunded" if refund else "paid_out"] += leg.amount
    return {k: v for k, v in counts.items() if v}


def _flush(tx: TransactWrite) -> None:
    bind()
    tallies: dict[tuple[str, str], Counter[str]] = getattr(tx, "tallies", {})
    for (pk, sk), counts in tallies.items():
        actions = [getattr(ReportBucketModel, f).add(n) for f, n in sorted(counts.items()) if n]
        if actions:
            actions.append(getattr(ReportBucketModel, WRITES).add(1))
            tx.update(ReportBucketModel(pk, sk), actions=actions)


# ---- reading ------------------------------------------------------------------------


@dataclass
class DayTotals:
    day: str  # YYYY-MM-DD
    values: Counter[str]


def days(merchant_id: str | None, first_day: str, last_day: str) -> Iterator[DayTotals]:
    """Each day in [first_day, last_day] that has counters, in order, shards summed.
    Raw items, not models: a year is hundreds of items of ~70 numbers each, and the
    report only adds them up."""
    bind()
    pk = PLATFORM if merchant_id is None else f"m#{merchant_id}"
    table = ReportBucketModel._get_connection()
    condition = ReportBucketModel.sk.between(f"{first_day}#", f"{last_day}#~")
    start_key = None
    current: DayTotals | None = None
    while True:
        page = table.query(pk, range_key_condition=condition, exclusive_start_key=start_key)
        for item in page.get("Items", []):
            day = item["sk"]["S"].partition("#")[0]
            if current is None or current.day != day:
                if current is not None:
                    yield current
                current = DayTotals(day, Counter())
            values = current.values
            for name, value in item.items():
                if "N" in value and name != WRITES:
                    values[name] += int(Decimal(value["N"]))
        start_key = page.get("LastEvaluatedKey")
        if not start_key:
            break
    if current is not None:
        yield current


# ---- compaction ---------------------------------------------------------------------


def compact_day(pk: str, day: str) -> bool | None:
    """Fold the shards of ``pk``'s ``day`` into its ``<day>#c`` item, in one transaction
    that deletes each shard only if its ``writes`` is what was read. True when folded,
    False when there was nothing to fold, None when a write raced it (nothing changed;
    a later run folds it)."""
    bind()
    table = ReportBucketModel._get_connection()
    condition = ReportBucketModel.sk.startswith(f"{day}#")
    items = table.query(pk, range_key_condition=condition, consistent_read=True).get("Items", [])
    shards = [i for i in items if i["sk"]["S"] != f"{day}#{COMPACTED}"]
    if not shards:
        return False
    total: Counter[str] = Counter()
    for item in shards:
        for name, value in item.items():
            if "N" in value and name != WRITES:
                total[name] += int(Decimal(value["N"]))
    writes = getattr(ReportBucketModel, WRITES)

    def write(tx: TransactWrite) -> None:
        actions = [getattr(ReportBucketModel, f).add(n) for f, n in sorted(total.items()) if n]
        actions.append(writes.add(1))
        tx.update(ReportBucketModel(pk, f"{day}#{COMPACTED}"), actions=actions)
        for item in shards:
            seen = int(Decimal(item.get(WRITES, {}).get("N", "0")))
            tx.delete(
                ReportBucketModel(pk, item["sk"]["S"]),
                condition=writes == seen if seen else writes.does_not_exist(),
            )

    try:
        with TransactWrite(connection=connection()) as tx:
            write(tx)
    except TransactWriteError as exc:
        if reason_codes(exc) & {"ConditionalCheckFailed", "TransactionConflict"}:
            return None
        raise
    return True

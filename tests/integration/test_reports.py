"""The summary report (docs/adr/0022): counters kept in the transaction of each change
equal a brute-force recomputation from the raw records, for random histories of
payments, transfers (final, reversed, late), expiries, cancellations, payouts and
refunds spread over several days; and the two report routes answer it."""

from __future__ import annotations

import contextlib
import math
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import shared.ids
import shared.ledger.service
import shared.payments.service
from shared import ledger
from shared.admin import merchants
from shared.dal import aggregates, ledger_repo
from shared.dal import ledger_models as lm
from shared.dal import models as m
from shared.dal import payments as payment_repo
from shared.dal._base import bind, full_items
from shared.errors import BscpayError
from shared.jobs import report_compaction
from shared.local.stack import LocalStack
from shared.models.domain import PaymentStatus, Transfer, TransferStatus
from shared.models.ledger import FEES, Kind, merchant_available
from shared.payments import service as payments
from shared.reports.period import Period
from shared.reports.summary import summary
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import USDT, admin_call, as_admin, create_payment, merchant_call

DAY = 86_400
EPOCH = int(datetime(2026, 3, 2, 9, tzinfo=UTC).timestamp())  # a Monday
STATUS_COUNTS = {
    "paid": ("payments_paid",),
    "overpaid": ("payments_paid", "payments_overpaid"),
    "underpaid": ("payments_underpaid",),
    "expired": ("payments_expired",),
    "canceled": ("payments_canceled",),
}


class Clock:
    """The wall clock bscpay's writers read (ids, created_at, postings), moved by the
    test; it stands in for the ``time`` module of those modules alone (moto runs in
    this process and keeps the real one)."""

    sleep = staticmethod(time.sleep)
    monotonic = staticmethod(time.monotonic)

    def __init__(self, start: int) -> None:
        self.now = float(start)

    def time(self) -> float:
        return self.now


# ---- histories ------------------------------------------------------------------------

amounts = st.integers(min_value=1, max_value=40).map(lambda n: n * USDT // 4)
steps = st.one_of(
    st.tuples(st.just("create"), amounts),
    st.tuples(st.just("wait"), st.integers(min_value=1, max_value=2 * DAY)),
    st.tuples(st.just("pay"), st.integers(0, 7), st.sampled_from(["exact", "short", "over"])),
    st.tuples(st.just("reorg"), st.integers(0, 7)),
    st.tuples(st.just("expire"), st.integers(0, 7)),
    st.tuples(st.just("cancel"), st.integers(0, 7)),
    st.tuples(st.just("payout"), amounts, st.integers(0, 3)),
    st.tuples(st.just("refund"), amounts, st.integers(0, 3)),
)


# Every kind of change at least once, over two days, before the random part.
PRELUDE: list[tuple[Any, ...]] = [
    ("create", 10 * USDT),
    ("create", 4 * USDT),
    ("create", 6 * USDT),
    ("create", 2 * USDT),
    ("create", 3 * USDT),
    ("pay", 0, "exact"),
    ("pay", 1, "over"),
    ("wait", 3_000),
    ("pay", 2, "short"),
    ("expire", 2),
    ("reorg", 3),
    ("expire", 3),
    ("cancel", 4),
    ("pay", 0, "exact"),  # late funds
    ("wait", DAY),
    ("payout", 3 * USDT, 1),
    ("refund", USDT, 1),
    ("payout", USDT, 0),
]


class History:
    def __init__(self, merchant_id: str, clock: Clock) -> None:
        self.merchant_id = merchant_id
        self.clock = clock
        self.payment_ids: list[str] = []
        self.book = ledger.default()

    def run(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        if kind == "create":
            self._create(step[1])
        elif kind == "wait":
            self.clock.now += step[1]
        elif kind in ("pay", "reorg", "expire", "cancel") and self.payment_ids:
            payment_id = self.payment_ids[step[1] % len(self.payment_ids)]
            getattr(self, f"_{kind}")(payment_id, *step[2:])
        elif kind in ("payout", "refund"):
            self._disburse(kind, step[1], step[2])

    def _create(self, amount: int) -> None:
        payment = payments.create(self.merchant_id, payments.NewPayment(amount=amount))
        self.payment_ids.append(payment.payment_id)

    def _transfer(self, payment_id: str, amount: int) -> Transfer:
        p = payments.get(self.merchant_id, payment_id)
        transfer = Transfer(
            transfer_id=f"{p.chain_id}:0x{secrets.token_hex(32)}:0",
            chain_id=p.chain_id,
            tx_hash="0x" + secrets.token_hex(32),
            log_index=0,
            block_number=1,
            block_hash="0x" + secrets.token_hex(32),
            from_address="0x" + secrets.token_hex(20),
            to_address=p.address,
            amount=amount,
            payment_id=payment_id,
            merchant_id=self.merchant_id,
            status=TransferStatus.PENDING,
            seen_at=int(self.clock.now),
        )
        assert payments.record_transfer(transfer)
        return transfer

    def _pay(self, payment_id: str, how: str) -> None:
        p = payments.get(self.merchant_id, payment_id)
        share = {"exact": p.amount, "short": p.amount // 2, "over": p.amount + USDT}[how]
        transfer = self._transfer(payment_id, max(share - p.amount_received, 1))
        self.clock.now += 7  # a few blocks to finality
        payments.finalize_transfer(transfer, canonical=True)

    def _reorg(self, payment_id: str) -> None:
        transfer = self._transfer(payment_id, USDT)
        payments.finalize_transfer(transfer, canonical=False)

    def _expire(self, payment_id: str) -> None:
        p = payments.get(self.merchant_id, payment_id)
        self.clock.now = max(self.clock.now, p.expires_at + 1)
        payments.expire_if_due(payment_id, int(self.clock.now))

    def _cancel(self, payment_id: str) -> None:
        with contextlib.suppress(BscpayError):  # not cancelable: nothing changes
            payments.cancel(self.merchant_id, payment_id)

    def _disburse(self, kind: str, gross: int, outcome: int) -> None:
        journal = f"{'po' if kind == 'payout' else 're'}_{secrets.token_hex(12)}"
        fee = gross // 100
        if gross > self.book.balance(merchant_available(self.merchant_id)):
            return  # the API would refuse it: insufficient funds
        kind_ = Kind.REFUND if kind == "refund" else Kind.PAYOUT
        posting = self.book.reservation_posting(self.merchant_id, gross, fee, 0, journal, kind_)
        ledger_repo.DynamoLedgerRepository().post(posting)
        self.clock.now += 60
        # What the payer paid in reaches the hot wallet first (no merchant: not counted).
        self.book.sweep(gross, 0, f"sw_{secrets.token_hex(12)}")
        if outcome == 0:
            self.book.cancel_payout(journal)
        else:
            self.book.settle_payout(journal)


# ---- brute force ----------------------------------------------------------------------


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def brute_force(merchant_id: str) -> dict[str, Counter[str]]:
    """Each day's counters recomputed from payments, transfers and ledger records."""
    bind()
    lm.bind()
    days: dict[str, Counter[str]] = defaultdict(Counter)
    for item in m.PaymentModel.by_merchant.query(merchant_id):
        p = payment_repo.get_payment(item.payment_id)
        assert p is not None
        cohort = days[_day(p.created_at)]
        cohort["payments_created"] += 1
        for name in STATUS_COUNTS.get(p.status.value, ()):
            cohort[name] += 1
        if p.status in (PaymentStatus.PAID, PaymentStatus.OVERPAID):
            assert p.paid_at is not None
            cohort[aggregates.TTP[aggregates.ttp_bucket(p.paid_at - p.created_at)]] += 1
        late = {t.transfer_id for t in p.transactions if t.late}
        for t in p.transactions:
            if t.status != TransferStatus.FINAL:
                continue
            credit = ledger.default().journal(t.transfer_id)
            assert credit is not None
            days[_day(credit.created_ms / 1000)]["gross_received"] += t.amount
            if t.transfer_id in late:
                days[_day(credit.created_ms / 1000)]["late_funds"] += t.amount
    # Each merchant account's entries: the day's net change of its balance.
    for account, field in aggregates.NETS.items():
        key = f"USDT:merchant:{merchant_id}:{account}"
        for entry in lm.LedgerEntryModel.query(key):
            days[_day(int(entry.created_ms) / 1000)][field] += int(entry.delta)
    # Settled reservations: their terms say what left and what was earned.
    for item in lm.LedgerJournalModel.scan(lm.LedgerJournalModel.merchant_id == merchant_id):
        if item.closes_payout is None or not item.journal_id.endswith("/settled"):
            continue
        terms = ledger.default().journal(item.closes_payout)
        assert terms is not None and terms.payout is not None
        day = days[_day(int(item.created_ms) / 1000)]
        net = terms.payout.gross - terms.payout.fee - terms.payout.network_fee
        day["refunded" if item.closes_payout.startswith("re_") else "paid_out"] += net
        day["fees_earned"] += terms.payout.fee
    return days


def exact_percentile(values: list[int], fraction: float) -> int | None:
    if not values:
        return None
    ranked = sorted(aggregates.ttp_value(aggregates.ttp_bucket(v)) for v in values)
    return ranked[max(1, math.ceil(fraction * len(ranked))) - 1]


# ---- the property ---------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock(EPOCH)
    for module in (shared.ids, shared.ledger.service, shared.payments.service):
        monkeypatch.setattr(module, "time", fake)
    yield fake


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate),  # a failure is reported as found: no shrinking
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=st.lists(steps, min_size=4, max_size=22))
def test_the_summary_equals_a_recomputation_from_the_raw_records(
    stack: LocalStack, clock: Clock, history: list[tuple[Any, ...]]
) -> None:
    clock.now = EPOCH
    merchant, _, _ = merchants.create_merchant("Report Shop")
    run = History(merchant.merchant_id, clock)
    for step in [*PRELUDE, *history]:
        run.run(step)

    span = Period(EPOCH - DAY, int(clock.now) + DAY)
    report = summary(merchant.merchant_id, span, "day")
    expected = brute_force(merchant.merchant_id)
    ttp_by_day = _times_to_paid(merchant.merchant_id)
    for bucket in report["data"]:
        day = _day(bucket["start"])
        want = expected.get(day, Counter())
        for name in aggregates.COUNTS:
            assert bucket[name] == want[name], (day, name)
        for name in aggregates.AMOUNTS:
            assert bucket[name] == _decimal(want[name]), (day, name)
        assert bucket["time_to_paid_p50_s"] == exact_percentile(ttp_by_day[day], 0.5), day
        assert bucket["time_to_paid_p95_s"] == exact_percentile(ttp_by_day[day], 0.95), day
    # The balance nets per day (what a statement's opening balance is built from).
    first, last = _day(span.start), _day(span.end - 1)
    for counted in aggregates.days(merchant.merchant_id, first, last):
        want = expected.get(counted.day, Counter())
        for field in aggregates.NETS.values():
            assert counted.values[field] == want[field], (counted.day, field)
    # Totals are the sum of the days; weeks and months regroup the same days.
    all_days = sum(expected.values(), Counter())
    for name in aggregates.COUNTS:
        assert report["totals"][name] == all_days[name], name
    for interval in ("week", "month"):
        regrouped = summary(merchant.merchant_id, span, interval)
        assert regrouped["totals"] == report["totals"]
        assert sum(b["payments_created"] for b in regrouped["data"]) == all_days["payments_created"]
    # The merchant's balance and the report agree on what came in and went out.
    available = ledger.default().balance(merchant_available(merchant.merchant_id))
    assert available <= all_days["gross_received"]
    assert ledger.default().balance(FEES) >= all_days["fees_earned"]


def _times_to_paid(merchant_id: str) -> dict[str, list[int]]:
    bind()
    out: dict[str, list[int]] = defaultdict(list)
    entries = m.PaymentModel.by_merchant.query(merchant_id)  # keys and status only
    for item in full_items(m.PaymentModel, entries):
        if item.paid_at is not None and item.status in ("paid", "overpaid"):
            out[_day(int(item.created_at))].append(int(item.paid_at) - int(item.created_at))
    return out


def _decimal(units: int) -> str:
    from shared.models.amounts import format_amount

    return format_amount(units, 18)


# ---- the routes -----------------------------------------------------------------------


def test_the_report_routes_answer_the_merchant_its_own_and_operators_any(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    created = create_payment(merchant, "3.50")
    payments.cancel(merchant.merchant_id, created["id"])
    today = _day(time.time())

    mine = merchant_call(merchant, "GET", f"/v1/reports/summary?from={today}&interval=week")
    assert mine.status == 200, mine.body
    assert mine.body["object"] == "report.summary" and mine.body["merchant_id"] is not None
    assert mine.body["totals"]["payments_created"] == 1
    assert mine.body["totals"]["payments_canceled"] == 1
    assert mine.body["totals"]["conversion_rate"] == "0.0000"

    viewer = as_admin("report-viewer", ("viewer",))
    path = f"/admin/reports/summary?from={today}&merchant_id={merchant.merchant_id}"
    theirs = admin_call("GET", path, authorizer=viewer)
    assert theirs.status == 200, theirs.body
    assert theirs.body["totals"] == mine.body["totals"]
    platform = admin_call("GET", f"/admin/reports/summary?from={today}", authorizer=viewer)
    assert platform.status == 200
    assert platform.body["totals"]["payments_created"] >= 1


@pytest.mark.parametrize(
    "query",
    [
        "interval=hour",
        "from=2026-13-01",
        "from=yesterday",
        "from=2026-12-05&to=2026-12-01",
        "from=2020-01-01&to=2026-01-01",
        "from=9999-12-01&to=9999-12-31&interval=month",
        "from=9999-12-20&to=9999-12-31&interval=week",
    ],
)
def test_a_bad_report_query_is_a_422_naming_the_parameter(
    stack: LocalStack, merchant: MerchantCreds, query: str
) -> None:
    reply = merchant_call(merchant, "GET", f"/v1/reports/summary?{query}")
    assert reply.status == 422, reply.body
    assert reply.error["param"] in ("from", "to", "interval")


def test_an_unknown_merchant_has_no_report(stack: LocalStack) -> None:
    reply = admin_call(
        "GET", "/admin/reports/summary?merchant_id=mer_00000000000000000000000000000000"
    )
    assert reply.status == 404, reply.body


def test_compaction_folds_finished_days_and_a_later_write_still_counts(
    stack: LocalStack, clock: Clock
) -> None:
    clock.now = EPOCH
    merchant, _, _ = merchants.create_merchant("Folded Shop")
    run = History(merchant.merchant_id, clock)
    for step in [*PRELUDE, ("create", 5 * USDT), ("wait", 2 * DAY)]:
        run.run(step)
    span = Period(EPOCH - DAY, int(clock.now) + DAY)
    before = summary(merchant.merchant_id, span, "day")

    today = datetime.fromtimestamp(clock.now, UTC).date()
    report_compaction.run(today)

    assert summary(merchant.merchant_id, span, "day") == before
    pk = f"m#{merchant.merchant_id}"
    days = Counter(
        str(item.sk).partition("#")[0] for item in aggregates.ReportBucketModel.query(pk)
    )
    assert days and all(n == 1 for n in days.values()), days  # one folded item per day

    # A payment created on a folded day is paid now: its cohort day counts it again.
    run.run(("pay", len(run.payment_ids) - 1, "exact"))
    after = summary(merchant.merchant_id, span, "day")
    assert after["totals"]["payments_paid"] == before["totals"]["payments_paid"] + 1
    expected = brute_force(merchant.merchant_id)
    for bucket in after["data"]:
        want = expected.get(_day(bucket["start"]), Counter())
        assert [bucket[n] for n in aggregates.COUNTS] == [want[n] for n in aggregates.COUNTS]

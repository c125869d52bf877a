"""Fiat price -> token amount (docs/adr/0027).

A quote reads two feeds on the chain (the fiat currency's and the token's, both in USD;
USD itself needs none), refuses a stale or implausible round, checks each against the
second source, and only then computes ``rate = fiat_usd / token_usd * (1 + spread)``.
Both the rate (10 decimals) and the amount (the token's base unit) are rounded up: the
merchant never receives less than the price, the payer pays at most one base unit more.
Any doubt is a 503 ``price_unavailable``; a wrong quote is never made.
"""

from __future__ import annotations

import re
import time
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction

from shared import config
from shared.errors import PriceUnavailable, ValidationFailed
from shared.models.domain import Quote, QuoteSource
from shared.pricing import feeds, rates

RATE_PLACES = Decimal("1e-10")
MAX_PRICE_PLACES = 8  # "19.99", "0.00000001"; fiat prices need no more
STALE_RETRY_S = 60
SOURCE_RETRY_S = 30


def currencies(token_symbols: set[str]) -> list[str]:
    """The fiat currencies a payment may be priced in: USD and every configured
    ``<X>/USD`` feed that is not a token's."""
    pairs = config.pricing().feed_map()
    if not pairs:
        return []
    fiat = {pair.split("/")[0] for pair in pairs} - token_symbols
    return sorted(fiat | {"USD"})


_PRICE_RE = re.compile(r"[0-9]{1,15}(\.[0-9]{1,8})?")  # MAX_PRICE_PLACES decimals


def parse_price(amount: str) -> Decimal:
    """A plain decimal string ("19.99"): at most 15 integer digits and 8 decimals."""
    if not _PRICE_RE.fullmatch(amount):
        raise ValidationFailed(
            f'price.amount {amount[:40]!r} is not a decimal number like "19.99" '
            f"(at most {MAX_PRICE_PLACES} decimal places)",
            "price",
        )
    value = Decimal(amount)
    if value <= 0:
        raise ValidationFailed("price.amount must be greater than zero", "price")
    return value


def _rpc() -> feeds.Caller:
    from shared.chain import rpc  # only quoting needs the chain client

    return rpc.JsonRpc(rpc.endpoints(), timeout_s=3.0, connect_timeout_s=2.0)


def quote(
    amount: str,
    currency: str,
    token: str,
    token_decimals: int,
    spread_bps: int,
    expires_at: int,
    *,
    rpc: feeds.Caller | None = None,
) -> tuple[int, Quote]:
    """``(amount in token base units, the quote)`` for a price of ``amount`` ``currency``
    paid in ``token``; PriceUnavailable when no trustworthy price exists now."""
    settings = config.pricing()
    price = parse_price(amount)
    known = currencies({token})
    if not known:
        raise ValidationFailed("fiat pricing is not enabled on this deployment", "price")
    if currency not in known:
        raise ValidationFailed(
            f"price.currency {currency!r} is not offered; use one of {', '.join(known)}", "price"
        )
    feed_map = settings.feed_map()
    token_pair = f"{token}/USD"
    if token_pair not in feed_map:
        raise ValidationFailed(f"no {token_pair} price feed is configured", "price")
    pairs = [token_pair] if currency == "USD" else [f"{currency}/USD", token_pair]
    now = int(time.time())
    client = rpc or _rpc()
    rounds: dict[str, feeds.Round] = {}
    for pair in pairs:
        try:
            rounds[pair] = feeds.latest(client, pair, feed_map[pair])
        except feeds.FeedUnreadable as exc:
            raise PriceUnavailable(f"the {pair} feed cannot be read ({exc})") from None
        _check_round(rounds[pair], now, settings.max_age_s)
    try:
        second = rates.fetch()
    except rates.RatesUnavailable as exc:
        raise PriceUnavailable(f"prices cannot be confirmed: {exc}", SOURCE_RETRY_S) from None
    values = {pair: Fraction(r.answer, 10**r.decimals) for pair, r in rounds.items()}
    for pair, value in values.items():
        other = second.get(pair)
        if other is None:
            raise PriceUnavailable(f"the second price source has no {pair} rate", SOURCE_RETRY_S)
        deviation = abs(value - Fraction(other)) / Fraction(other) * 10_000
        if deviation > settings.max_deviation_bps:
            raise PriceUnavailable(
                f"{pair}: the feed ({_decimal(value)}) and the second source ({other}) differ "
                f"by more than {settings.max_deviation_bps} bps",
                SOURCE_RETRY_S,
            )
    fiat_usd = values.get(f"{currency}/USD", Fraction(1))
    exact = fiat_usd / values[token_pair] * Fraction(10_000 + spread_bps, 10_000)
    rate = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
        RATE_PLACES, rounding=ROUND_CEILING
    )
    units = -(-Fraction(price) * Fraction(rate) * 10**token_decimals // 1)
    sources = [
        QuoteSource(
            type="chainlink",
            pair=r.pair,
            value=_decimal(values[r.pair]),
            feed=r.feed,
            round_id=r.round_id,
            updated_at=r.updated_at,
        )
        for r in rounds.values()
    ] + [QuoteSource(type="http", pair=pair, value=str(second[pair])) for pair in rounds]
    return int(units), Quote(
        price_amount=str(price),
        price_currency=currency,
        rate=format(rate.normalize(), "f"),
        spread_bps=spread_bps,
        sources=sources,
        at=now,
        expires_at=expires_at,
    )


def _check_round(r: feeds.Round, now: int, max_age_s: int) -> None:
    if r.answer <= 0:
        raise PriceUnavailable(f"the {r.pair} feed answers {r.answer}, not a price")
    if r.answered_in_round < r.round_id:
        raise PriceUnavailable(f"the {r.pair} feed's latest round is incomplete")
    age = now - r.updated_at
    if age > max_age_s:
        raise PriceUnavailable(
            f"the {r.pair} feed is stale: last updated {age} s ago (limit {max_age_s} s)",
            STALE_RETRY_S,
        )


def _decimal(value: Fraction) -> str:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return format(exact.quantize(RATE_PLACES).normalize(), "f")

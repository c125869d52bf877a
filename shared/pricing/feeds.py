"""Chainlink AggregatorV3Interface reads over raw JSON-RPC (no web3: the merchant API
quotes prices and must start fast)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

DECIMALS = "0x313ce567"  # decimals()
LATEST_ROUND_DATA = "0xfeaf968c"  # latestRoundData()


class Caller(Protocol):
    def call(self, method: str, params: list[Any]) -> Any: ...


class FeedUnreadable(Exception):
    """The feed did not answer as an aggregator does (no contract, a revert, bad data)."""


@dataclass(frozen=True)
class Round:
    """One feed answer: ``answer / 10**decimals`` USD, last updated at ``updated_at``."""

    pair: str
    feed: str
    round_id: int
    answer: int
    decimals: int
    updated_at: int
    answered_in_round: int


def _words(result: Any, count: int, what: str) -> list[int]:
    if not isinstance(result, str) or not result.startswith("0x"):
        raise FeedUnreadable(f"{what}: no answer")
    body = result[2:]
    if len(body) < 64 * count:
        raise FeedUnreadable(f"{what}: short answer ({len(body) // 2} bytes)")
    try:
        return [int(body[i * 64 : (i + 1) * 64], 16) for i in range(count)]
    except ValueError:
        raise FeedUnreadable(f"{what}: not hex") from None


def _signed(word: int) -> int:
    return word - (1 << 256) if word >> 255 else word


def latest(rpc: Caller, pair: str, feed: str) -> Round:
    """The feed's latest round, read at the chain's latest block."""
    try:
        (decimals,) = _words(
            rpc.call("eth_call", [{"to": feed, "data": DECIMALS}, "latest"]), 1, pair
        )
        words = _words(
            rpc.call("eth_call", [{"to": feed, "data": LATEST_ROUND_DATA}, "latest"]), 5, pair
        )
    except FeedUnreadable:
        raise
    except Exception as exc:  # RPC errors, reverts, transport: the feed cannot be read
        raise FeedUnreadable(f"{pair}: {type(exc).__name__}") from None
    if decimals > 36:
        raise FeedUnreadable(f"{pair}: implausible decimals {decimals}")
    round_id, answer, _started, updated_at, answered_in = words
    return Round(
        pair=pair,
        feed=feed,
        round_id=round_id,
        answer=_signed(answer),
        decimals=decimals,
        updated_at=updated_at,
        answered_in_round=answered_in,
    )

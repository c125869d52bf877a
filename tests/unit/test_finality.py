"""Finality rules of the scanner: the `finalized` tag, the depth fallback when it
stalls, and extra depth for large amounts (risk tiers)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared.config import ChainSettings
from shared.jobs.scanner import Scanner


class FakeRpc:
    """Only what `finalized_block` asks: the node's `finalized` block."""

    def __init__(self, finalized: int | None) -> None:
        self.finalized = finalized

    def block(self, tag: str | int) -> dict[str, Any] | None:
        assert tag == "finalized"
        return None if self.finalized is None else {"number": hex(self.finalized)}


def _scanner(rpc: FakeRpc, **chain: Any) -> Scanner:
    scanner = Scanner(rpc=rpc)  # type: ignore[arg-type]
    scanner.chain = ChainSettings(**chain)
    return scanner


def test_finalized_tag_is_used_while_it_advances() -> None:
    rpc = FakeRpc(finalized=100)
    scanner = _scanner(rpc, finality_stall_s=60, finality_fallback_depth=15)
    assert scanner.finalized_block(head=102) == 100
    rpc.finalized = 101
    assert scanner.finalized_block(head=103) == 101


def test_stalled_finality_falls_back_to_depth() -> None:
    # Given a `finalized` tag stuck at 100 while the head moves on
    rpc = FakeRpc(finalized=100)
    scanner = _scanner(rpc, finality_stall_s=0.05, finality_fallback_depth=15)
    assert scanner.finalized_block(head=110) == 100

    # When it has not advanced for longer than the stall window
    time.sleep(0.1)

    # Then blocks deeper than the fallback depth count as final
    assert scanner.finalized_block(head=200) == 185
    # but never less than what the node itself calls final
    assert scanner.finalized_block(head=110) == 100


def test_a_node_without_finalized_tag_uses_the_depth() -> None:
    scanner = _scanner(FakeRpc(finalized=None), finality_fallback_depth=15)
    assert scanner.finalized_block(head=1000) == 985


@pytest.mark.parametrize(
    ("amount_usdt", "extra"),
    [(1, 0), (9_999, 0), (10_000, 5), (250_000, 20)],
)
def test_large_amounts_wait_for_extra_depth(amount_usdt: int, extra: int) -> None:
    settings = ChainSettings(
        risk_tiers='[{"min_amount": "10000", "extra_depth": 5},'
        ' {"min_amount": "100000", "extra_depth": 20}]'
    )
    assert settings.extra_depth_for(amount_usdt * 10**18) == extra


def test_malformed_risk_tiers_fail_at_start() -> None:
    with pytest.raises(ValueError, match="RISK_TIERS"):
        ChainSettings(risk_tiers='{"min_amount": 1}')

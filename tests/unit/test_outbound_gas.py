"""The pure parts of outgoing transfers: the replacement gas price, reading what a
receipt moved, and the BSCPAY_OUTBOUND_* settings."""

from __future__ import annotations

from typing import Any

import pytest
from hexbytes import HexBytes
from pydantic import ValidationError

from shared.chain.logs import TRANSFER_TOPIC
from shared.settlement.outbound import MIN_BUMP_BPS, OutboundSettings, bumped_gas_price, moved_to
from shared.settlement.sweeps import GWEI, GasPolicy

TOKEN = "0x55d398326f99059fF775485246999027B3197955"
HOT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TO = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
WIDE = GasPolicy(floor_wei=0, ceiling_wei=100 * GWEI)


def test_a_replacement_pays_at_least_an_eighth_more_rounded_up() -> None:
    # Given a stuck transaction at 1 gwei and a node asking less
    # Then the replacement pays exactly 1.125 gwei
    assert bumped_gas_price(GWEI, GWEI // 2, WIDE) == GWEI * 9 // 8
    # And an odd price is rounded up, never down under the 12.5 % the pool demands
    assert bumped_gas_price(7, 0, WIDE) == 8  # 7 x 1.125 = 7.875
    assert bumped_gas_price(8, 0, WIDE) == 9
    for previous in (1, 3, 999, 10**9 + 7, 5 * 10**9 - 1):
        price = bumped_gas_price(previous, 0, WIDE)
        assert price is not None and price * 8 >= previous * 9


def test_a_replacement_follows_the_node_when_it_asks_more() -> None:
    assert bumped_gas_price(GWEI, 3 * GWEI, WIDE) == 3 * GWEI
    # the node's price is clamped to the ceiling first
    assert bumped_gas_price(GWEI, 500 * GWEI, WIDE) == 100 * GWEI


def test_a_larger_configured_bump_is_used() -> None:
    assert bumped_gas_price(GWEI, 0, WIDE, bump_bps=5000) == GWEI * 3 // 2


def test_the_ceiling_caps_a_replacement_and_refuses_one_that_cannot_bump_enough() -> None:
    policy = GasPolicy(floor_wei=0, ceiling_wei=2 * GWEI)
    # Room for the full bump: capped at the ceiling
    assert bumped_gas_price(GWEI, 10 * GWEI, policy) == 2 * GWEI
    # Not enough room (1.9 x 1.125 > 2): no replacement
    assert bumped_gas_price(19 * GWEI // 10, 0, policy) is None
    # Already at the ceiling: no replacement
    assert bumped_gas_price(2 * GWEI, 10 * GWEI, policy) is None


def test_a_bump_under_the_replacement_rule_is_refused() -> None:
    with pytest.raises(ValueError):
        bumped_gas_price(GWEI, 0, WIDE, bump_bps=MIN_BUMP_BPS - 1)


def _log(token: str, source: str, target: str, value: int) -> dict[str, Any]:
    return {
        "address": token,
        "topics": [
            HexBytes(TRANSFER_TOPIC),
            HexBytes(b"\0" * 12 + HexBytes(source)),
            HexBytes(b"\0" * 12 + HexBytes(target)),
        ],
        "data": HexBytes(value.to_bytes(32, "big")),
    }


def test_only_transfer_logs_of_the_token_from_the_sender_to_the_recipient_count() -> None:
    other_token = "0x" + "11" * 20
    receipt: Any = {
        "logs": [
            _log(TOKEN, HOT, TO, 5),
            _log(TOKEN, HOT, TO, 7),
            _log(other_token, HOT, TO, 100),  # another token
            _log(TOKEN, TO, HOT, 1000),  # the other way
            _log(TOKEN, HOT, HOT, 1000),  # elsewhere
            {**_log(TOKEN, HOT, TO, 50), "topics": [HexBytes(b"\1" * 32)]},  # not a Transfer
        ]
    }
    assert moved_to(receipt, TOKEN, HOT, TO) == 12
    assert moved_to({"logs": []}, TOKEN, HOT, TO) == 0  # type: ignore[typeddict-item]


def test_settings_come_from_the_outbound_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OutboundSettings().stuck_after_s == 60
    assert OutboundSettings().gas_bump_bps == MIN_BUMP_BPS
    monkeypatch.setenv("BSCPAY_OUTBOUND_STUCK_AFTER_S", "120")
    monkeypatch.setenv("BSCPAY_OUTBOUND_WAIT_S", "20")
    settings = OutboundSettings()
    assert (settings.stuck_after_s, settings.wait_s) == (120, 20)
    monkeypatch.setenv("BSCPAY_OUTBOUND_GAS_BUMP_BPS", "1000")  # under geth's 10 % rule
    with pytest.raises(ValidationError):
        OutboundSettings()


def test_the_nonce_item_is_the_one_settlement_is_granted() -> None:
    # IAM pins settlement's system-table access to named items (dynamodb:LeadingKeys)
    from infra.cdk.constants import HOT_WALLET_NONCE, SYSTEM_ACCESS
    from shared.dal import outgoing

    assert outgoing.HOT_WALLET_NONCE == HOT_WALLET_NONCE
    assert HOT_WALLET_NONCE in SYSTEM_ACCESS["settlement"].update
    assert HOT_WALLET_NONCE in SYSTEM_ACCESS["settlement"].read

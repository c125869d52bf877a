"""Decoding raw ``eth_getLogs`` answers into Transfer logs by hand (the scanner's hot path)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak

from shared.chain.logs import TRANSFER_TOPIC, TransferLog, decode

TOKEN = "0x55d398326f99059fF775485246999027B3197955"
SENDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
DEPOSIT = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
TX = "0x" + "AB" * 32
BLOCK_HASH = "0x" + "Cd" * 32
APPROVAL_TOPIC = "0x" + keccak(text="Approval(address,address,uint256)").hex()


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def raw_log(**overrides: Any) -> dict[str, Any]:
    log: dict[str, Any] = {
        "address": TOKEN,
        "topics": [TRANSFER_TOPIC, _topic(SENDER), _topic(DEPOSIT)],
        "data": "0x" + f"{12_500_000_000_000_000_000:064x}",
        "blockNumber": "0x1b4",
        "transactionHash": TX,
        "transactionIndex": "0x0",
        "blockHash": BLOCK_HASH,
        "logIndex": "0x2",
        "removed": False,
    }
    log.update(overrides)
    return log


def test_transfer_topic_is_the_keccak_of_the_erc20_event_signature() -> None:
    assert "0x" + keccak(text="Transfer(address,address,uint256)").hex() == TRANSFER_TOPIC


def test_transfer_log_is_decoded_with_lower_case_addresses_and_hashes() -> None:
    # Given a Transfer log as a BSC node answers it (mixed-case hex)
    # When decoded
    decoded = decode(raw_log())

    # Then every field is typed and normalised for matching against our addresses
    assert decoded == TransferLog(
        token=TOKEN.lower(),
        tx_hash=TX.lower(),
        log_index=2,
        block_number=0x1B4,
        block_hash=BLOCK_HASH.lower(),
        from_address=SENDER.lower(),
        to_address=DEPOSIT.lower(),
        value=12_500_000_000_000_000_000,
        removed=False,
    )


def test_upper_case_topic_is_still_a_transfer() -> None:
    decoded = decode(
        raw_log(
            topics=[TRANSFER_TOPIC.upper().replace("0X", "0x"), _topic(SENDER), _topic(DEPOSIT)]
        )
    )
    assert decoded is not None and decoded.to_address == DEPOSIT.lower()


def test_removed_log_is_flagged_so_the_scanner_can_reverse_it() -> None:
    decoded = decode(raw_log(removed=True))
    assert decoded is not None and decoded.removed


def test_a_log_without_removed_field_is_not_removed() -> None:
    log = raw_log()
    del log["removed"]
    decoded = decode(log)
    assert decoded is not None and not decoded.removed


@pytest.mark.parametrize("value", [0, 1, 2**256 - 1])
def test_value_is_the_full_uint256(value: int) -> None:
    decoded = decode(raw_log(data="0x" + f"{value:064x}"))
    assert decoded is not None and decoded.value == value


@pytest.mark.parametrize(
    "overrides",
    [
        {"topics": [APPROVAL_TOPIC, _topic(SENDER), _topic(DEPOSIT)]},  # Approval, same shape
        # ERC-721 Transfer: tokenId indexed as a 4th topic, no data
        {
            "topics": [TRANSFER_TOPIC, _topic(SENDER), _topic(DEPOSIT), "0x" + "0" * 63 + "7"],
            "data": "0x",
        },
        {"topics": [TRANSFER_TOPIC, _topic(SENDER)]},  # non-indexed "to"
        {"topics": []},  # anonymous event
        {"topics": None},
        {"data": "0x"},  # no value
        {"data": None},
        {"data": "0x" + "00" * 64},  # two words: not ERC-20's single uint256
        {"data": "0x" + "0" * 63},  # truncated
    ],
)
def test_anything_that_is_not_an_erc20_transfer_is_ignored(overrides: dict[str, Any]) -> None:
    assert decode(raw_log(**overrides)) is None

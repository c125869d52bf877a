"""Decoding ERC-20/BEP-20 Transfer logs from raw JSON-RPC answers, by hand.

keccak("Transfer(address,address,uint256)"); topics[1]/[2] are the 32-byte
padded from/to addresses and ``data`` is the uint256 value.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


@dataclass(frozen=True)
class TransferLog:
    token: str
    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    from_address: str
    to_address: str
    value: int
    removed: bool
    block_timestamp: int | None = None  # newer nodes add `blockTimestamp` to logs


def decode(log: Mapping[str, Any]) -> TransferLog | None:
    """None for anything that is not a well-formed Transfer log."""
    topics = log.get("topics") or []
    if len(topics) != 3 or topics[0].lower() != TRANSFER_TOPIC:
        return None
    data = log.get("data") or "0x"
    if len(data) != 66:
        return None
    return TransferLog(
        token=log["address"].lower(),
        tx_hash=log["transactionHash"].lower(),
        log_index=int(log["logIndex"], 16),
        block_number=int(log["blockNumber"], 16),
        block_hash=log["blockHash"].lower(),
        from_address="0x" + topics[1][-40:].lower(),
        to_address="0x" + topics[2][-40:].lower(),
        value=int(data, 16),
        removed=bool(log.get("removed", False)),
        block_timestamp=int(log["blockTimestamp"], 16) if log.get("blockTimestamp") else None,
    )


def match_transfers(
    raw_logs: Iterable[Mapping[str, Any]],
    token: str | Container[str],
    active: Container[str] | None = None,
) -> list[TransferLog]:
    """The scanner's matching step: well-formed Transfer logs of ``token`` (one address,
    or a set of lower-case addresses: every configured token) that move a non-zero
    amount and were not removed, in order. With ``active`` (lower-case 0x addresses),
    only those whose recipient is in it. A look-alike token (another address with the
    same name or symbol) is never matched: only the addresses count."""
    tokens: Container[str] = {token.lower()} if isinstance(token, str) else token
    matched: list[TransferLog] = []
    for raw in raw_logs:
        log = decode(raw)
        if (
            log is not None
            and log.token in tokens
            and log.value > 0
            and not log.removed
            and (active is None or log.to_address in active)
        ):
            matched.append(log)
    return matched

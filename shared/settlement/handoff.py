"""Hot-wallet sends that never wait for their receipts in the wallet's message group
(issue 16 §2, docs/adr/0040).

Every sweep, payout, refund and cold move goes through one FIFO message group, the hot
wallet's: one writer takes its nonces, in order. Waiting there for each receipt held
the whole wallet to one transaction per receipt (20 to 60 a minute). So in that group a
message only signs and broadcasts (nonce taken in DynamoDB, attempt recorded before it
is sent, ADR 0012) and checks once for a receipt; a transaction not mined yet is handed
to a message group of its own (``confirm:<id>``), where it is awaited, replaced when
stuck, cancelled when refused, and booked. The wallet's next message goes at once, so
several transactions of the wallet are in flight with consecutive nonces.

A confirmation resumes the very record the wallet pass wrote: the same outbound state
machine, idempotent by its id, so a duplicate hand-off (a redelivered wallet message,
a re-queued sweep) lands in the same group and is handled after the first, never beside
it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aws_lambda_powertools import Logger

from shared import aws, config
from shared.config import OutboundSettings
from shared.settlement.outbound import TransferStillPending

logger = Logger(child=True)

CONFIRM_GROUP_PREFIX = "confirm:"


def is_confirmation(body: dict[str, Any]) -> bool:
    """A message handed off by :func:`confirm_later` (awaits its transaction)."""
    return bool(body.get("confirm"))


def without_waiting(settings: OutboundSettings | None = None) -> OutboundSettings:
    """The wallet pass: sign, broadcast and look once for the receipt, no more."""
    return (settings or config.outbound()).model_copy(update={"wait_s": 0.0})


def subject(body: dict[str, Any]) -> str:
    """What the message moves: its sweep or disbursement id."""
    return str(body.get("sweep_id") or body.get("disbursement_id") or "")


def confirm_later(body: dict[str, Any], pending: TransferStillPending) -> None:
    """Hand ``body``'s broadcast transaction to its own message group to be awaited.
    Raises when the queue refuses: the wallet message then comes back and hands off
    again (nothing is signed twice: the record already holds the attempt)."""
    key = subject(body)
    if not key:
        raise ValueError("a settlement message names neither a sweep nor a disbursement")
    aws.client("sqs").send_message(
        QueueUrl=config.aws().settlement_queue_url,
        MessageBody=json.dumps({**body, "confirm": True}),
        MessageGroupId=f"{CONFIRM_GROUP_PREFIX}{key}"[:128],
        # A second hand-off of the same attempt within SQS's 5 minutes is dropped; a
        # later one queues behind the first in the same group.
        MessageDeduplicationId=hashlib.sha256(
            f"confirm|{key}|{pending.tx_hash or ''}".encode()
        ).hexdigest(),
    )
    logger.info(
        "broadcast; its receipt is awaited in its own group",
        extra={"subject": key, "tx": pending.tx_hash, "nonce": pending.nonce},
    )

"""Plan sweeps: deposit addresses holding final funds worth the gas are handed to the
settlement queue, one FIFO message group per wallet (one writer per wallet); sweeps
left open after their message gave up are handed to it again."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aws_lambda_powertools import Logger

from shared import aws, config, ids
from shared.config import PlannerSettings as PlannerSettings  # re-exported
from shared.dal import addresses as address_repo
from shared.dal import outgoing

logger = Logger(child=True)

HOT_WALLET_GROUP = "hot-wallet"


def sweep_id(addresses: list[str], salt: str = "") -> str:
    """Stable for the same due set in the same hour (a duplicate trigger is the same
    sweep); funds that become due again later get a sweep of their own."""
    digest = hashlib.sha256((",".join(sorted(addresses)) + "|" + salt).encode()).hexdigest()
    return f"sweep_{digest[:32]}"


def enqueue_due() -> str | None:
    """Run every minute by the expirer: first re-send the sweeps left open
    (:func:`resume_open`), then one sweep message per accepted token for its due
    deposits worth sweeping; the USDT sweep's id (else another token's), or None."""
    settings = config.planner()
    resume_open(settings=settings)
    if not config.aws().settlement_queue_url:
        return None
    sent: list[str] = []
    for symbol in config.chain().token_list():
        # Only addresses worth the gas, read as such from the index: dust never takes
        # a slot. Up to max_batches sweeps of `batch` deposits each, largest first.
        due_all = address_repo.due_deposits(
            settings.batch * settings.max_batches, max(settings.min_amount, 1), symbol
        )
        for start in range(0, len(due_all), settings.batch):
            due = due_all[start : start + settings.batch]
            deposits = [{"address": d.address, "index": d.derivation_index} for d in due]
            salt = f"{sum(d.amount for d in due)}|{ids.now() // 3600}"
            # USDT keeps the id it always had; another token's sweep of the same
            # addresses is a sweep of its own.
            sid = sweep_id(
                [d.address for d in due], salt if symbol == "USDT" else f"{salt}|{symbol}"
            )
            # The same set twice within SQS's 5-minute window is one message; later
            # duplicates find the sweep CONFIRMED and do nothing.
            _send(sid, deposits, dedup=sid, currency=symbol)
            sent.append(sid)
    return sent[0] if sent else None


def resume_open(now: int | None = None, settings: PlannerSettings | None = None) -> list[str]:
    """Send every sweep whose record is still open and unchanged for
    ``resume_after_s`` to the queue again: same sweep id, same deposits (the record's
    payload), the ``hot-wallet`` group. The worker resumes the open round (settles what
    it recorded, signs only for what still holds tokens). A message still alive for
    that sweep only makes this one wait behind it in the FIFO group; one re-send per
    sweep and window (the deduplication id changes with the window). Returns the
    sweep ids sent."""
    settings = settings or config.planner()
    now = ids.now() if now is None else now
    if not config.aws().settlement_queue_url:
        return []
    window = now // max(settings.resume_after_s, 60)
    sent: list[str] = []
    for record in outgoing.open_records(
        outgoing.SWEEP_KIND, now - settings.resume_after_s, settings.resume_batch
    ):
        sid = record.tx_id.split("~", 1)[0]  # a later round's record: "{sweep_id}~{n}"
        deposits = record.payload.get("deposits")
        if not deposits or sid in sent:
            continue
        _send(
            sid,
            deposits,
            dedup=hashlib.sha256(f"{sid}|resume|{window}".encode()).hexdigest(),
            currency=str(record.payload.get("token") or "USDT"),
        )
        logger.warning(
            "open sweep sent to the queue again",
            extra={"sweep_id": sid, "record": record.tx_id, "updated_at": record.updated_at},
        )
        sent.append(sid)
    return sent


def _send(sid: str, deposits: list[dict[str, Any]], *, dedup: str, currency: str = "USDT") -> None:
    body: dict[str, Any] = {"kind": "sweep", "sweep_id": sid, "deposits": deposits}
    if currency != "USDT":
        body["token"] = currency  # absent: USDT (messages from before issue 14)
    aws.client("sqs").send_message(
        QueueUrl=config.aws().settlement_queue_url,
        MessageBody=json.dumps(body),
        MessageGroupId=HOT_WALLET_GROUP,
        MessageDeduplicationId=dedup,
    )

"""Plan sweeps: deposit addresses holding final funds worth the gas are handed to the
settlement queue, one FIFO message group per wallet (one writer per wallet)."""

from __future__ import annotations

import hashlib
import json

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import aws, config, ids
from shared.dal import repo

HOT_WALLET_GROUP = "hot-wallet"


class PlannerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BSCPAY_SWEEP_", extra="ignore")

    # Below this (base units) a sweep would mostly pay gas: wait for more to arrive.
    min_amount: int = Field(default=10**18, ge=0)
    batch: int = Field(default=50, ge=1, le=200)


def sweep_id(addresses: list[str], salt: str = "") -> str:
    """Stable for the same due set in the same hour (a duplicate trigger is the same
    sweep); funds that become due again later get a sweep of their own."""
    digest = hashlib.sha256((",".join(sorted(addresses)) + "|" + salt).encode()).hexdigest()
    return f"sweep_{digest[:32]}"


def enqueue_due() -> str | None:
    """One sweep message for the due deposits worth sweeping; its id, or None."""
    settings = PlannerSettings()
    due = [d for d in repo.due_deposits(settings.batch) if d.amount >= settings.min_amount]
    if not due or not config.aws().settlement_queue_url:
        return None
    deposits = [{"address": d.address, "index": d.derivation_index} for d in due]
    salt = f"{sum(d.amount for d in due)}|{ids.now() // 3600}"
    sid = sweep_id([d.address for d in due], salt)
    aws.client("sqs").send_message(
        QueueUrl=config.aws().settlement_queue_url,
        MessageBody=json.dumps({"kind": "sweep", "sweep_id": sid, "deposits": deposits}),
        MessageGroupId=HOT_WALLET_GROUP,
        # The same set twice within SQS's 5-minute window is one message; later
        # duplicates find the sweep CONFIRMED and do nothing.
        MessageDeduplicationId=sid,
    )
    return sid

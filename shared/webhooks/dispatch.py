"""Handle one webhook queue message: deliver, or schedule the retry and fail."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from shared import aws, config
from shared.webhooks import delivery

logger = Logger(child=True)


def handle(message: dict[str, Any], receipt_handle: str, receive_count: int) -> None:
    event_id = str(message.get("event_id", ""))
    endpoint_id = str(message.get("endpoint_id", ""))
    try:
        attempt = delivery.deliver(event_id, endpoint_id)
    except delivery.Skip as exc:
        logger.info("delivery skipped", extra={"reason": str(exc), "event_id": event_id})
        return
    except delivery.DeliveryFailed as exc:
        delay = delivery.retry_delay(receive_count)
        logger.warning(
            "delivery failed; will retry",
            extra={
                "event_id": event_id,
                "endpoint_id": endpoint_id,
                "attempt": receive_count,
                "retry_in_s": delay,
                "error": str(exc),
            },
        )
        aws.client("sqs").change_message_visibility(
            QueueUrl=config.aws().webhook_queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=delay,
        )
        raise
    logger.info(
        "webhook delivered",
        extra={
            "event_id": event_id,
            "endpoint_id": endpoint_id,
            "status": attempt.status,
            "latency_ms": attempt.latency_ms,
        },
    )

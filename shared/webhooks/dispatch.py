"""Handle one webhook queue message: deliver, or schedule the retry and fail.

The attempt number is SQS's receive count. On the last attempt the endpoint is
marked failing and an admin alert is published before the record fails for good
(SQS then moves it to the DLQ).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError

from shared import aws, config, ids, resources
from shared.dal import endpoints as endpoint_repo
from shared.webhooks import delivery

logger = Logger(child=True)

MAX_ATTEMPTS = next(q.max_receive_count for q in resources.QUEUES if q.logical == "webhooks")


# Powertools' BatchProcessor handles records one after another, so one endpoint that
# times out (10 s) would hold up every other delivery of its batch. Records here are
# independent deliveries to different endpoints: run them side by side.
BATCH_CONCURRENCY = 10


def handle_batch(records: list[SQSRecord]) -> list[str]:
    """Deliver every record concurrently; return the message ids that failed."""
    if not records:
        return []
    messages: dict[str, dict[str, Any]] = {}
    for record in records:
        try:
            body = json.loads(record.body)
            messages[record.message_id] = body if isinstance(body, dict) else {}
        except ValueError:
            messages[record.message_id] = {}  # handle() skips it: nothing to deliver
    batch = delivery.Batch.load(
        [(str(m.get("event_id", "")), str(m.get("endpoint_id", ""))) for m in messages.values()]
    )

    def one(record: SQSRecord) -> str | None:
        try:
            handle(
                message=messages[record.message_id],
                receipt_handle=record.receipt_handle,
                receive_count=int(record.attributes.approximate_receive_count or 1),
                batch=batch,
            )
        except delivery.DeliveryFailed:
            return record.message_id  # logged by handle(), retried by SQS
        except Exception:
            logger.exception("record failed", extra={"message_id": record.message_id})
            return record.message_id
        return None

    with ThreadPoolExecutor(max_workers=min(BATCH_CONCURRENCY, len(records))) as pool:
        failed = [m for m in pool.map(one, records) if m is not None]
    batch.flush()
    return failed


def handle(
    message: dict[str, Any],
    receipt_handle: str,
    receive_count: int,
    batch: delivery.Batch | None = None,
) -> None:
    event_id = str(message.get("event_id", ""))
    endpoint_id = str(message.get("endpoint_id", ""))
    try:
        attempt = delivery.deliver(event_id, endpoint_id, receive_count, batch)
    except (delivery.Skip, delivery.Gone) as exc:
        logger.info("delivery dropped", extra={"reason": str(exc), "event_id": event_id})
        return
    except delivery.DeliveryFailed as exc:
        context = {
            "event_id": event_id,
            "endpoint_id": endpoint_id,
            "attempt": receive_count,
            "error": str(exc),
        }
        if receive_count >= MAX_ATTEMPTS:
            _give_up(endpoint_id, event_id, context)
            raise
        delay = delivery.retry_delay(receive_count)
        logger.warning("delivery failed; will retry", extra={**context, "retry_in_s": delay})
        try:
            aws.client("sqs").change_message_visibility(
                QueueUrl=config.aws().webhook_queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=delay,
            )
        except ClientError as visibility_error:
            # Still a failed record: SQS retries it after the queue's visibility timeout.
            logger.warning("could not set the retry delay", extra={"error": str(visibility_error)})
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


def _give_up(endpoint_id: str, event_id: str, context: dict[str, Any]) -> None:
    logger.error("delivery exhausted; dead-lettered", extra=context)
    endpoint_repo.mark_endpoint_failing(endpoint_id, ids.now())
    topic = config.aws().alerts_topic_arn
    if topic:
        aws.client("sns").publish(
            TopicArn=topic,
            Subject="bscpay: webhook endpoint failing",
            Message=json.dumps({"alert": "webhook_delivery_exhausted", **context}),
        )

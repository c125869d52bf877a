"""Webhook dispatcher: one SQS record = one (event, endpoint) delivery attempt.

A failed attempt pushes the record's visibility out by the backoff delay and
reports the record as failed; after the queue's maxReceiveCount SQS moves it to
the DLQ. Nothing sleeps in the Lambda.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.webhooks import dispatch

logger = Logger()
tracer = Tracer()
# Report every failed record, even when all failed: raising instead would count a
# merchant's broken receiver as a function error (alarms) and fail the whole batch.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    dispatch.handle(
        message=json.loads(record.body),
        receipt_handle=record.receipt_handle,
        receive_count=int(record.attributes.approximate_receive_count or 1),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(result)

"""Settlement: consumes the FIFO settlement queue (one message group per wallet) and
sweeps deposits to the hot wallet. The only function whose role may decrypt the
custody key."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import (
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.settlement import worker
from shared.settlement.worker import metrics

logger = Logger()
tracer = Tracer()
# FIFO: after a failed record the rest of the batch is returned unprocessed, in order.
processor = SqsFifoPartialProcessor()


def record_handler(record: SQSRecord) -> None:
    worker.handle(json.loads(record.body))


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # responses carry secrets
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )

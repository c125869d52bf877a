"""Webhook dispatcher: one SQS record = one (event, endpoint) delivery attempt.

Records of a batch are delivered concurrently (see ``shared.webhooks.dispatch``), and
failed ones are reported as batch item failures (the queue mapping sets
``ReportBatchItemFailures``). Nothing sleeps in the Lambda.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import logmask, tracing
from shared.actor import acting, system
from shared.webhooks import dispatch

logger = logmask.logger()
tracer = tracing.tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # responses carry secrets
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with acting(system("webhook_dispatcher")):
        failed = dispatch.handle_batch(list(SQSEvent(event).records))
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

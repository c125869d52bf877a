"""Settlement: consumes the FIFO settlement queue: sweeps deposits to the hot wallet,
and sends payouts, refunds and cold moves from it. Messages of the hot wallet's group
sign and broadcast; each transaction not mined yet is awaited in a group of its own
(``shared.settlement.handoff``). The only function whose role may decrypt the custody
key."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import aws, config, logmask, tracing
from shared.actor import acting, system
from shared.disbursements import worker as disbursements
from shared.settlement import handoff, outbound, worker
from shared.settlement.worker import metrics

logger = logmask.logger()
tracer = tracing.tracer()
# FIFO: after a failed record the rest of the batch is returned unprocessed, in order.
processor = SqsFifoPartialProcessor()
# Report a wholly failed batch as item failures too (the event source mapping has
# ReportBatchItemFailures): a payout waiting for its transaction is not a crash.
processor.raise_on_entire_batch_failure = False


# A broadcast transaction that is not mined yet: look again soon, not after the
# queue's 12-minute visibility (longer with every receive).
PENDING_RETRY_S = 20


def record_handler(record: SQSRecord) -> None:
    body = json.loads(record.body)
    # In the hot wallet's group: sign, broadcast, never wait (docs/adr/0040).
    confirming = handoff.is_confirmation(body)
    settings = None if confirming else handoff.without_waiting()
    try:
        if body.get("kind") == "disbursement":
            disbursements.handle(body, settings=settings)
        else:
            # Booked sweeps refill the hot wallet: what waited for them goes now.
            disbursements.release_after_sweep(worker.handle(body, settings=settings))
    except outbound.TransferStillPending as pending:
        if not confirming:
            handoff.confirm_later(body, pending)
            return
        receives = int(record.attributes.approximate_receive_count or 1)
        aws.client("sqs").change_message_visibility(
            QueueUrl=config.aws().settlement_queue_url,
            ReceiptHandle=record.receipt_handle,
            VisibilityTimeout=min(PENDING_RETRY_S * receives, 600),
        )
        raise


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # responses carry secrets
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with acting(system("settlement")):
        return dict(
            process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )
        )

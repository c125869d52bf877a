"""SQS queues of ``shared.resources.QUEUES`` (each with its DLQ) and their consumers."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.cdk.constants import (
    SETTLEMENT_MAX_CONCURRENCY,
    SQS_BATCH_SIZE,
    SQS_MAIN_RETENTION_DAYS,
    SQS_VISIBILITY_FACTOR,
    WEBHOOK_MAX_CONCURRENCY,
)
from shared import resources

# Concurrent invocations each queue's event source may start (the APIs keep the rest).
MAX_CONCURRENCY = {"webhooks": WEBHOOK_MAX_CONCURRENCY, "settlement": SETTLEMENT_MAX_CONCURRENCY}


class Webhooks(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        for spec in resources.QUEUES:
            name = "".join(part.capitalize() for part in spec.logical.split("_"))
            dlq = sqs.Queue(
                self,
                f"{name}Dlq",
                queue_name=resources.physical_name(prefix, f"{spec.logical}_dlq", spec.fifo),
                fifo=spec.fifo or None,
                retention_period=Duration.days(spec.dlq_retention_days),
                encryption=sqs.QueueEncryption.KMS,
                encryption_master_key=key,
                enforce_ssl=True,
            )
            self.queues[spec.logical] = sqs.Queue(
                self,
                f"{name}Queue",
                queue_name=resources.physical_name(prefix, spec.logical, spec.fifo),
                fifo=spec.fifo or None,
                visibility_timeout=Duration.seconds(spec.visibility_timeout_s),
                retention_period=Duration.days(SQS_MAIN_RETENTION_DAYS),
                dead_letter_queue=sqs.DeadLetterQueue(
                    queue=dlq, max_receive_count=spec.max_receive_count
                ),
                encryption=sqs.QueueEncryption.KMS,
                encryption_master_key=key,
                enforce_ssl=True,
            )
            self.dead_letter_queues[spec.logical] = dlq

    def connect_consumers(self, functions: dict[str, lambda_.Function]) -> None:
        """Each function with ``queue=`` consumes it in batches and reports the records
        that failed (the others are deleted), so one bad delivery never retries nine."""
        specs = {spec.logical: spec for spec in resources.QUEUES}
        for function_spec in resources.FUNCTIONS:
            if function_spec.queue is None:
                continue
            queue_spec = specs[function_spec.queue]
            needed = SQS_VISIBILITY_FACTOR * function_spec.timeout_s
            if queue_spec.visibility_timeout_s < needed:
                raise ValueError(
                    f"queue {queue_spec.logical}: visibility {queue_spec.visibility_timeout_s}s "
                    f"< {SQS_VISIBILITY_FACTOR}x {function_spec.name}'s timeout ({needed}s)"
                )
            functions[function_spec.name].add_event_source(
                sources.SqsEventSource(
                    self.queues[function_spec.queue],
                    # Settlement: one hot-wallet message per invocation (issue 16 §2): a
                    # batch of ten, each waiting for its receipts, could outlive the
                    # function's timeout and hold the FIFO group for the visibility
                    # timeout; one message always fits in it.
                    batch_size=1 if queue_spec.fifo else SQS_BATCH_SIZE,
                    report_batch_item_failures=True,
                    max_concurrency=MAX_CONCURRENCY.get(function_spec.queue),
                )
            )

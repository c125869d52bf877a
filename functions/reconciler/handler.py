"""Reconciler, invoked by EventBridge every five minutes: ledger vs chain, alerting
on any drift."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import logmask, tracing
from shared.actor import acting, system
from shared.settlement import reconciler
from shared.settlement.reconciler import metrics

logger = logmask.logger()
tracer = tracing.tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # responses carry secrets
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with acting(system("reconciler")):
        report = reconciler.run()
    logger.info("reconciled", extra={"checked": report.checked_addresses, "drifts": report.drifts})
    return asdict(report)

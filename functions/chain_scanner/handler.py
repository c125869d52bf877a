"""Chain scanner, invoked every minute by EventBridge; follows the chain until
shortly before its own timeout."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import logmask, tracing
from shared.actor import acting, system
from shared.jobs.scanner import Scanner, metrics

logger = logmask.logger()
tracer = tracing.tracer()
_metrics: Metrics = metrics


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # responses carry secrets
@_metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with acting(system("chain_scanner")):
        report = Scanner().run(context.get_remaining_time_in_millis)
    logger.info("scan finished", extra=asdict(report))
    return asdict(report)

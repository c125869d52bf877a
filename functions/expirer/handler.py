"""Expirer, invoked every minute by EventBridge: settles payments whose time is up
and relays events left in the outbox."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import logmask, tracing
from shared.actor import acting, system
from shared.jobs import expiry

logger = logmask.logger()
tracer = tracing.tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # responses carry secrets
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with acting(system("expirer")):
        report = expiry.run()
    logger.info("expiry finished", extra=asdict(report))
    return asdict(report)

"""Daily digest, invoked once a day by EventBridge: the operators' summary of the last
whole UTC day, published to the alerts topic (shared.jobs.digest, docs/adr/0021)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import logmask, tracing
from shared.actor import acting, system
from shared.jobs import digest, report_compaction

logger = logmask.logger()
tracer = tracing.tracer()


def _moment(event: dict[str, Any]) -> datetime:
    """The scheduled event's time (a retried or late delivery still digests its day)."""
    raw = event.get("time")
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            logger.warning("unreadable event time; using now", extra={"time": raw[:40]})
    return datetime.now(UTC)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@digest.metrics.log_metrics  # HeldUsdt for the operator's dashboard
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    moment = _moment(event)
    with acting(system("digest")):
        result = digest.run(moment)
        folded = report_compaction.run(moment.date())
    return {"day": result.day, "published": result.published, "days_folded": folded.days_folded}

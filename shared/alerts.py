"""Operator alerts: logged (structured, ``alert`` names the kind) and published to the
SNS alerts topic when one is configured. Public chain data and ids only, never a key,
a signature or a secret."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger

from shared import aws, config

logger = Logger(child=True)


def raise_alert(kind: str, subject: str, /, **details: Any) -> None:
    body = {**details, "alert": kind}
    logger.error(subject, extra=body)
    topic = config.aws().alerts_topic_arn
    if not topic:
        return
    try:
        aws.client("sns").publish(
            TopicArn=topic, Subject=f"bscpay: {subject}"[:100], Message=json.dumps(body)
        )
    except Exception:  # an alert must never turn into the failure it reports
        logger.exception("alert could not be published", extra={"alert": kind})

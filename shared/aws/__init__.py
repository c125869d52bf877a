"""boto3 clients, created once per process and pointed at moto in the local stack."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from shared import config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10
)


@lru_cache(maxsize=16)
def client(service: str) -> Any:
    settings = config.aws()
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        config=_CONFIG,
    )


def reset() -> None:
    client.cache_clear()

"""boto3 clients, created once per process and pointed at moto in the local stack."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from shared import config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10
)
# boto3's default session is not safe to create clients from in parallel (the scanner's
# workers may ask first); a client, once made, is.
_creating = threading.Lock()


@lru_cache(maxsize=16)
def client(service: str) -> Any:
    settings = config.aws()
    with _creating:
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=settings.region,
            endpoint_url=settings.aws_endpoint_url,
            config=_CONFIG,
        )


@lru_cache(maxsize=8)
def client_in(service: str, region: str) -> Any:
    """A client of another region (the custody backup key, ADR 0036)."""
    settings = config.aws()
    with _creating:
        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=settings.aws_endpoint_url,
            config=_CONFIG,
        )


def region_of(arn: str) -> str | None:
    """The region named by an ARN (``arn:aws:kms:us-west-2:…``); None for a bare id."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" and parts[3] else None


def reset() -> None:
    client.cache_clear()
    client_in.cache_clear()

"""Where an export too large to answer inline goes: the exports bucket (S3; moto in the
local stack), read back through a pre-signed GET URL. The bucket encrypts objects,
blocks public access, refuses plain HTTP and deletes objects after a day (CDK:
``infra/cdk/constructs/data.py``)."""

from __future__ import annotations

from functools import lru_cache
from typing import IO, Any, Protocol

import boto3
from botocore.config import Config

from shared import config
from shared.errors import BscpayError


class ExportsUnavailable(BscpayError):
    """The export is too large to answer inline and no exports bucket is configured."""

    status = 422
    code = "export_too_large"


class ExportStore(Protocol):
    def put(self, key: str, body: IO[bytes], filename: str) -> None: ...

    def url(self, key: str, ttl_s: int) -> str: ...


@lru_cache(maxsize=4)
def _s3(region: str, endpoint: str | None) -> Any:
    """An S3 client that signs URLs with SigV4 (``shared.aws.client`` leaves the
    signature to botocore, which pre-signs with SigV2 in us-east-1)."""
    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        config=Config(
            signature_version="s3v4",
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=3,
            read_timeout=10,
        ),
    )


def _client() -> Any:
    settings = config.aws()
    return _s3(settings.region, settings.aws_endpoint_url)


class S3ExportStore:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def put(self, key: str, body: IO[bytes], filename: str) -> None:
        # upload_fileobj streams the (spooled) file in parts: nothing is read whole.
        _client().upload_fileobj(
            body,
            self.bucket,
            key,
            ExtraArgs={
                "ContentType": "text/csv; charset=utf-8",
                "ContentDisposition": f'attachment; filename="{filename}"',
                "ServerSideEncryption": "AES256",
            },
        )

    def url(self, key: str, ttl_s: int) -> str:
        return str(
            _client().generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=ttl_s,
            )
        )


def default() -> ExportStore:
    bucket = config.aws().exports_bucket
    if not bucket:
        raise ExportsUnavailable(
            "this export is too large to answer inline and no exports bucket is configured: "
            "ask for a shorter period"
        )
    return S3ExportStore(bucket)

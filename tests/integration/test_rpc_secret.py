"""RPC URLs in AWS come from a Secrets Manager secret read at run time (issue 16): never
from the template or the Lambda environment."""

from __future__ import annotations

import uuid

import pytest

from shared import aws, config
from shared.aws import secrets as aws_secrets
from shared.chain import rpc
from shared.local.stack import LocalStack


def test_endpoints_come_from_the_named_secret_when_no_urls_are_set(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"bscpay-it/rpc-urls-{uuid.uuid4().hex[:6]}"
    aws.client("secretsmanager").create_secret(
        Name=name, SecretString="https://a.example/key1\nhttps://b.example/key2, https://c.example"
    )
    monkeypatch.setenv("BSCPAY_RPC_URLS", "")
    monkeypatch.setenv("BSCPAY_RPC_URLS_SECRET", name)
    config.reset()
    aws_secrets.forget()
    try:
        assert rpc.endpoints() == [
            "https://a.example/key1",
            "https://b.example/key2",
            "https://c.example",
        ]
        # a rotated value is read again once the cache is dropped
        aws.client("secretsmanager").put_secret_value(
            SecretId=name, SecretString="https://d.example"
        )
        aws_secrets.forget()
        assert rpc.endpoints() == ["https://d.example"]
    finally:
        monkeypatch.undo()
        config.reset()
        aws_secrets.forget()


def test_explicit_urls_win_and_no_secret_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BSCPAY_RPC_URLS", "http://127.0.0.1:8545")
    monkeypatch.setenv("BSCPAY_RPC_URLS_SECRET", "no/such/secret")
    config.reset()
    try:
        assert rpc.endpoints() == ["http://127.0.0.1:8545"]
    finally:
        monkeypatch.undo()
        config.reset()

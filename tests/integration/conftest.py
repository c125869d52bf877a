"""Integration fixtures: one moto server and one anvil (automine) per session,
provisioned by the same code as `make run`, without the API server or workers:
these tests call the real ``lambda_handler``s directly."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from shared.admin import merchants
from shared.local.chain import free_port
from shared.local.stack import LocalStack, StackConfig
from tests.conftest import fresh_output_dir


@dataclass
class MerchantCreds:
    merchant_id: str
    key_id: str
    secret: str = field(repr=False)  # never in a failing assertion's output


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    # Tests mine every block themselves: a drift still there half a second later is real.
    os.environ.setdefault("BSCPAY_RECONCILE_CONFIRM_AFTER_S", "0.5")
    # Tests call the handler back to back (hypothesis runs hundreds of requests a minute
    # on one key); the budget itself is tested with per-merchant budgets.
    os.environ.setdefault("BSCPAY_API_RATE_LIMIT_PER_MINUTE", "100000")
    cfg = StackConfig(
        api_port=free_port(),
        rpc_port=free_port(),
        aws_port=free_port(),
        block_time=None,  # automine: tests mine blocks when they need finality
        prefix="bscpay-it",
        state_file=None,
        log_dir=fresh_output_dir("integration"),
        serve_api=False,
        run_workers=False,
    )
    local = LocalStack(cfg).start()
    yield local
    local.stop()


@pytest.fixture
def merchant(stack: LocalStack) -> MerchantCreds:
    """A fresh merchant per test: tests isolate by merchant, not by database."""
    m, key, secret = merchants.create_merchant("Integration Shop")
    return MerchantCreds(m.merchant_id, key.key_id, secret)

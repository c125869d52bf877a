"""No secret reaches the logs (issue 15 §4): a scenario with known secrets runs through
every function, each function's logger also logs its incoming event whole (what
``POWERTOOLS_LOGGER_LOG_EVENT=true`` does), everything at DEBUG, and the captured output
is searched for every secret."""

from __future__ import annotations

import importlib
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from shared import config, resources
from shared.custody import envelope, setup
from shared.dal import system as system_repo
from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    admin_call,
    create_endpoint,
    create_payment,
    dispatch,
    make_final,
    merchant_call,
    merchant_event,
    pay,
    receive_for,
    scan_with_handler,
)
from tests.support.events import Context, load

JWT = (
    "eyJraWQiOiJsb2NhbCIsImFsZyI6IlJTMjU2In0."
    "eyJzdWIiOiJhZG1pbi1tYXNrIiwiY29nbml0bzpncm91cHMiOlsiYWRtaW4iXX0."
    "bWFza2luZy10ZXN0LXNpZ25hdHVyZS1ieXRlcw"
)


@pytest.fixture
def debug_loggers() -> Iterator[tuple[list[Any], io.StringIO]]:
    """Every function's logger at DEBUG, writing (through its own handler and formatter)
    into one buffer for the test; restored after."""
    modules = [
        importlib.import_module(f"functions.{spec.name}.handler") for spec in resources.FUNCTIONS
    ]
    buffer = io.StringIO()
    levels = [(m.logger, m.logger.log_level) for m in modules]
    handlers = {id(m.logger.registered_handler): m.logger.registered_handler for m in modules}
    streams = {key: h.setStream(buffer) for key, h in handlers.items()}
    for module in modules:
        module.logger.setLevel("DEBUG")
    yield modules, buffer
    for logger, level in levels:
        logger.setLevel(level)
    for key, stream in streams.items():
        if stream is not None:
            handlers[key].setStream(stream)


def _custody_secrets() -> list[str]:
    item = system_repo.get_system(setup.CUSTODY_RECORD)
    assert item is not None and item.data_json
    sealed = json.loads(item.data_json)["sealed_mnemonic"]
    mnemonic = envelope.open_sealed(sealed, setup.CONTEXT).decode()
    from shared.custody.signer import keys_from_mnemonic

    keys = keys_from_mnemonic(mnemonic, [0])
    hot_key = keys.hot_wallet._account.key.hex()  # type: ignore[attr-defined]
    return [mnemonic, hot_key.removeprefix("0x")]


def test_no_function_logs_a_secret(
    stack: LocalStack,
    merchant: MerchantCreds,
    debug_loggers: tuple[list[Any], io.StringIO],
) -> None:
    modules, buffer = debug_loggers
    # Given a merchant created by an admin (its key's secret is shown once), a webhook
    # endpoint (its signing secret), a signed request and a paid payment
    created = admin_call("POST", "/admin/merchants", {"name": "Masked Shop"})
    assert created.status == 201, created.body
    key_secret = created.body["api_key"]["secret"]
    endpoint = create_endpoint(merchant, "http://127.0.0.1:9/hook", ["payment.paid"])
    hook_secret = endpoint["secret"]
    signed = merchant_event(merchant, "POST", "/v1/payments", {"amount": "1"})
    signature = signed["headers"]["X-Signature"]
    payment = create_payment(merchant, "2")
    pay(stack, payment["address"], 2 * USDT)
    make_final(stack)
    secrets = [
        key_secret,
        merchant.secret,
        hook_secret,
        signature,
        JWT,
        config.kyc().callback_secret.get_secret_value(),
        *_custody_secrets(),
    ]
    assert all(len(s) >= 16 for s in secrets)

    # When every function runs and logs its incoming event whole
    events: dict[str, dict[str, Any]] = {
        "merchant_api": signed,
        "admin_api": {**load("admin_api_list_payments"), "headers": {"Authorization": JWT}},
        "checkout_api": load("checkout_api_get_status"),
        "chain_scanner": load("chain_scanner_schedule"),
        "webhook_dispatcher": load("webhook_dispatcher_sqs"),
        "settlement": load("settlement_sqs_fifo"),
        "reconciler": load("reconciler_schedule"),
        "expirer": load("expirer_schedule"),
        "digest": load("digest_schedule"),
    }
    events["webhook_dispatcher"]["note"] = f"endpoint secret {hook_secret}"
    events["settlement"]["debug"] = {"mnemonic": secrets[-2], "private_key": secrets[-1]}
    for module in modules:
        name = module.__name__.split(".")[1]
        module.logger.info("Event received", extra={"event": events[name]})
        module.logger.debug(f"with the API key secret {key_secret} and token {JWT}")
    assert merchant_call(merchant, "POST", "/v1/payments", {"amount": "1"}).status == 201
    scan_with_handler()
    messages = receive_for(endpoint["id"], timeout_s=10)
    if messages:
        dispatch(messages)
    for name in ("reconciler", "expirer", "digest", "settlement"):
        handler = importlib.import_module(f"functions.{name}.handler").lambda_handler
        try:
            handler(events[name], Context(5_000))
        except Exception as exc:  # a sample event may not fit today's state; logs count
            print(f"{name} raised {type(exc).__name__}")

    # Then nothing captured contains any of the secrets
    captured = buffer.getvalue()
    assert "Event received" in captured and "***" in captured  # the scan saw the logs
    leaked = [s[:6] + "…" for s in secrets if s in captured]
    assert leaked == [], f"secrets in the logs: {leaked}"

"""A merchant history for the report tests (exports, statement): payments paid by a
fresh sender and by the shared customer, swept, one unpaid; a refund and a payout,
both settled on chain. Built once per test module (it takes a few seconds)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account

from shared import config
from shared.admin import merchants
from shared.dal import payments as payment_repo
from shared.local import chain
from shared.local.chain import DEPLOYER_PRIVATE_KEY
from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    admin_call,
    as_admin,
    create_payment,
    make_final,
    merchant_call,
    scan,
)

# anvil's public dev accounts #7 and #8: outside addresses a merchant or payer owns.
SETTLEMENT_ADDRESS = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"
PAYER_ADDRESS = "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"

PAYOUT_SETTINGS = {
    "BSCPAY_PAYOUT_FEE_BPS": "100",
    "BSCPAY_PAYOUT_FEE_FIXED": "0.5",
    "BSCPAY_PAYOUT_NETWORK_FEE": "0.1",
    "BSCPAY_PAYOUT_APPROVAL_THRESHOLD": "20",
    "BSCPAY_PAYOUT_MINIMUM": "1",
    "BSCPAY_PAYOUT_ADDRESS_COOLDOWN_S": "0",
}


@dataclass
class Sender:
    address: str  # checksummed
    key: str


@dataclass
class History:
    merchant: MerchantCreds
    start: int  # unix seconds before anything happened
    credited: int  # unix seconds: after both payments were credited, before refund/payout
    end: int  # unix seconds after everything
    sender: Sender
    payments: list[dict[str, Any]] = field(default_factory=list)
    refund: dict[str, Any] = field(default_factory=dict)
    payout: dict[str, Any] = field(default_factory=dict)


def new_sender(stack: LocalStack, usdt: int = 1_000) -> Sender:
    """A fresh funded address, so a report's rows can be told apart from other tests'."""
    account = Account.create()
    rpc = stack.info["rpc_url"]
    chain.rpc_call(rpc, "anvil_setBalance", account.address, hex(10 * 10**18))
    chain.mint(rpc, stack.info["token_address"], DEPLOYER_PRIVATE_KEY, account.address, usdt * USDT)
    return Sender(account.address, "0x" + account.key.hex().removeprefix("0x"))


def send(stack: LocalStack, key: str, address: str, units: int) -> str:
    return chain.transfer(stack.info["rpc_url"], stack.info["token_address"], key, address, units)


def sweep(payment: dict[str, Any]) -> None:
    from shared.settlement import planner, worker

    stored = payment_repo.get_payment(payment["id"], with_transfers=False)
    assert stored is not None
    deposit = {"address": payment["address"].lower(), "index": stored.derivation_index}
    sweep_id = planner.sweep_id([deposit["address"]], f"reports-{payment['id']}")
    worker.handle({"kind": "sweep", "sweep_id": sweep_id, "deposits": [deposit]})


def settle(disbursement_id: str) -> Any:
    from shared.disbursements import worker

    return worker.handle({"kind": "disbursement", "disbursement_id": disbursement_id})


def wait_next_second() -> int:
    """The next whole second, once it has begun: records after it are in a later period."""
    now = int(time.time()) + 1
    time.sleep(max(0.0, now - time.time()) + 0.05)
    return now


def build(stack: LocalStack) -> History:
    merchant, key, secret = merchants.create_merchant("Reports Shop")
    creds = MerchantCreds(merchant.merchant_id, key.key_id, secret)
    start = int(time.time())
    sender = new_sender(stack)
    # Given a payment of 10 paid by the fresh sender, 6 by the shared customer, 1 unpaid
    first = create_payment(creds, "10", order_id="=SUM(A1:A9)", metadata={"cart": 'a,b "c"'})
    send(stack, sender.key, first["address"], 10 * USDT)
    second = create_payment(creds, "6")
    send(stack, stack.info["customer"]["private_key"], second["address"], 6 * USDT)
    third = create_payment(creds, "1.5")
    make_final(stack)
    scan()
    for p in (first, second):
        sweep(p)
    credited = wait_next_second()
    # and a settlement address set by one admin, confirmed by another
    path = f"/admin/merchants/{creds.merchant_id}/settlement"
    reply = admin_call("POST", path, {"address": SETTLEMENT_ADDRESS}, as_admin("setter"))
    assert reply.status == 200, reply.body
    if reply.body["address_status"] == "pending_confirmation":
        confirmed = admin_call("POST", f"{path}/confirm", authorizer=as_admin("confirmer"))
        assert confirmed.status == 200, confirmed.body
    # When the merchant refunds 2.5 of the second payment and it is sent
    refund = merchant_call(
        creds,
        "POST",
        f"/v1/payments/{second['id']}/refunds",
        {"address": PAYER_ADDRESS, "amount": "2.5"},
    )
    assert refund.status == 201, refund.body
    assert settle(refund.body["id"]).status.value == "paid"
    # and an admin pays out the rest, and it is sent
    payout = admin_call(
        "POST", f"/admin/merchants/{creds.merchant_id}/payouts", {}, authorizer=as_admin("ann")
    )
    assert payout.status == 201, payout.body
    assert settle(payout.body["id"]).status.value == "paid"
    end = wait_next_second()
    payments = [
        merchant_call(creds, "GET", f"/v1/payments/{p['id']}").body for p in (first, second, third)
    ]
    return History(
        merchant=creds,
        start=start,
        credited=credited,
        end=end,
        sender=sender,
        payments=payments,
        refund=merchant_call(creds, "GET", f"/v1/refunds/{refund.body['id']}").body,
        payout=merchant_call(creds, "GET", f"/v1/settlements/{payout.body['id']}").body,
    )


@pytest.fixture(scope="module")
def history(stack: LocalStack) -> Iterator[History]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in PAYOUT_SETTINGS.items():
            patch.setenv(name, value)
        config.reset()
        built = build(stack)
    config.reset()
    yield built

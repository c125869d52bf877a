"""The hosted checkout page (/pay/<payment id>) in a real browser, against the local
stack: what the paying customer sees, a QR code a wallet can scan, the live status
without reloading, the return to the shop, and a browser wallet (docs/adr/0024)."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
from bscpay_merchant import Client
from PIL import Image, ImageOps
from playwright.sync_api import Page, expect
from pyzbar import pyzbar

from shared.local import chain
from tests.browser.conftest import (
    USDT,
    Pages,
    ReturnSite,
    amount_in,
    amount_pattern,
    checkout_status,
    document_loads,
    record_statuses,
    serious_accessibility_violations,
    wait_for,
)
from tests.browser.wallet import TestWallet

pytestmark = pytest.mark.e2e

TRANSFER_SELECTOR = "a9059cbb"  # transfer(address,uint256)


def _create(merchant: Client, amount: str, order: str, **extra: Any) -> dict[str, Any]:
    payment: dict[str, Any] = merchant.request(
        "POST", "/v1/payments", {"amount": amount, "order_id": order, **extra}
    )
    return payment


def _open(page: Page, stack: dict[str, Any], payment: dict[str, Any]) -> None:
    assert payment["checkout_url"] == f"{stack['api_url']}/pay/{payment['id']}"
    page.goto(payment["checkout_url"])
    expect(page.get_by_test_id("amount")).to_be_visible()


def _pay(stack: dict[str, Any], payment: dict[str, Any], base_units: int) -> str:
    return chain.transfer(
        stack["rpc_url"],
        stack["token_address"],
        stack["customer"]["private_key"],
        payment["address"],
        base_units,
    )


def _api_status(merchant: Client, payment_id: str) -> str:
    return str(merchant.request("GET", f"/v1/payments/{payment_id}")["status"])


def test_checkout_shows_the_amount_and_the_deposit_address(
    stack: dict[str, Any], merchant: Client, page: Page
) -> None:
    payment = _create(merchant, "12.50", "BROWSER-SHOW")

    _open(page, stack, payment)

    assert amount_in(page.get_by_test_id("amount").text_content()) == Decimal("12.50")
    assert amount_in(page.get_by_test_id("remaining").text_content()) == Decimal("12.50")
    expect(page.get_by_test_id("address")).to_contain_text(payment["address"], ignore_case=True)
    expect(page.get_by_test_id("countdown")).to_be_visible()
    expect(page.get_by_test_id("status")).not_to_contain_text("Paid")
    expect(page.get_by_test_id("copy-address")).to_be_visible()
    expect(page.get_by_text("USDT").first).to_be_visible()
    expect(page.get_by_text("BNB Smart Chain").first).to_be_visible()


def test_the_qr_code_decodes_to_the_eip681_transfer_uri(
    stack: dict[str, Any], merchant: Client, page: Page
) -> None:
    payment = _create(merchant, "7.25", "BROWSER-QR")
    _open(page, stack, payment)
    qr = page.get_by_test_id("qr")
    expect(qr).to_be_visible()

    def scanned() -> list[Any]:
        """What a phone camera would read off the QR code as drawn now (the page draws
        it asynchronously), with a quiet zone around it whatever margin the page drew."""
        image = Image.open(io.BytesIO(qr.screenshot())).convert("L")
        return list(pyzbar.decode(ImageOps.expand(image, border=48, fill=255)))

    decoded = wait_for(scanned, "the QR code to be drawn and readable", page=page)

    assert [symbol.type for symbol in decoded] == ["QRCODE"], decoded
    uri = decoded[0].data.decode()
    assert uri == checkout_status(stack, payment["id"])["eip681"]
    target, _, query = uri.partition("/transfer?")
    assert target.lower() == f"ethereum:{stack['token_address']}@{stack['chain_id']}".lower()
    fields = parse_qs(query, strict_parsing=True)
    assert fields["address"][0].lower() == payment["address"].lower()
    assert int(fields["uint256"][0]) == 725 * USDT // 100


def test_paying_on_chain_turns_the_page_to_paid_and_returns_to_the_shop(
    stack: dict[str, Any], merchant: Client, pages: Pages, shop: ReturnSite
) -> None:
    page = pages.new()
    success_url = f"{shop.url}/thanks/BROWSER-PAID"
    payment = _create(merchant, "12.50", "BROWSER-PAID", success_url=success_url)
    statuses = record_statuses(page)
    loads = document_loads(page)
    _open(page, stack, payment)
    expect(page.get_by_test_id("status")).not_to_contain_text("Paid")
    pages.screenshot(page, "waiting")

    # When the customer pays from their own wallet (not through the page)
    _pay(stack, payment, 1250 * USDT // 100)

    # Then the open page turns to Paid by itself and goes back to the shop
    page.wait_for_url(success_url, timeout=120_000)
    assert any("Paid" in text for text in statuses), statuses
    assert [url for url in loads if "/pay/" in url] == [payment["checkout_url"]], loads
    assert "/thanks/BROWSER-PAID" in shop.visits
    assert _api_status(merchant, payment["id"]) == "paid"


def test_a_part_payment_shows_the_amount_still_missing_at_once(
    stack: dict[str, Any], merchant: Client, page: Page
) -> None:
    payment = _create(merchant, "10", "BROWSER-PART")
    loads = document_loads(page)
    _open(page, stack, payment)

    _pay(stack, payment, 75 * USDT // 10)

    # while the payment is open it waits for the rest: no reload, not paid
    expect(page.get_by_test_id("remaining")).to_have_text(
        amount_pattern(Decimal("2.5")), timeout=120_000
    )
    expect(page.get_by_test_id("status")).not_to_contain_text("Paid")
    status = checkout_status(stack, payment["id"])
    assert Decimal(status["amount_remaining"]) == Decimal("2.5")
    assert status["amount_units"] == str(25 * USDT // 10)
    assert len([url for url in loads if "/pay/" in url]) == 1, loads  # no reload


def test_an_underpayment_shows_underpaid_and_the_remaining_amount(
    stack: dict[str, Any], merchant: Client, page: Page, underpaid_payment: dict[str, Any]
) -> None:
    # underpaid_payment: 7.5 of 10 USDT paid when the session started, 60 s expiry
    _open(page, stack, underpaid_payment)

    status = page.get_by_test_id("status")
    expect(status).to_have_attribute("data-status", "underpaid", timeout=150_000)
    expect(status).to_contain_text("Underpaid")
    expect(page.get_by_test_id("remaining")).to_have_text(amount_pattern(Decimal("2.5")))
    assert _api_status(merchant, underpaid_payment["id"]) == "underpaid"


def test_an_expired_payment_says_expired(
    stack: dict[str, Any], merchant: Client, page: Page, expiring_payment: dict[str, Any]
) -> None:
    # expiring_payment was made with a 60 s expiry when the session started
    _open(page, stack, expiring_payment)

    expect(page.get_by_test_id("status")).to_contain_text("Expired", timeout=150_000)
    assert _api_status(merchant, expiring_payment["id"]) == "expired"


def test_pay_with_browser_wallet_sends_the_transfer_and_returns_to_the_shop(
    stack: dict[str, Any], merchant: Client, page: Page, shop: ReturnSite
) -> None:
    success_url = f"{shop.url}/thanks/BROWSER-WALLET"
    payment = _create(merchant, "3.75", "BROWSER-WALLET", success_url=success_url)
    wallet = TestWallet(stack["rpc_url"], stack["customer"]["private_key"])
    wallet.install(page)
    statuses = record_statuses(page)
    _open(page, stack, payment)

    page.get_by_test_id("pay-wallet").click()

    # The page asked the wallet to switch to the payment's chain and to send the transfer
    sent = wait_for(lambda: list(wallet.sent), "eth_sendTransaction from the page", page=page)
    assert "wallet_switchEthereumChain" in wallet.methods(), wallet.methods()
    assert len(sent) == 1, sent
    tx = sent[0]
    assert tx["to"].lower() == stack["token_address"].lower()
    data = tx["data"].removeprefix("0x").lower()
    assert data[:8] == TRANSFER_SELECTOR
    assert int(data[8:72], 16) == int(payment["address"], 16)
    assert int(data[72:136], 16) == 375 * USDT // 100
    # and the paid page returns to the shop
    page.wait_for_url(success_url, timeout=120_000)
    assert any("Paid" in text for text in statuses), statuses
    assert _api_status(merchant, payment["id"]) == "paid"


@pytest.mark.parametrize(
    ("label", "options"),
    [
        pytest.param("desktop-light", {"color_scheme": "light"}, id="desktop-light"),
        pytest.param(
            "phone-dark",
            {"color_scheme": "dark", "viewport": {"width": 360, "height": 780}},
            id="phone-dark",
        ),
    ],
)
def test_the_checkout_has_no_serious_accessibility_violations(
    stack: dict[str, Any], merchant: Client, pages: Pages, label: str, options: dict[str, Any]
) -> None:
    payment = _create(merchant, "12.50", f"BROWSER-AXE-{label}")
    page = pages.new("page", **options)
    _open(page, stack, payment)
    expect(page.get_by_test_id("qr")).to_be_visible()

    assert serious_accessibility_violations(page, f"checkout-{label}") == []


def test_the_checkout_speaks_the_browsers_language(
    stack: dict[str, Any], merchant: Client, pages: Pages
) -> None:
    payment = _create(merchant, "1.50", "BROWSER-DE")
    page = pages.new("de", locale="de-DE")

    _open(page, stack, payment)

    expect(page.locator("html")).to_have_attribute("lang", re.compile(r"^de"))
    expect(page.get_by_test_id("status")).to_have_attribute("data-status", "pending")
    expect(page.get_by_test_id("status")).to_contain_text("Zahlung")


def test_a_fiat_priced_payment_shows_its_price_and_locked_rate(
    stack: dict[str, Any], merchant: Client, page: Page
) -> None:
    payment: dict[str, Any] = merchant.request(
        "POST", "/v1/payments", {"price": {"amount": "19.99", "currency": "EUR"}}
    )

    _open(page, stack, payment)

    assert amount_in(page.get_by_test_id("amount").text_content()) == Decimal("21.5892")
    price = page.get_by_test_id("price")
    expect(price).to_contain_text("19.99 EUR")
    expect(price).to_contain_text("1 EUR = 1.08 USDT")


def test_a_usdc_payment_asks_for_usdc_everywhere_on_the_page(
    stack: dict[str, Any], merchant: Client, page: Page
) -> None:
    payment = _create(merchant, "4.20", "BROWSER-USDC", currency="USDC")

    _open(page, stack, payment)

    expect(page.get_by_test_id("amount")).to_contain_text("USDC")
    expect(page.get_by_test_id("remaining")).to_contain_text("USDC")
    expect(page.get_by_text("USDC · BNB Smart Chain")).to_be_visible()
    expect(page.get_by_text("in USDC (BEP-20)")).to_be_visible()
    expect(page.get_by_text("USDT")).to_have_count(0)

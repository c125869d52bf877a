"""The admin console (/console/) in a real browser, against the local stack: sign-in as
the local users, the live payments view, four-eyes approval of a payout by two
different finance users, a viewer who is shown no write action (docs/adr/0024)."""

from __future__ import annotations

import json
import re
import secrets
import time
from decimal import Decimal
from typing import Any

import pytest
import requests
from bscpay_merchant import Client
from playwright.sync_api import Page, Route, expect

from shared.local import chain
from tests.browser.conftest import (
    OUTPUT,
    USDT,
    Pages,
    document_loads,
    login,
    serious_accessibility_violations,
    user_headers,
    wait_for,
)
from tests.e2e.conftest import Received, WebhookReceiver
from tests.e2e.conftest import receiver as receiver  # the fixture, shared with e2e
from tests.e2e.test_money_out import SETTLEMENT, _paid_and_swept

pytestmark = pytest.mark.e2e

# Buttons that change something; a viewer must be shown none of them.
WRITE_ACTION = re.compile(
    r"\b(approve|reject|create|new|add|suspend|resume|revoke|redeliver|rotate|delete|"
    r"payout|pay out|refund|confirm|release|return|rescan|save|edit|fund|book|queue)\b",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def pending_payout(stack: dict[str, Any]) -> dict[str, Any]:
    """A payout above the approval threshold (1,000 USDT), requested by ``finance``:
    it waits for a second finance user."""
    api = stack["api_url"]
    admin = user_headers(stack, "admin")
    created = requests.post(
        f"{api}/admin/merchants", json={"name": "Browser Payout Shop"}, headers=admin, timeout=30
    )
    assert created.status_code == 201, created.text
    shop = created.json()
    client = Client(api, shop["api_key"]["id"], shop["api_key"]["secret"])
    _paid_and_swept(stack, client, 1200)
    base = f"{api}/admin/merchants/{shop['id']}"
    profile = requests.post(
        f"{base}/settlement", json={"address": SETTLEMENT}, headers=admin, timeout=30
    )
    assert profile.status_code == 200, profile.text
    confirmed = requests.post(
        f"{base}/settlement/confirm", headers=user_headers(stack, "admin2"), timeout=30
    )
    assert confirmed.status_code == 200, confirmed.text
    requested = requests.post(
        f"{base}/payouts", json={}, headers=user_headers(stack, "finance"), timeout=30
    )
    assert requested.status_code == 201, requested.text
    payout: dict[str, Any] = requested.json()
    assert payout["status"] == "pending_approval", payout
    assert Decimal(payout["gross"]) > Decimal("1000")
    payout["client"] = client
    return payout


def _settlement_status(stack: dict[str, Any], payout_id: str) -> str:
    response = requests.get(
        f"{stack['api_url']}/admin/settlements/{payout_id}",
        headers=user_headers(stack, "viewer"),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def _write_buttons(page: Page) -> list[str]:
    names = []
    for button in page.get_by_role("button").all():
        if button.is_visible() and button.is_enabled():
            name = (button.get_attribute("aria-label") or button.inner_text()).strip()
            if WRITE_ACTION.search(name):
                names.append(name)
    return names


def test_console_login_and_a_new_payment_appears_in_the_live_view(
    stack: dict[str, Any], merchant: Client, page: Page
) -> None:
    loads = document_loads(page)
    login(page, stack, "viewer")
    page.get_by_test_id("nav-payments").click()
    table = page.get_by_test_id("payments-table")
    expect(table).to_be_visible()

    payment = merchant.request("POST", "/v1/payments", {"amount": "5", "order_id": "BROWSER-LIVE"})
    created = time.monotonic()
    row = table.get_by_test_id("payment-row").filter(has_text=payment["id"])

    # The issue asks for "within 2 s": measured and written down, not asserted (a busy
    # CI machine makes it slower, not wrong; docs/adr/0016). The wait proves it comes
    # without a reload.
    expect(row).to_be_visible(timeout=60_000)
    seconds = round(time.monotonic() - created, 2)
    (OUTPUT / "live-payments.json").write_text(json.dumps({"appeared_after_s": seconds}))
    print(f"new payment appeared in the console after {seconds} s")
    assert len([url for url in loads if "/console" in url]) == 1, loads  # no reload


def test_a_viewer_sees_the_approval_queue_but_no_write_buttons(
    stack: dict[str, Any], pending_payout: dict[str, Any], pages: Pages
) -> None:
    assert _settlement_status(stack, pending_payout["id"]) == "pending_approval"
    page = pages.new("viewer")
    login(page, stack, "viewer")

    page.get_by_test_id("nav-approvals").click()
    expect(page.get_by_text(pending_payout["id"]).first).to_be_visible()
    assert page.locator('[data-testid^="approve-"], [data-testid^="reject-"]').count() == 0
    assert _write_buttons(page) == []
    pages.screenshot(page, "viewer-approvals")

    page.get_by_test_id("nav-payments").click()
    expect(page.get_by_test_id("payments-table")).to_be_visible()
    # rows (and any per-row action) render from the loaded data: wait for them first
    expect(page.get_by_test_id("payment-row").first).to_be_visible()
    assert _write_buttons(page) == []


def test_a_payout_above_the_threshold_is_approved_by_a_second_finance_user(
    stack: dict[str, Any], pending_payout: dict[str, Any], pages: Pages
) -> None:
    payout_id = pending_payout["id"]
    # The finance user who requested it is not offered its approval (four eyes)
    requester = pages.new("finance")
    login(requester, stack, "finance")
    requester.get_by_test_id("nav-approvals").click()
    expect(requester.get_by_text(payout_id).first).to_be_visible()
    own = requester.get_by_test_id(f"approve-{payout_id}")
    if own.count():  # shown, then disabled (waits for the console to know who is signed in)
        expect(own).to_be_disabled()
    pages.screenshot(requester, "finance-own-request")

    # A second finance user approves it in the console
    approver = pages.new("finance2")
    login(approver, stack, "finance2")
    approver.get_by_test_id("nav-approvals").click()
    approve = approver.get_by_test_id(f"approve-{payout_id}")
    expect(approve).to_be_enabled()
    pages.screenshot(approver, "finance2-before-approval")
    approve.click()

    # and the payout leaves the queue and is paid on chain
    wait_for(
        lambda: _settlement_status(stack, payout_id) == "paid",
        "the approved payout to be paid",
        timeout=120,
        page=approver,
    )
    expect(approver.get_by_test_id(f"approve-{payout_id}")).to_have_count(0)
    settlement = pending_payout["client"].request("GET", f"/v1/settlements/{payout_id}")
    assert settlement["status"] == "paid"


def test_the_console_has_no_serious_accessibility_violations(
    stack: dict[str, Any], pages: Pages
) -> None:
    signed_out = pages.new("login")
    signed_out.goto(f"{stack['api_url']}/console/")
    expect(signed_out.get_by_test_id("login")).to_be_visible()
    assert serious_accessibility_violations(signed_out, "console-login") == []

    page = pages.new("payments")
    login(page, stack, "finance")
    page.get_by_test_id("nav-payments").click()
    expect(page.get_by_test_id("payments-table")).to_be_visible()
    assert serious_accessibility_violations(page, "console-payments") == []

    page.get_by_test_id("nav-approvals").click()
    expect(page.get_by_test_id("nav-approvals")).to_be_visible()
    assert serious_accessibility_violations(page, "console-approvals") == []

    page.get_by_test_id("nav-treasury").click()
    expect(page.get_by_test_id("gas-funding")).to_be_visible()
    assert serious_accessibility_violations(page, "console-treasury") == []

    page.get_by_test_id("nav-reports").click()
    expect(page.get_by_test_id("download")).to_be_visible()
    assert serious_accessibility_violations(page, "console-reports") == []


def test_payment_detail_shows_its_transfer_events_and_deliveries_and_only_support_may_redeliver(
    stack: dict[str, Any], merchant: Client, pages: Pages, receiver: WebhookReceiver
) -> None:
    endpoint = merchant.request(
        "POST", "/v1/webhook_endpoints", {"url": receiver.url, "events": ["payment.paid"]}
    )
    payment = merchant.request(
        "POST", "/v1/payments", {"amount": "2", "order_id": "BROWSER-DETAIL"}
    )
    tx_hash = chain.transfer(
        stack["rpc_url"],
        stack["token_address"],
        stack["customer"]["private_key"],
        payment["address"],
        2 * USDT,
    )
    wait_for(
        lambda: merchant.request("GET", f"/v1/payments/{payment['id']}")["status"] == "paid",
        "the payment to be paid",
        timeout=90,
    )
    detail = f"{stack['api_url']}/console/payments/{payment['id']}"

    # A viewer sees the transfer and the payment.paid event, and no redeliver button
    viewer = pages.new("viewer")
    login(viewer, stack, "viewer")
    viewer.goto(detail)
    transfer = viewer.locator(f'[title="{tx_hash}" i]').first  # the hash, shortened on screen
    expect(transfer).to_be_visible()
    events = viewer.get_by_test_id("events-table")
    expect(events).to_contain_text("payment.paid")
    expect(viewer.locator('[data-testid^="redeliver-"]')).to_have_count(0)
    assert _write_buttons(viewer) == []

    # and the webhook delivery of payment.paid to the merchant's endpoint
    def paid_hooks() -> list[Received]:
        return receiver.wait_for(
            lambda r: json.loads(r.body)["data"]["object"]["id"] == payment["id"], timeout=60
        )

    assert len(paid_hooks()) == 1
    deliveries = viewer.get_by_test_id("deliveries-table")
    delivered = deliveries.locator("tbody tr", has_text="payment.paid")
    expect(delivered).to_have_count(1, timeout=15_000)
    expect(delivered.first).to_contain_text("delivered")
    expect(delivered.first).to_contain_text("HTTP 200")
    expect(delivered.first.locator(f'[title="{endpoint["id"]}"]')).to_be_visible()

    # support may redeliver each event: a second delivery arrives and is listed
    support = pages.new("support")
    login(support, stack, "support")
    support.goto(detail)
    paid_row = support.get_by_test_id("events-table").locator("tbody tr", has_text="payment.paid")
    redeliver = paid_row.locator('[data-testid^="redeliver-"]')
    expect(redeliver).to_be_enabled()
    redeliver.click()
    wait_for(lambda: len(paid_hooks()) == 2, "the redelivered payment.paid", timeout=60)
    expect(
        support.get_by_test_id("deliveries-table").locator("tbody tr", has_text="payment.paid")
    ).to_have_count(2, timeout=15_000)


def test_finance_books_gas_support_rescans_and_a_viewer_only_reads_the_treasury(
    stack: dict[str, Any], pages: Pages
) -> None:
    treasury = f"{stack['api_url']}/console/treasury"
    viewer = pages.new("viewer")
    login(viewer, stack, "viewer")
    viewer.goto(treasury)
    expect(viewer.get_by_text("Hot wallet address")).to_be_visible()
    expect(viewer.get_by_test_id("gas-funding")).to_have_count(0)
    expect(viewer.get_by_test_id("rescan")).to_have_count(0)
    assert _write_buttons(viewer) == []

    # finance books BNB a real transaction sent to the hot wallet
    hot = requests.get(
        f"{stack['api_url']}/admin/treasury", headers=user_headers(stack, "viewer"), timeout=30
    ).json()["hot_wallet"]
    tx_hash = chain.rpc_call(
        stack["rpc_url"],
        "eth_sendTransaction",
        {"from": stack["customer"]["address"], "to": hot, "value": hex(25 * 10**16)},
    )
    finance = pages.new("finance")
    login(finance, stack, "finance")
    finance.goto(treasury)
    form = finance.get_by_test_id("gas-funding")
    form.get_by_role("textbox").fill(tx_hash)
    form.get_by_test_id("gas-funding-submit").click()
    expect(finance.get_by_test_id("gas-funding-done")).to_contain_text("Booked 0.25 BNB")
    # a hash of no transaction is refused, and the form says why
    form.get_by_role("textbox").fill("0x" + "ab" * 32)
    form.get_by_test_id("gas-funding-submit").click()
    expect(form.get_by_role("alert")).to_contain_text("no mined transaction")
    expect(finance.get_by_test_id("rescan")).to_have_count(0)  # rescans are support's

    # support queues a rescan of two blocks
    support = pages.new("support")
    login(support, stack, "support")
    support.goto(treasury)
    rescan = support.get_by_test_id("rescan")
    rescan.get_by_label("From block").fill("1")
    rescan.get_by_label("To block").fill("2")
    rescan.get_by_test_id("rescan-submit").click()
    expect(support.get_by_test_id("rescan-done")).to_contain_text("Blocks 1")
    expect(support.get_by_test_id("gas-funding")).to_have_count(0)


def test_a_viewer_downloads_a_payments_export_and_a_statement_needs_a_merchant(
    stack: dict[str, Any], merchant: Client, pages: Pages
) -> None:
    payment = merchant.request("POST", "/v1/payments", {"amount": "3", "order_id": "BROWSER-CSV"})
    page = pages.new("viewer")
    login(page, stack, "viewer")
    page.get_by_test_id("nav-reports").click()
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    page.get_by_test_id("download-to").fill(tomorrow)
    with page.expect_download() as download:
        page.get_by_test_id("download").click()
    path = download.value.path()
    assert download.value.suggested_filename.endswith(".csv")
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("id,") or "id" in text.splitlines()[0], text[:200]
    assert payment["id"] in text
    expect(page.get_by_test_id("download-saved")).to_be_visible()

    # a statement is per merchant: the console asks for one instead of calling the API
    page.get_by_test_id("download-kind").select_option("statement")
    page.get_by_test_id("download").click()
    expect(page.get_by_role("alert")).to_contain_text("Choose a merchant")


def test_support_adds_and_removes_a_blocklisted_address_and_a_viewer_only_reads(
    stack: dict[str, Any], pages: Pages
) -> None:
    address = "0x" + secrets.token_hex(20)
    support = pages.new("support")
    login(support, stack, "support")
    support.get_by_test_id("nav-blocklist").click()
    support.get_by_test_id("blocklist-address").fill(address)
    support.get_by_test_id("blocklist-reason").fill("browser test: sanctioned address")
    support.get_by_test_id("blocklist-add").click()
    row = support.get_by_test_id("blocklist-row").filter(has_text=address)
    expect(row).to_contain_text("browser test: sanctioned address")
    pages.screenshot(support, "support-blocklist")

    # A viewer sees the entry and no way to change the list
    viewer = pages.new("viewer")
    login(viewer, stack, "viewer")
    viewer.get_by_test_id("nav-blocklist").click()
    expect(viewer.get_by_test_id("blocklist-row").filter(has_text=address)).to_be_visible()
    hooks = '[data-testid="blocklist-add"], [data-testid^="blocklist-remove-"]'
    expect(viewer.locator(hooks)).to_have_count(0)
    assert _write_buttons(viewer) == []

    support.get_by_test_id(f"blocklist-remove-{address}").click()
    expect(row).to_have_count(0)
    listed = requests.get(
        f"{stack['api_url']}/admin/screening/blocklist",
        headers=user_headers(stack, "viewer"),
        timeout=30,
    )
    assert address not in listed.text


def test_first_cognito_login_sets_up_totp_when_mfa_is_required(
    stack: dict[str, Any], pages: Pages
) -> None:
    """Cognito mode against a mocked user pool: InitiateAuth answers MFA_SETUP, the console
    associates a software token, shows it as an otpauth QR + text, verifies the first code
    and finishes the challenge (the local CSP has no cognito-idp in connect-src: bypassed)."""
    real = requests.post(
        f"{stack['api_url']}/console/auth/login", json=stack["users"]["admin"], timeout=30
    )
    assert real.status_code == 200, real.text
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    answers = {
        "InitiateAuth": {"ChallengeName": "MFA_SETUP", "Session": "s1"},
        "AssociateSoftwareToken": {"SecretCode": secret, "Session": "s2"},
        "VerifySoftwareToken": {"Status": "SUCCESS", "Session": "s3"},
        "RespondToAuthChallenge": {
            "AuthenticationResult": {"IdToken": real.json()["id_token"], "ExpiresIn": 3600}
        },
    }
    calls: list[tuple[str, dict[str, Any]]] = []

    def cognito(route: Route) -> None:
        action = route.request.headers["x-amz-target"].rpartition(".")[2]
        calls.append((action, json.loads(route.request.post_data or "{}")))
        route.fulfill(content_type="application/x-amz-json-1.1", body=json.dumps(answers[action]))

    config = {
        "mode": "cognito",
        "region": "eu-central-1",
        "user_pool_id": "eu-central-1_x",
        "client_id": "client1",
        "api_base": "",
    }
    page = pages.new("mfa-setup", bypass_csp=True)
    page.route("**/console/config.json", lambda r: r.fulfill(json=config))
    page.route("https://cognito-idp.eu-central-1.amazonaws.com/**", cognito)
    page.goto(f"{stack['api_url']}/console/")
    page.get_by_test_id("username").fill("firstadmin")
    page.get_by_test_id("password").fill("Temporary-Pass-1")
    page.get_by_test_id("login").click()
    expect(page.get_by_test_id("mfa-setup-secret")).to_have_text(secret)
    qr = page.get_by_test_id("mfa-setup-qr")
    expect(qr).to_have_attribute(
        "aria-label",
        re.compile(re.escape(f"otpauth://totp/bscpay:firstadmin?secret={secret}&issuer=bscpay")),
    )
    pages.screenshot(page, "mfa-setup-qr")
    page.get_by_test_id("mfa-setup-code").fill("123456")
    page.get_by_test_id("mfa-setup-submit").click()
    expect(page.get_by_test_id("nav-blocklist")).to_be_visible()
    assert [a for a, _ in calls] == list(answers), calls
    assert calls[1][1] == {"Session": "s1"}
    assert calls[2][1] == {
        "Session": "s2",
        "UserCode": "123456",
        "FriendlyDeviceName": "bscpay console",
    }
    assert calls[3][1]["ChallengeName"] == "MFA_SETUP" and calls[3][1]["Session"] == "s3"
    assert calls[3][1]["ChallengeResponses"] == {"USERNAME": "firstadmin"}

"""The web faces on the running local stack, over HTTP (issue 13): a payment's
checkout_url opens the hosted checkout page, whose status endpoint answers; the console
page, its config and its sign-in; assets with their content types and no way out of
web/dist.

Build-independent: with web/dist built (``make web``) the pages are the built HTML;
without it they are a 404 saying to run ``make web``."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from bscpay_merchant import Client

from shared.local.stack import REPO_ROOT

pytestmark = pytest.mark.e2e

DIST = REPO_ROOT / "web" / "dist"


def _client(stack: dict[str, Any]) -> Client:
    m = stack["merchant"]
    return Client(stack["api_url"], m["api_key_id"], m["api_secret"])


def _assert_page(response: requests.Response, face: str) -> None:
    index = DIST / face / "index.html"
    if index.is_file():
        assert response.status_code == 200, response.text[:200]
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.content == index.read_bytes()
    else:
        assert response.status_code == 404
        assert "make web" in response.text
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_checkout_url_opens_the_checkout_page_and_its_status(stack: dict[str, Any]) -> None:
    # Given a payment created by the merchant with a success URL
    payment = _client(stack).request(
        "POST",
        "/v1/payments",
        {"amount": "3.5", "order_id": "WEB-1", "success_url": "https://shop.example/ok"},
    )
    assert payment["checkout_url"] == f"{stack['api_url']}/pay/{payment['id']}"

    # When the customer opens the checkout URL
    page = requests.get(payment["checkout_url"], timeout=10)

    # Then the checkout page is served (or the stack says to build it)
    _assert_page(page, "checkout")
    # and the page's status endpoint answers the contract, never cached
    status = requests.get(payment["checkout_url"] + "/status", timeout=10)
    assert status.status_code == 200, status.text
    assert status.headers["Cache-Control"] == "no-store"
    body = status.json()
    assert (body["id"], body["object"], body["status"]) == (payment["id"], "checkout", "pending")
    assert (body["amount"], body["amount_remaining"]) == ("3.5", "3.5")
    assert body["merchant_name"] == "Local Demo Shop"
    assert body["success_url"] == "https://shop.example/ok"
    assert "WEB-1" not in status.text and stack["merchant"]["id"] not in status.text
    # and an unknown payment is a JSON 404
    missing = requests.get(f"{stack['api_url']}/pay/pay_{'0' * 32}/status", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"


def test_the_console_pages_and_config(stack: dict[str, Any]) -> None:
    base = stack["api_url"]
    for path in ("/console/", "/console/payments", "/console/payments/pay_1"):
        _assert_page(requests.get(base + path, timeout=10), "console")
    moved = requests.get(base + "/console", timeout=10, allow_redirects=False)
    assert moved.status_code == 308 and moved.headers["Location"] == "/console/"

    config = requests.get(base + "/console/config.json", timeout=10)
    assert config.status_code == 200
    assert config.json() == {
        "mode": "local",
        "region": stack["region"],
        "user_pool_id": stack["admin"]["user_pool_id"],
        "client_id": stack["admin"]["client_id"],
        "api_base": "",
    }


def test_console_sign_in_gives_a_token_the_admin_api_accepts(stack: dict[str, Any]) -> None:
    # Given the local finance user
    user = stack["users"]["finance"]
    url = stack["api_url"] + "/console/auth/login"

    # When the console signs in with the right password
    ok = requests.post(url, json={"username": user["username"], "password": user["password"]})

    # Then it gets an ID token that the admin API accepts
    assert ok.status_code == 200, ok.text
    assert ok.headers["Cache-Control"] == "no-store"
    token = ok.json()["id_token"]
    assert ok.json()["expires_in"] > 0
    treasury = requests.get(
        stack["api_url"] + "/admin/payments", headers={"Authorization": token}, timeout=10
    )
    assert treasury.status_code == 200, treasury.text

    # and a wrong password, an unknown user or a bad body are refused without a token
    wrong = requests.post(url, json={"username": user["username"], "password": "nope-nope"})
    assert wrong.status_code == 401 and "id_token" not in wrong.text
    assert user["password"] not in wrong.text
    unknown = requests.post(url, json={"username": "mallory@x", "password": "x" * 20})
    assert unknown.status_code == 401
    assert (
        requests.post(url, data="{", headers={"Content-Type": "application/json"}).status_code
        == 400
    )
    assert requests.post(url, json=["a", "b"]).status_code == 422
    assert requests.post(url, json={"username": 1, "password": 2}).status_code == 422
    assert (
        requests.post(url, data="username=a", headers={"Content-Type": "text/plain"}).status_code
        == 415
    )
    assert requests.get(url, timeout=10).status_code == 405


@pytest.mark.parametrize(
    "path",
    [
        "/assets/../../pyproject.toml",
        "/assets/%2e%2e/%2e%2e/pyproject.toml",
        "/assets/..%2f..%2fpyproject.toml",
        "/assets/.hidden",
        "/assets/",
        "/assets/nope-123.js",
        "/assets/%00.js",
    ],
)
def test_no_asset_path_leaves_web_dist(stack: dict[str, Any], path: str) -> None:
    # requests would normalise "..": send the path as written
    session = requests.Session()
    prepared = requests.Request("GET", stack["api_url"] + "/x").prepare()
    prepared.url = stack["api_url"] + path
    response = session.send(prepared, timeout=10)
    assert response.status_code == 404
    assert "[tool" not in response.text  # pyproject.toml's content never comes back


def test_built_assets_are_served_with_their_content_type(stack: dict[str, Any]) -> None:
    assets = sorted((DIST / "assets").glob("*")) if (DIST / "assets").is_dir() else []
    wanted = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    checked = 0
    for asset in assets:
        if asset.suffix in wanted:
            response = requests.get(f"{stack['api_url']}/assets/{asset.name}", timeout=10)
            assert response.status_code == 200
            assert response.headers["Content-Type"].startswith(wanted[asset.suffix])
            assert response.content == asset.read_bytes()
            checked += 1
    if not assets:
        missing = requests.get(f"{stack['api_url']}/assets/checkout.js", timeout=10)
        assert missing.status_code == 404 and "make web" in missing.text
    else:
        assert checked

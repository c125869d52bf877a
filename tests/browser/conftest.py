"""Browser fixtures: the whole local stack (as `make run` starts it, on free ports, once
per session) serving the built web faces (web/dist, `make web`), and one headless
Chromium from Debian's ``chromium`` package driven by Playwright (never ``playwright
install``: that downloads a browser build from a host CI cannot reach).

Every test leaves a full-page screenshot of each page it opened under
``test-output/browser/`` (kept after a failed run, like the stack's logs)."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from shared.local import chain
from shared.local.chain import free_port
from shared.local.stack import REPO_ROOT, LocalStack, StackConfig
from tests.conftest import fresh_output_dir

# tests.e2e.conftest puts merchant/ on sys.path for bscpay_merchant
from tests.e2e.conftest import user_headers

from bscpay_merchant import Client  # isort: skip

CHROMIUM = os.environ.get("BSCPAY_CHROMIUM", "/usr/bin/chromium")
# Generous deadlines (docs/adr/0016): a wait returns as soon as its condition holds.
WAIT_MS = 60_000
OUTPUT = fresh_output_dir("browser")
WEB_DIST = REPO_ROOT / "web" / "dist"

expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="session")
def stack() -> Iterator[dict[str, Any]]:
    missing = [
        page
        for page in ("checkout/index.html", "console/index.html")
        if not (WEB_DIST / page).is_file()
    ]
    if missing:
        pytest.fail(f"web/dist is not built ({', '.join(missing)} missing): run `make web`")
    for old in OUTPUT.glob("*.png"):
        old.unlink()
    cfg = StackConfig(
        api_port=free_port(),
        rpc_port=free_port(),
        aws_port=free_port(),
        prefix="bscpay-browser",
        state_file=None,
        log_dir=OUTPUT,
        expirer_interval_s=2.0,
    )
    local = LocalStack(cfg).start()
    yield local.info
    local.stop()
    assert not local.worker_errors, local.worker_errors


@pytest.fixture(scope="session")
def merchant(stack: dict[str, Any]) -> Client:
    """The local stack's demo merchant, over the signed merchant API."""
    m = stack["merchant"]
    return Client(stack["api_url"], m["api_key_id"], m["api_secret"])


@pytest.fixture(scope="session", autouse=True)
def expiring_payment(stack: dict[str, Any], merchant: Client) -> dict[str, Any]:
    """A payment with the shortest expiry the API allows (60 s), made when the session
    starts so that it has expired by the time the expiry test looks at it."""
    payment: dict[str, Any] = merchant.request(
        "POST", "/v1/payments", {"amount": "4.20", "expires_in": 60, "order_id": "BROWSER-EXP"}
    )
    return payment


@pytest.fixture(scope="session", autouse=True)
def underpaid_payment(stack: dict[str, Any], merchant: Client) -> dict[str, Any]:
    """10 USDT due, 7.5 paid, 60 s expiry, made when the session starts: a payment is
    ``underpaid`` only once its time is up (shared.payments.state)."""
    payment: dict[str, Any] = merchant.request(
        "POST", "/v1/payments", {"amount": "10", "expires_in": 60, "order_id": "BROWSER-UNDER-EXP"}
    )
    chain.transfer(
        stack["rpc_url"],
        stack["token_address"],
        stack["customer"]["private_key"],
        payment["address"],
        75 * USDT // 10,
    )
    return payment


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
        )
        yield chromium
        chromium.close()


@dataclass
class Pages:
    """Opens pages (each in its own context: separate storage, like separate people)
    and screenshots each one when the test ends."""

    browser: Browser
    test_name: str
    opened: list[tuple[str, Page, BrowserContext]] = field(default_factory=list)

    def new(self, label: str = "page", **context_options: Any) -> Page:
        options: dict[str, Any] = {
            "viewport": {"width": 1280, "height": 900},
            "locale": "en-US",
            "device_scale_factor": 2,  # a crisper QR for the decoder
            **context_options,
        }
        context = self.browser.new_context(**options)
        context.set_default_timeout(WAIT_MS)
        context.set_default_navigation_timeout(WAIT_MS)
        page = context.new_page()
        self.opened.append((label, page, context))
        return page

    def screenshot(self, page: Page, label: str) -> Path:
        path = OUTPUT / f"{_safe(self.test_name)}-{_safe(label)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        for label, page, context in self.opened:
            try:
                if not page.is_closed():
                    self.screenshot(page, label)
            finally:
                context.close()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


@pytest.fixture
def pages(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Pages]:
    opened = Pages(browser, request.node.name)
    yield opened
    opened.close()


@pytest.fixture
def page(pages: Pages) -> Page:
    return pages.new()


@dataclass
class ReturnSite:
    """The merchant's shop: the success_url / cancel_url pages the checkout returns to."""

    url: str
    visits: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def shop() -> Iterator[ReturnSite]:
    port = free_port()
    site = ReturnSite(url=f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.visits.append(self.path)
            body = (
                b'<!doctype html><html lang="en"><head><title>Order complete</title></head>'
                b"<body><main><h1>Thank you for your order</h1></main></body></html>"
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    server.server_close()


# ---- helpers the tests share -----------------------------------------------------------

USDT = 10**18
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def amount_in(text: str | None) -> Decimal:
    """The first decimal number in a text such as "12.50 USDT" (en-US grouping)."""
    found = NUMBER.search(text or "")
    assert found, f"no amount in {text!r}"
    return Decimal(found.group().replace(",", ""))


def amount_pattern(value: Decimal) -> re.Pattern[str]:
    """Matches ``value`` written with any number of trailing zeros: 2.5, 2.50, 2.500000."""
    whole, _, frac = format(value.normalize(), "f").partition(".")
    whole = f"{int(whole):,}".replace(",", ",?")
    decimals = rf"\.{frac}0*" if frac else r"(?:\.0+)?"
    return re.compile(rf"(?<![\d.,]){whole}{decimals}(?![\d])")


def checkout_status(stack: dict[str, Any], payment_id: str) -> dict[str, Any]:
    """The public checkout status endpoint, as the page reads it."""
    response = requests.get(f"{stack['api_url']}/pay/{payment_id}/status", timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for(
    check: Callable[[], Any], what: str, timeout: float = 60, page: Page | None = None
) -> Any:
    """Poll ``check`` until it returns something truthy (docs/adr/0016). With a ``page``
    the pause between polls is Playwright's, so the page's callbacks into the test (the
    test wallet, status recorders) keep being answered meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        if page is not None:
            page.wait_for_timeout(250)
        else:
            time.sleep(0.25)


def serious_accessibility_violations(page: Page, name: str) -> list[str]:
    """An axe-core scan of the page as it is now (axe.min.js shipped with
    axe-playwright-python, injected through the DevTools protocol: the page's CSP does
    not apply). The whole result goes to test-output/browser/axe-<name>.json; returns a
    line per serious or critical violation."""
    results = Axe().run(page)
    (OUTPUT / f"axe-{_safe(name)}.json").write_text(json.dumps(results.response, indent=2))
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -- "
        + "; ".join(str(n.get("target")) for n in v["nodes"][:5])
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def record_statuses(page: Page) -> list[str]:
    """Every text the checkout's ``data-testid="status"`` shows, in order, as the page
    changes it (a MutationObserver in each document, before the page's own scripts)."""
    seen: list[str] = []

    def saw(text: str) -> None:
        seen.append(text)

    page.expose_function("__bscpayStatusSeen", saw)
    page.add_init_script(
        """(() => {
          let last = null;
          const report = () => {
            const el = document.querySelector('[data-testid="status"]');
            const text = el ? el.textContent.trim() : null;
            if (text && text !== last) { last = text; window.__bscpayStatusSeen(text); }
          };
          new MutationObserver(report).observe(document, {
            subtree: true, childList: true, characterData: true, attributes: true,
          });
        })();"""
    )
    return seen


def document_loads(page: Page) -> list[str]:
    """The URL of every document the page loads (a reload shows up twice)."""
    loads: list[str] = []
    page.on("load", lambda p: loads.append(p.url))
    return loads


def login(page: Page, stack: dict[str, Any], user: str) -> None:
    """Sign in to the console as one of the local stack's users (``stack["users"]``)."""
    creds = stack["users"][user]
    page.goto(f"{stack['api_url']}/console/")
    page.get_by_test_id("username").fill(creds["username"])
    page.get_by_test_id("password").fill(creds["password"])
    page.get_by_test_id("login").click()
    expect(page.locator('[data-testid^="nav-"]').first).to_be_visible()


__all__ = [
    "USDT",
    "Pages",
    "ReturnSite",
    "amount_in",
    "amount_pattern",
    "checkout_status",
    "document_loads",
    "login",
    "record_statuses",
    "serious_accessibility_violations",
    "user_headers",
    "wait_for",
]

"""Per-client limit of the public checkout status endpoint.

A fixed window counter per client IP in DynamoDB (one atomic ``ADD`` per request, items
expire by TTL): every Lambda container sees the same count, unlike an in-memory bucket.
In AWS the API Gateway stage throttle and the WAF's per-IP rate rule sit in front of it
(infra/cdk/constructs/api.py); this limit is tighter and specific to the page, which
polls about every 2 s (30 requests a minute), well under the default of 120.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping

from shared import config
from shared.aws import secrets as aws_secrets
from shared.dal import checkout as checkout_repo
from shared.errors import Throttled


class CheckoutThrottled(Throttled):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__("too many requests from this address; retry later")
        self.retry_after_s = retry_after_s


ORIGIN_VERIFY_HEADER = "x-origin-verify"


def _from_our_proxy(headers: Mapping[str, str]) -> bool:
    """Whether the request came through our CloudFront (it carries the origin secret).
    Without a configured secret (local stack) the proxy header is believed as before."""
    settings = config.checkout()
    try:
        expected = settings.origin_secret.get_secret_value() or aws_secrets.read(
            settings.origin_secret_arn
        )
    except Exception:  # the secret unreadable: count by source IP, never fail the page
        return False
    if not expected:
        return not settings.origin_secret_arn  # configured but empty: believe nothing
    sent = next((v for k, v in headers.items() if k.lower() == ORIGIN_VERIFY_HEADER), "")
    return hmac.compare_digest(sent.encode(), expected.encode())


def client_ip(headers: Mapping[str, str] | None, source_ip: str | None) -> str:
    """The viewer's address: from the configured proxy header (CloudFront's
    ``CloudFront-Viewer-Address`` is "ip:port") when the request came through our
    proxy, else the connection's source IP."""
    name = config.checkout().client_ip_header.lower()
    if name and headers and _from_our_proxy(headers):
        value = next((v for k, v in headers.items() if k.lower() == name), "")
        text = value.split(",")[0].strip()  # X-Forwarded-For style: the first hop
        if name == "cloudfront-viewer-address":  # "ip:port", IPv6 without brackets
            text = text.rsplit(":", 1)[0]
        try:
            return str(ipaddress.ip_address(text.strip("[]")))
        except ValueError:
            pass
    return source_ip or "unknown"


def check(client: str, now: float) -> None:
    """Count this request; raise CheckoutThrottled past the limit of the window."""
    settings = config.checkout()
    window = settings.rate_window_s
    start = int(now) // window * window
    # The address is hashed: the table only needs to tell clients apart.
    who = hashlib.sha256(client.encode()).hexdigest()[:32]
    hits = checkout_repo.hit(f"status#{who}#{start}", expires_at=start + 2 * window)
    if hits > settings.rate_limit:
        raise CheckoutThrottled(retry_after_s=max(start + window - int(now), 1))

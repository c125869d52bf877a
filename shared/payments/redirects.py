"""Where the hosted checkout may send a customer: a payment's ``success_url`` and
``cancel_url`` (issue 13).

The customer's browser follows these, our servers never fetch them, so there is no
SSRF to guard against (unlike webhook URLs, shared/webhooks/ssrf.py) and no DNS lookup.
What is refused: anything but https (http only in local mode, as for webhooks) so no
``javascript:`` or ``data:`` URL ever reaches the page, URLs without a host, URLs with
credentials, and whitespace or control characters.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from shared.errors import ValidationFailed

MAX_LENGTH = 2048


def check_redirect_url(url: str, local_mode: bool, param: str) -> str:
    if len(url) > MAX_LENGTH:
        raise ValidationFailed(f"{param} is longer than {MAX_LENGTH} characters", param)
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise ValidationFailed(f"{param} must not contain whitespace or control characters", param)
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValidationFailed(f"{param} is malformed", param) from exc
    allowed = ("https", "http") if local_mode else ("https",)
    if parts.scheme not in allowed:
        raise ValidationFailed(f"{param} must use {' or '.join(allowed)}", param)
    if not hostname or parts.username is not None or parts.password is not None:
        raise ValidationFailed(f"{param} needs a host and no credentials", param)
    return url

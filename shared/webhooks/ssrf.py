"""Where a webhook may be sent. Checked at registration and again at every delivery.

Only http(s); https outside local mode. The host is resolved and every address must
be public: loopback, private, link-local (169.254.169.254 included), CGNAT,
unique-local, IPv4-mapped IPv6, multicast, reserved and unspecified are refused.
Local mode additionally allows loopback (and nothing else non-public). The caller
connects to the checked IP, so a DNS answer cannot change between check and use.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.errors import ValidationFailed

_CGNAT = ipaddress.ip_network("100.64.0.0/10")


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    ip: str
    path: str  # path and query


def _blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_loopback: bool) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and (
        ip.ipv4_mapped is not None  # ::ffff:a.b.c.d hides an IPv4 target
        or ip.sixtofour is not None  # 2002:a.b.c.d::/48 (6to4) embeds one too
        or ip.teredo is not None
        or ip.is_site_local  # fec0::/10, deprecated but still routed internally
    ):
        return True
    if ip.is_loopback:
        return not allow_loopback
    return (
        ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT)
        or not ip.is_global
    )


def check_url(url: str, local_mode: bool) -> Target:
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as exc:  # e.g. "https://[::1" (unbalanced IPv6 brackets)
        raise ValidationFailed("webhook URL is malformed", "url") from exc
    allowed = {"https", "http"} if local_mode else {"https"}
    if parts.scheme not in allowed:
        raise ValidationFailed(f"webhook URL scheme must be one of {sorted(allowed)}", "url")
    if not hostname or parts.username or parts.password:
        raise ValidationFailed("webhook URL needs a host and no credentials", "url")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ValidationFailed("webhook URL has an invalid port", "url") from exc
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValidationFailed("webhook URL host does not resolve", "url") from exc
    ips = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not ips or any(_blocked(ip, allow_loopback=local_mode) for ip in ips):
        raise ValidationFailed("webhook URL resolves to a non-public address", "url")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, hostname, port, str(ips[0]), path)

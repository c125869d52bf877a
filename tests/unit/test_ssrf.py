"""Where a webhook may be sent (DESIGN §6): public https targets only; loopback is
the single exception, and only in local mode. IP-literal URLs: no DNS needed."""

from __future__ import annotations

import pytest

from shared.errors import ValidationFailed
from shared.webhooks.ssrf import Target, check_url

# Refused in every mode, including local mode (plain http is allowed there, so only
# the address can be the reason).
NEVER = [
    "http://169.254.169.254/latest/meta-data/",  # the instance metadata service
    "http://169.254.0.1/",
    "http://10.0.0.1/",
    "http://10.255.255.254:8080/hook",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # CGNAT
    "http://100.127.255.254/",
    "http://0.0.0.0:8080/",  # reaches this host on Linux
    "http://0/",  # 0.0.0.0 in short form
    "http://[::]/",
    "http://[fc00::1]/",  # unique local
    "http://[fd12:3456:789a::1]/",
    "http://[fe80::1]/",  # link-local
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:10.0.0.1]/",
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",
    "http://192.0.2.10/",  # documentation (not globally routable)
    "http://198.18.0.1/",  # benchmarking
    "http://[2001:db8::1]/",
]

LOOPBACK = [
    "https://127.0.0.1/hook",
    "https://127.0.0.1:8443/hook",
    "https://127.255.255.254/",
    "https://[::1]/hook",
    "https://127.1/",  # short form of 127.0.0.1
    "https://2130706433/",  # 127.0.0.1 as a single decimal number
    "https://0x7f.1/",  # hexadecimal form
]


@pytest.mark.parametrize("url", NEVER)
@pytest.mark.parametrize("local_mode", [False, True])
def test_non_public_addresses_are_refused_in_every_mode(url: str, local_mode: bool) -> None:
    # Given a webhook URL whose host is private, link-local, CGNAT, mapped or reserved
    target = url.replace("http://", "https://") if not local_mode else url

    # When it is checked, Then it is refused for its address
    with pytest.raises(ValidationFailed, match="non-public") as raised:
        check_url(target, local_mode=local_mode)
    assert raised.value.param == "url"
    assert raised.value.status == 422


@pytest.mark.parametrize("url", LOOPBACK)
def test_loopback_is_refused_outside_local_mode(url: str) -> None:
    with pytest.raises(ValidationFailed, match="non-public"):
        check_url(url, local_mode=False)


@pytest.mark.parametrize("url", LOOPBACK)
def test_loopback_is_allowed_in_local_mode(url: str) -> None:
    # Given the local stack (webhook receivers run on this machine)
    # When a loopback target is checked, Then it is allowed and pinned to a loopback IP
    target = check_url(url.replace("https://", "http://"), local_mode=True)
    assert target.ip in {"127.0.0.1", "127.255.255.254", "::1"}


def test_public_https_target_is_pinned_to_its_checked_ip() -> None:
    # Given a public IP-literal https URL with a port, path and query
    # When checked outside local mode
    target = check_url("https://93.184.216.34:8443/hooks/bscpay?src=1", local_mode=False)

    # Then the delivery connects to exactly the checked address
    assert target == Target(
        scheme="https",
        host="93.184.216.34",
        port=8443,
        ip="93.184.216.34",
        path="/hooks/bscpay?src=1",
    )


def test_public_ipv6_target_defaults_to_port_443_and_root_path() -> None:
    target = check_url("https://[2606:4700:4700::1111]", local_mode=False)
    assert (target.ip, target.port, target.path) == ("2606:4700:4700::1111", 443, "/")


def test_plain_http_is_refused_outside_local_mode() -> None:
    with pytest.raises(ValidationFailed, match="scheme"):
        check_url("http://93.184.216.34/hook", local_mode=False)


def test_plain_http_to_loopback_is_allowed_in_local_mode() -> None:
    target = check_url("http://127.0.0.1:9000/hook", local_mode=True)
    assert (target.scheme, target.ip, target.port, target.path) == (
        "http",
        "127.0.0.1",
        9000,
        "/hook",
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.216.34/",
        "file:///etc/passwd",
        "gopher://93.184.216.34:70/",
        "javascript:alert(1)",
        "//93.184.216.34/hook",
        "93.184.216.34/hook",
        "",
    ],
)
@pytest.mark.parametrize("local_mode", [False, True])
def test_only_http_schemes_are_accepted(url: str, local_mode: bool) -> None:
    with pytest.raises(ValidationFailed, match="scheme"):
        check_url(url, local_mode=local_mode)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:password@93.184.216.34/hook",
        "https://user@93.184.216.34/hook",
        "https://:password@93.184.216.34/hook",
        "https://admin:admin@127.0.0.1:9000/hook",
    ],
)
@pytest.mark.parametrize("local_mode", [False, True])
def test_credentials_in_the_url_are_refused(url: str, local_mode: bool) -> None:
    with pytest.raises(ValidationFailed, match="credentials"):
        check_url(url, local_mode=local_mode)


@pytest.mark.parametrize(
    "url",
    ["https://93.184.216.34:99999/", "https://93.184.216.34:port/", "https:///hook", "https://"],
)
def test_a_url_without_a_usable_host_or_port_is_refused(url: str) -> None:
    with pytest.raises(ValidationFailed):
        check_url(url, local_mode=False)

"""The local stack's web front (shared/local/web.py) on a web/dist of our own: pages and
assets when built, a 404 that says `make web` when not, never a file outside web/dist."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.local.web import LocalWeb


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "checkout").mkdir(parents=True)
    (root / "console").mkdir()
    (root / "assets" / "img").mkdir(parents=True)
    (root / "checkout" / "index.html").write_text("<!doctype html><title>checkout</title>")
    (root / "console" / "index.html").write_text("<!doctype html><title>console</title>")
    (root / "assets" / "checkout-abc123.js").write_text("export {};")
    (root / "assets" / "checkout-abc123.css").write_text("body{}")
    (root / "assets" / "img" / "logo-1.svg").write_text("<svg/>")
    (root / "assets" / ".env").write_text("SECRET=1")
    (tmp_path / "secret.txt").write_text("outside")
    return root


def get(web: LocalWeb, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    answer = web.answer(method, path, {}, b"")
    assert answer is not None, path
    return answer


def test_pages_are_the_built_html_with_security_headers(dist: Path) -> None:
    web = LocalWeb(dist, None)
    for path, face in [
        ("/pay/pay_0123abcd", "checkout"),
        ("/pay/pay_0123abcd/", "checkout"),
        ("/console/", "console"),
        ("/console/payments/pay_1", "console"),
    ]:
        status, headers, body = get(web, path)
        assert status == 200
        assert body == (dist / face / "index.html").read_bytes()
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert headers["X-Frame-Options"] == "DENY"
    # HEAD: headers only
    status, _, body = get(web, "/console/", "HEAD")
    assert (status, body) == (200, b"")


def test_api_paths_are_left_to_the_functions(dist: Path) -> None:
    web = LocalWeb(dist, None)
    for path in ("/pay/pay_1/status", "/v1/payments", "/admin/payments", "/pay", "/kyc/callback"):
        assert web.answer("GET", path, {}, b"") is None, path


def test_assets_have_their_content_types(dist: Path) -> None:
    web = LocalWeb(dist, None)
    for path, content_type in [
        ("/assets/checkout-abc123.js", "text/javascript; charset=utf-8"),
        ("/assets/checkout-abc123.css", "text/css; charset=utf-8"),
        ("/assets/img/logo-1.svg", "image/svg+xml"),
    ]:
        status, headers, _ = get(web, path)
        assert (status, headers["Content-Type"]) == (200, content_type)
        assert "immutable" in headers["Cache-Control"]


@pytest.mark.parametrize(
    "path",
    [
        "/assets/../../secret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/assets/img/../../../secret.txt",
        "/assets/.env",
        "/assets//etc/passwd",
        "/assets/%2fetc%2fpasswd",
        "/assets/..\\..\\secret.txt",
        "/assets/",
        "/assets/img",
        "/assets/missing.js",
    ],
)
def test_no_path_leaves_the_assets_folder(dist: Path, path: str) -> None:
    status, _, body = get(LocalWeb(dist, None), path)
    assert status == 404
    assert b"outside" not in body and b"SECRET" not in body


def test_without_a_build_pages_say_to_run_make_web(tmp_path: Path) -> None:
    web = LocalWeb(tmp_path / "no-dist", None)
    for path in ("/pay/pay_1", "/console/", "/assets/checkout-abc123.js"):
        status, headers, body = get(web, path)
        assert status == 404
        assert b"make web" in body
        assert headers["Content-Type"].startswith("text/plain")


def test_writes_to_pages_are_refused(dist: Path) -> None:
    web = LocalWeb(dist, None)
    for path in ("/pay/pay_1", "/console/", "/assets/checkout-abc123.js", "/console/config.json"):
        status, headers, _ = get(web, path, "POST")
        assert status == 405 and "GET" in headers["Allow"]
    status, _, _ = get(web, "/console/auth/other")
    assert status == 404


def test_the_root_and_the_bare_console_path_lead_to_the_console(dist: Path) -> None:
    web = LocalWeb(dist, None)
    for path, status in (("/", 302), ("/console", 308)):
        answer, headers, _ = get(web, path)
        assert (answer, headers["Location"]) == (status, "/console/")

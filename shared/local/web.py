"""The web faces on the local stack (issue 13): what S3 + CloudFront serve in AWS.

- ``GET /pay/<payment id>``: the hosted checkout page (web/dist/checkout/index.html);
  its ``/pay/<id>/status`` calls go on to the checkout_api function.
- ``GET /console/`` and every ``/console/*`` path: the admin console
  (web/dist/console/index.html), except:
- ``GET /console/config.json``: ``{"mode": "local", ...}``, how the console signs in;
- ``POST /console/auth/login`` ``{"username", "password"}``: Cognito ``InitiateAuth``
  (USER_PASSWORD_AUTH) against the local moto pool, answering ``{"id_token",
  "expires_in"}`` or 401. In AWS the console talks to Cognito itself (SRP + TOTP).
- ``GET /assets/<file>``: the build's hashed assets (web/dist/assets).
- ``GET /``: a redirect to the console, as in AWS.

Pages and assets carry the security headers CloudFront adds in AWS. Without a build
(web/dist missing) they answer 404 saying to run ``make web``.
"""

from __future__ import annotations

import json
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

Answer = tuple[int, dict[str, str], bytes]

# What CloudFront's response headers policy sends in AWS (infra/cdk/constructs/web.py),
# less Cognito in connect-src (locally the console signs in through /console/auth/login):
# scripts and styles only from this origin (no inline <script>, <style> or style=""),
# images also as data: URLs. The browser tests then catch what AWS would block.
CSP = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".txt": "text/plain; charset=utf-8",
    ".wasm": "application/wasm",
}
MISSING_BUILD = "the web UI is not built ({what} is missing): run `make web`, then reload\n"
MAX_LOGIN_BODY = 4096
_PAY_PAGE = re.compile(r"^/pay/[^/]+/?$")
_ASSET = re.compile(r"^/assets/[A-Za-z0-9._/-]+$")


@dataclass(frozen=True)
class CognitoPool:
    endpoint: str
    region: str
    user_pool_id: str
    client_id: str


class LocalWeb:
    def __init__(self, dist: Path, pool: CognitoPool | None) -> None:
        self.dist = dist
        self.pool = pool
        self._idp: Any = None

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer | None:
        """The answer for a web path; None for everything else (the API routes)."""
        if path == "/console/config.json":
            return self._only_get(method) or self._config()
        if path == "/console/auth/login":
            if method != "POST":
                return _error(405, "method_not_allowed", "use POST", {"Allow": "POST"})
            return self._login(headers, body)
        if path.startswith("/console/auth/"):
            return _error(404, "route_not_found", "no such route")
        if path in ("/", "/console"):  # CloudFront: "/" -> 302 /console/ (ADR 0025)
            return (302 if path == "/" else 308), {"Location": "/console/", **SECURITY_HEADERS}, b""
        if path.startswith("/console/"):
            return self._only_get(method) or self._page("console", method)
        if _PAY_PAGE.match(path):
            return self._only_get(method) or self._page("checkout", method)
        if path.startswith("/assets/"):
            return self._only_get(method) or self._asset(path, method)
        return None

    # -- files --------------------------------------------------------------------------

    @staticmethod
    def _only_get(method: str) -> Answer | None:
        if method in ("GET", "HEAD"):
            return None
        return _error(405, "method_not_allowed", "use GET", {"Allow": "GET, HEAD"})

    def _page(self, face: str, method: str) -> Answer:
        index = self.dist / face / "index.html"
        if not index.is_file():
            return _missing(f"web/dist/{face}/index.html")
        headers = {
            "Content-Type": CONTENT_TYPES[".html"],
            "Cache-Control": "no-cache",  # assets are hashed; the page names the new ones
            **SECURITY_HEADERS,
        }
        return 200, headers, b"" if method == "HEAD" else index.read_bytes()

    def _asset(self, path: str, method: str) -> Answer:
        assets = (self.dist / "assets").resolve()
        relative = unquote(path.removeprefix("/assets/"))
        # Names as vite writes them; no "..", no hidden files, no encoded separators.
        if (
            not _ASSET.match("/assets/" + relative)
            or any(part in ("", ".", "..") or part.startswith(".") for part in relative.split("/"))
            or "\\" in relative
        ):
            return _error(404, "not_found", "no such asset")
        if not assets.is_dir():
            return _missing("web/dist/assets")
        target = (assets / relative).resolve()
        if not target.is_relative_to(assets) or not target.is_file():
            return _error(404, "not_found", "no such asset")
        content_type = CONTENT_TYPES.get(target.suffix.lower()) or (
            mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        )
        headers = {
            "Content-Type": content_type,
            "Cache-Control": "public, max-age=31536000, immutable",  # hashed names
            **SECURITY_HEADERS,
        }
        return 200, headers, b"" if method == "HEAD" else target.read_bytes()

    # -- console sign-in ----------------------------------------------------------------

    def _config(self) -> Answer:
        pool = self.pool
        body = {
            "mode": "local",
            "region": pool.region if pool else "",
            "user_pool_id": pool.user_pool_id if pool else "",
            "client_id": pool.client_id if pool else "",
            "api_base": "",
        }
        return _json(200, body)

    def _login(self, headers: dict[str, str], body: bytes) -> Answer:
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            return _error(415, "unsupported_media_type", "Content-Type must be application/json")
        if len(body) > MAX_LOGIN_BODY:
            return _error(413, "too_large", "request body too large")
        try:
            data = json.loads(body or b"null")
        except (ValueError, RecursionError):
            return _error(400, "malformed_request", "request body is not valid JSON")
        username = data.get("username") if isinstance(data, dict) else None
        password = data.get("password") if isinstance(data, dict) else None
        if not (isinstance(username, str) and isinstance(password, str)):
            return _error(422, "validation_failed", "username and password are required strings")
        if not (1 <= len(username) <= 128 and 1 <= len(password) <= 256) or self.pool is None:
            return _unauthorized()
        try:
            result = self._cognito().initiate_auth(
                ClientId=self.pool.client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": username, "PASSWORD": password},
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in (
                "NotAuthorizedException",
                "UserNotFoundException",
                "InvalidParameterException",
                "UserNotConfirmedException",
                "PasswordResetRequiredException",
            ):
                return _unauthorized()
            return _error(502, "cognito_unavailable", "the local user pool did not answer")
        except BotoCoreError:
            return _error(502, "cognito_unavailable", "the local user pool did not answer")
        tokens = result.get("AuthenticationResult")
        if not tokens:  # a challenge (new password, MFA): not on the local pool's users
            return _unauthorized("this user must finish a sign-in challenge first")
        return _json(
            200,
            {"id_token": tokens["IdToken"], "expires_in": int(tokens.get("ExpiresIn", 3600))},
        )

    def _cognito(self) -> Any:
        if self._idp is None:
            assert self.pool is not None
            self._idp = boto3.client(
                "cognito-idp",
                endpoint_url=self.pool.endpoint,
                region_name=self.pool.region,
                aws_access_key_id="testing",  # moto's dummy credentials
                aws_secret_access_key="testing",
                config=Config(retries={"max_attempts": 2}, connect_timeout=3, read_timeout=10),
            )
        return self._idp


def _json(status: int, body: Any, extra: dict[str, str] | None = None) -> Answer:
    headers = {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        **SECURITY_HEADERS,
        **(extra or {}),
    }
    return status, headers, json.dumps(body).encode()


def _error(status: int, code: str, message: str, extra: dict[str, str] | None = None) -> Answer:
    error_type = "authentication_error" if status == 401 else "invalid_request_error"
    if status >= 500:
        error_type = "api_error"
    return _json(status, {"error": {"type": error_type, "code": code, "message": message}}, extra)


def _unauthorized(message: str = "wrong username or password") -> Answer:
    return _error(401, "unauthenticated", message)


def _missing(what: str) -> Answer:
    headers = {
        "Content-Type": "text/plain; charset=utf-8",
        "Cache-Control": "no-store",
        **SECURITY_HEADERS,
    }
    return 404, headers, MISSING_BUILD.format(what=what).encode()

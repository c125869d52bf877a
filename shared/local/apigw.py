"""A local API Gateway (REST, proxy integration) emulator.

Turns HTTP requests into API Gateway proxy events and calls the real
``lambda_handler``s in-process. ``/admin`` routes first verify the Cognito JWT
(signature against the user pool's JWKS, issuer, expiry, token use) as API
Gateway's Cognito authorizer would, and pass the claims on in
``requestContext.authorizer.claims``. One lock per function: like one warm
Lambda container, a handler never runs twice at once.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
# Paths served before the API routes (shared/local/web.py: pages, assets, console
# sign-in), as CloudFront does in AWS: (method, path, headers, body) -> answer or None.
WebFront = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes] | None]
MAX_BODY_BYTES = 1024 * 1024  # bigger than any valid request; API Gateway allows 10 MB


class LambdaContext:
    """The parts of the Lambda context object the handlers use."""

    def __init__(self, name: str, timeout_s: float) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


@dataclass
class Route:
    prefix: str
    name: str
    handler: Handler
    cognito: bool


class CognitoVerifier:
    def __init__(self, aws_endpoint: str, region: str, user_pool_id: str, client_id: str) -> None:
        self.issuer = f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
        self.client_id = client_id
        self._jwks = jwt.PyJWKClient(f"{aws_endpoint}/{user_pool_id}/.well-known/jwks.json")

    def claims(self, token: str) -> dict[str, Any] | None:
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                audience=self.client_id,  # an ID token's aud is the app client
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except (jwt.PyJWTError, ValueError):
            return None
        # The API Gateway Cognito authorizer (no OAuth scopes) takes ID tokens only.
        if claims.get("token_use") != "id":
            return None
        return claims


class ApiGatewayEmulator:
    def __init__(
        self,
        routes: list[Route],
        verifier: CognitoVerifier | None,
        stage: str = "local",
        web: WebFront | None = None,
    ):
        self.routes = routes
        self.verifier = verifier
        self.stage = stage
        self.web = web
        self._locks = {r.name: threading.Lock() for r in routes}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def build_event(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> dict[str, Any]:
        parts = urlsplit(raw_path)
        multi: dict[str, list[str]] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            multi.setdefault(key, []).append(value)
        try:
            text, is_b64 = body.decode(), False
        except UnicodeDecodeError:
            import base64

            text, is_b64 = base64.b64encode(body).decode(), True
        return {
            "resource": "/{proxy+}",
            "path": parts.path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
            "multiValueQueryStringParameters": multi or None,
            "pathParameters": {"proxy": parts.path.lstrip("/")},
            "stageVariables": None,
            "requestContext": {
                "resourcePath": "/{proxy+}",
                "httpMethod": method,
                "path": parts.path,
                "stage": self.stage,
                "requestId": str(uuid.uuid4()),
                "requestTimeEpoch": int(time.time() * 1000),
                "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")},
                "authorizer": None,
            },
            "body": text if body else None,
            "isBase64Encoded": is_b64,
        }

    def dispatch(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, str], bytes]:
        path = urlsplit(raw_path).path
        if self.web is not None:
            answer = self.web(method, path, headers, body)
            if answer is not None:
                return answer
        route = next(
            (r for r in self.routes if path == r.prefix or path.startswith(r.prefix + "/")), None
        )
        if route is None:
            return _json(404, {"message": "Missing Authentication Token"})
        event = self.build_event(method, raw_path, headers, body, source_ip)
        if route.cognito:
            token = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
            token = token.removeprefix("Bearer ").strip()
            claims = self.verifier.claims(token) if (self.verifier and token) else None
            if claims is None:
                return _json(401, {"message": "Unauthorized"})
            event["requestContext"]["authorizer"] = {
                "claims": {k: str(v) for k, v in claims.items()}
            }
        with self._locks[route.name]:
            result = route.handler(event, LambdaContext(route.name, 15))
        out_headers = dict(result.get("headers") or {})
        for key, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[key] = ",".join(values)
        raw = result.get("body") or ""
        payload = (
            __import__("base64").b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
        )
        return int(result.get("statusCode", 502)), out_headers, payload

    def serve(self, host: str, port: int) -> None:
        emulator = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self._send(*_json(413, {"message": "Request Entity Too Large"}))
                    return
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()}
                try:
                    result = emulator.dispatch(
                        self.command, self.path, headers, body, self.client_address[0]
                    )
                except Exception:  # the emulator itself must not die on one request
                    result = _json(502, {"message": "Internal server error"})
                self._send(*result)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                try:
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a load test stopping): nothing to tell

            # API Gateway's {proxy+} ANY method hands every verb to the function.
            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = do_HEAD = _handle
            do_TRACE = do_CONNECT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return  # access logs would repeat what the handlers log

            def __getattr__(self, name: str) -> Any:
                # Any other verb, too: the function decides (404/405), as behind ANY.
                if name.startswith("do_"):
                    return self._handle
                raise AttributeError(name)

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _json(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()

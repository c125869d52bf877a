"""Generate the merchant and admin APIs' OpenAPI documents from their resolvers (the
routes and pydantic models are the source of truth) and keep the committed copies in
sync.

    python -m tools.openapi --write   # regenerate docs/openapi/{merchant,admin}-api.json
    python -m tools.openapi --check   # exit 1 when the committed copy drifted

A tool, not part of ``shared``: it imports the function's resolver, and ``shared`` never
imports ``functions`` (docs/adr/0015-layer-contract.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

from functions.merchant_api.handler import app

DOC = Path(__file__).resolve().parents[1] / "docs" / "openapi" / "merchant-api.json"

DESCRIPTION = (
    "Accept USDT on BNB Smart Chain. Every request is signed: send `X-Api-Key`, "
    "`X-Timestamp` (unix seconds, within 300 s) and `X-Signature`, the hex "
    "HMAC-SHA256 of `{timestamp}\\n{METHOD}\\n{path_with_query}\\n{raw_body}` with your "
    "API secret. Amounts are decimal strings. POSTs accept `Idempotency-Key`."
)


def generate() -> dict[str, Any]:
    text = app.get_openapi_json_schema(
        title="bscpay merchant API",
        version="1",
        description=DESCRIPTION,
        security_schemes={
            "ApiKey": APIKey(name="X-Api-Key", in_=APIKeyIn.header),  # type: ignore[call-arg]
            "Timestamp": APIKey(name="X-Timestamp", in_=APIKeyIn.header),  # type: ignore[call-arg]
            "Signature": APIKey(name="X-Signature", in_=APIKeyIn.header),  # type: ignore[call-arg]
        },
        security=[{"ApiKey": [], "Timestamp": [], "Signature": []}],
    )
    doc: dict[str, Any] = json.loads(text)
    return doc


ADMIN_DOC = DOC.with_name("admin-api.json")

ADMIN_DESCRIPTION = (
    "Operate a bscpay deployment: merchants and their API keys, payments across "
    "merchants, settlement profiles, payouts and their four-eyes approval, the treasury "
    "and chain rescans. Send a Cognito ID token of the user pool in `Authorization` "
    "(API Gateway's Cognito authorizer checks it). Bodies are JSON (415 otherwise)."
)


def generate_admin() -> dict[str, Any]:
    from functions.admin_api.handler import app as admin_app

    text = admin_app.get_openapi_json_schema(
        title="bscpay admin API",
        version="1",
        description=ADMIN_DESCRIPTION,
        security_schemes={
            "CognitoIdToken": APIKey(name="Authorization", in_=APIKeyIn.header),  # type: ignore[call-arg]
        },
        security=[{"CognitoIdToken": []}],
    )
    doc: dict[str, Any] = json.loads(text)
    return doc


def documents() -> dict[Path, dict[str, Any]]:
    """Every committed document and what the resolvers generate for it."""
    return {DOC: generate(), ADMIN_DOC: generate_admin()}


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true")
    group.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = 0
    for path, doc in documents().items():
        text = render(doc)
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
        elif not path.exists() or path.read_text() != text:
            print(f"{path} is out of date: run `make openapi`", file=sys.stderr)
            stale = 1
    return stale


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

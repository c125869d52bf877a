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
    doc["paths"]["/kyc/callback"] = KYC_CALLBACK
    _add_checkout(doc)
    return doc


def _add_checkout(doc: dict[str, Any]) -> None:
    """GET /pay/{payment_id}/status: the hosted checkout's public status (issue 13),
    served by its own function (checkout_api), unsigned; documented here beside the
    payment object whose checkout_url leads to it."""
    from functions.checkout_api.handler import app as checkout_app

    checkout = json.loads(checkout_app.get_openapi_json_schema(title="checkout", version="1"))
    for path, item in checkout["paths"].items():
        for operation in item.values():
            operation["security"] = []
        doc["paths"][path] = item
    doc["components"]["schemas"].update(checkout["components"]["schemas"])


# POST /kyc/callback: the KYC provider's call, answered by merchant_api before its API-key
# check (shared/kyc/callback.py, docs/adr/0021); signed with the provider's own secret.
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
KYC_CALLBACK: dict[str, Any] = {
    "post": {
        "operationId": "kyc_callback_post",
        "summary": "KYC provider callback: set a merchant's KYC status",
        "description": (
            "Called by the KYC provider, not by merchants. `X-Kyc-Signature: "
            "t=<unix seconds>,v1=<hex>`, v1 = HMAC-SHA256 of `{t}.{raw_body}` with the "
            "deployment's KYC callback secret; t within BSCPAY_KYC_CALLBACK_TOLERANCE_S "
            "(300 s) of the server's clock; each signature is accepted once. A call signed "
            "before the merchant's last KYC change is acknowledged with `applied: false`."
        ),
        "security": [],
        "parameters": [
            {
                "name": "X-Kyc-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "example": "t=1764892800,v1=5f2b9c"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["merchant_id", "status"],
                        "properties": {
                            "merchant_id": {"type": "string"},
                            "status": {"enum": ["pending", "verified", "rejected"]},
                            "reason": {
                                "type": "string",
                                "maxLength": 500,
                                "description": "required with rejected",
                            },
                        },
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "Acknowledged",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "object": {"const": "kyc_callback"},
                                "merchant_id": {"type": "string"},
                                "kyc_status": {"enum": ["pending", "verified", "rejected"]},
                                "applied": {"type": "boolean"},
                            },
                        }
                    }
                },
            },
            "400": {"description": "Not a JSON object", "content": _ERROR},
            "401": {
                "description": "Missing, malformed, stale (stale_timestamp), wrong "
                "(invalid_signature) or replayed (replayed_request) signature",
                "content": _ERROR,
            },
            "404": {
                "description": "No such merchant, or the callback is not configured "
                "(kyc_callback_disabled)",
                "content": _ERROR,
            },
            "415": {"description": "Not application/json", "content": _ERROR},
            "422": {"description": "A field is missing or invalid", "content": _ERROR},
        },
    }
}


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

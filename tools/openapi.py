"""Generate the merchant API's OpenAPI document from the resolver (the routes and
pydantic models are the source of truth) and keep the committed copy in sync.

    python -m shared.api.openapi --write   # regenerate docs/openapi/merchant-api.json
    python -m shared.api.openapi --check   # exit 1 when the committed copy drifted
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "merchant-api.json"

DESCRIPTION = (
    "Accept USDT on BNB Smart Chain. Every request is signed: send `X-Api-Key`, "
    "`X-Timestamp` (unix seconds, within 300 s) and `X-Signature`, the hex "
    "HMAC-SHA256 of `{timestamp}\\n{METHOD}\\n{path_with_query}\\n{raw_body}` with your "
    "API secret. Amounts are decimal strings. POSTs accept `Idempotency-Key`."
)


def generate() -> dict[str, Any]:
    from functions.merchant_api.handler import app

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


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true")
    group.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render(generate())
    if args.write:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(text)
        print(f"wrote {DOC}")
        return 0
    if not DOC.exists() or DOC.read_text() != text:
        print(f"{DOC} is out of date: run `make openapi`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

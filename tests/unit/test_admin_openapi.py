"""The committed admin OpenAPI document is what the admin resolver generates."""

from __future__ import annotations

import json

from tools import openapi

ADMIN_ROUTES = {
    "POST /admin/merchants",
    "GET /admin/merchants",
    "POST /admin/merchants/{merchant_id}",
    "POST /admin/merchants/{merchant_id}/api_keys",
    "GET /admin/merchants/{merchant_id}/api_keys",
    "POST /admin/merchants/{merchant_id}/api_keys/{key_id}/revoke",
    "GET /admin/payments",
    "POST /admin/merchants/{merchant_id}/settlement",
    "GET /admin/merchants/{merchant_id}/settlement",
    "POST /admin/merchants/{merchant_id}/payouts",
    "GET /admin/settlements",
    "GET /admin/settlements/{disbursement_id}",
    "POST /admin/settlements/{disbursement_id}/approve",
    "POST /admin/settlements/{disbursement_id}/reject",
    "GET /admin/treasury",
    "POST /admin/treasury/gas_funding",
    "POST /admin/chain/rescan",
}


def test_committed_admin_openapi_document_matches_the_resolver() -> None:
    assert openapi.ADMIN_DOC.read_text() == openapi.render(openapi.generate_admin()), (
        "docs/openapi/admin-api.json drifted from the routes: run `make openapi`"
    )


def test_admin_document_declares_every_route_our_errors_and_the_token() -> None:
    # Given the generated admin document
    doc = openapi.generate_admin()

    # Then every admin route is described, with our error format and its answer's model
    documented = {f"{m.upper()} {p}" for p, ops in doc["paths"].items() for m in ops}
    assert documented == ADMIN_ROUTES
    for ops in doc["paths"].values():
        for op in ops.values():
            responses = op["responses"]
            assert responses["415"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorOut"
            }
            ok = [s for s in responses if s.startswith("2")]
            assert ok and all("content" in responses[s] for s in ok), op.get("summary")
    assert doc["components"]["securitySchemes"]["CognitoIdToken"]["name"] == "Authorization"
    assert "pending_approval" in json.dumps(doc["components"]["schemas"]["AdminDisbursementOut"])

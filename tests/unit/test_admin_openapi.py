"""The committed admin OpenAPI document is what the admin resolver generates."""

from __future__ import annotations

import json
import re

from shared.admin import roles
from tools import openapi

# Every route of the role table (shared/admin/roles.py, itself checked against the
# resolver's routes), in OpenAPI's path syntax.
ADMIN_ROUTES = {
    rule.method + " " + re.sub(r"<([a-z_]+)>", r"{\1}", rule.path) for rule in roles.RULES
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

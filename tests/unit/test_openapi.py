"""The committed OpenAPI document is what the resolvers generate."""

from __future__ import annotations

from tools import openapi


def test_committed_openapi_document_matches_the_resolvers() -> None:
    assert openapi.DOC.read_text() == openapi.render(openapi.generate()), (
        "docs/openapi/merchant-api.json drifted from the routes: run `make openapi`"
    )


def test_document_declares_our_error_format_and_request_signing() -> None:
    doc = openapi.generate()
    create = doc["paths"]["/v1/payments"]["post"]
    assert create["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }
    assert set(doc["components"]["securitySchemes"]) == {"ApiKey", "Timestamp", "Signature"}

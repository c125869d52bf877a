"""Schemathesis against the running local API, driven by the committed OpenAPI
document: every generated request is signed like a merchant's, and every answer
must be non-5xx and conform to the documented schema."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
import schemathesis
import schemathesis.specs.openapi.checks as oc
from hypothesis import HealthCheck, settings

from shared.auth.signing import request_signature
from tools.openapi import DOC

pytestmark = pytest.mark.e2e

# The signature headers are added by the test (schemathesis cannot compute an HMAC),
# so they are taken out of what it generates and mutates; auth is tested elsewhere.
_doc = json.loads(DOC.read_text())
_doc.pop("security", None)
schema = schemathesis.openapi.from_dict(_doc)

# What "no 5xx and no schema violation" means: these checks on every answer. Checks
# about which inputs must be accepted are left out: a well-formed URL that does not
# resolve is rightly refused with 422, which schemathesis cannot know.
CHECKS = [
    schemathesis.checks.not_a_server_error,
    oc.status_code_conformance,
    oc.content_type_conformance,
    oc.response_schema_conformance,
    oc.response_headers_conformance,
]


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_signed_requests_never_5xx_and_match_the_schema(
    case: schemathesis.Case, stack: dict[str, Any], http: requests.Session
) -> None:
    kwargs = case.as_transport_kwargs(base_url=stack["api_url"])
    kwargs.pop("timeout", None)
    prepared = http.prepare_request(requests.Request(**kwargs))
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    t = str(int(time.time()))
    merchant = stack["merchant"]
    prepared.headers["X-Api-Key"] = merchant["api_key_id"]
    prepared.headers["X-Timestamp"] = t
    prepared.headers["X-Signature"] = request_signature(
        merchant["api_secret"], t, prepared.method or "GET", prepared.path_url, body
    )
    response = http.send(prepared, timeout=30)
    assert response.status_code < 500, response.text
    case.validate_response(response, checks=CHECKS)


@pytest.fixture(scope="module")
def http() -> Any:
    with requests.Session() as session:
        yield session

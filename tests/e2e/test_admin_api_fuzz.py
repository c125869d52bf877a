"""Schemathesis against the running local admin API, driven by the committed admin
OpenAPI document (``make openapi``): every generated request carries the Cognito ID
token of a local user holding every role, and every answer must be non-5xx and match
the document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
import schemathesis.specs.openapi.checks as oc
from hypothesis import HealthCheck, settings

from tools.openapi import ADMIN_DOC

pytestmark = pytest.mark.e2e

# The token is added by the test, so it is taken out of what schemathesis generates.
_doc = json.loads(ADMIN_DOC.read_text())
_doc.pop("security", None)
# A rescan of a generated range would keep this session's scanner busy with up to
# 200,000 blocks (or wait for blocks far in the future): its input handling is covered
# by tests/integration/test_hostile_input.py and test_rescan.py instead.
# Signing out would end the session the other e2e tests share (its refusal is covered
# by tests/integration/test_identity.py).
schema = (
    schemathesis.openapi.from_dict(_doc)
    .exclude(path="/admin/chain/rescan")
    .exclude(path_regex="sign_out$")
)

# The same checks as the merchant run (tests/e2e/test_api_fuzz.py): no 5xx, and every
# answer's status, content type, body and headers as documented.
CHECKS = [
    schemathesis.checks.not_a_server_error,
    oc.status_code_conformance,
    oc.content_type_conformance,
    oc.response_schema_conformance,
    oc.response_headers_conformance,
]


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_admin_requests_never_5xx_and_match_the_schema(
    case: schemathesis.Case, stack: dict[str, Any], admin_http: requests.Session
) -> None:
    kwargs = case.as_transport_kwargs(base_url=stack["api_url"])
    kwargs.pop("timeout", None)
    response = admin_http.send(admin_http.prepare_request(requests.Request(**kwargs)), timeout=30)
    assert response.status_code < 500, response.text
    case.validate_response(response, checks=CHECKS)


@pytest.fixture(scope="module")
def admin_http(stack: dict[str, Any]) -> Iterator[requests.Session]:
    # A user holding every role: the routes' own input handling is what is fuzzed here
    # (each role's refusals are tests/e2e/test_control_plane.py's matrix).
    from shared.local import admins

    name = "fuzz-every-role@bscpay.local"
    password = admins.add(stack, name, roles=["viewer", "support", "finance", "admin"])
    with requests.Session() as session:
        session.headers.update({"Authorization": admins.id_token(stack, name, password)})
        yield session

"""Merchant KYC on the local stack over HTTP (docs/adr/0021): the provider's signed
callback through the local API gateway, an admin's decision with a real Cognito token,
and a replayed callback refused."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from shared.webhooks.signature import sign
from tests.e2e.conftest import user_headers

pytestmark = pytest.mark.e2e


def _callback(stack: dict[str, Any], raw: str, header: str) -> requests.Response:
    return requests.post(
        f"{stack['api_url']}/kyc/callback",
        data=raw.encode(),
        headers={"Content-Type": "application/json", "X-Kyc-Signature": header},
        timeout=30,
    )


def _merchant(stack: dict[str, Any]) -> dict[str, Any]:
    reply = requests.get(
        f"{stack['api_url']}/admin/merchants?limit=100",
        headers=user_headers(stack, "viewer"),
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    [found] = [m for m in reply.json()["data"] if m["id"] == stack["merchant"]["id"]]
    return dict(found)


def test_kyc_by_provider_callback_and_admin_over_http(stack: dict[str, Any]) -> None:
    merchant_id = stack["merchant"]["id"]
    raw = json.dumps({"merchant_id": merchant_id, "status": "verified", "reason": "case 7"})
    header = sign(raw.encode(), [stack["kyc_callback_secret"]], int(time.time()))

    # The provider verifies the merchant
    first = _callback(stack, raw, header)
    assert first.status_code == 200, first.text
    assert first.json()["kyc_status"] == "verified"
    assert _merchant(stack)["kyc_status"] == "verified"

    # The same call again is a replay; a wrong secret is refused; neither changes anything
    again = _callback(stack, raw, header)
    assert (again.status_code, again.json()["error"]["code"]) == (401, "replayed_request")
    forged = _callback(stack, raw, sign(raw.encode(), ["guess"], int(time.time())))
    assert (forged.status_code, forged.json()["error"]["code"]) == (401, "invalid_signature")

    # An admin rejects it (a viewer may not), with a reason
    path = f"{stack['api_url']}/admin/merchants/{merchant_id}/kyc"
    body = {"status": "rejected", "reason": "documents expired"}
    refused = requests.post(path, json=body, headers=user_headers(stack, "viewer"), timeout=30)
    assert refused.status_code == 403, refused.text
    decided = requests.post(path, json=body, headers=user_headers(stack, "admin"), timeout=30)
    assert decided.status_code == 200, decided.text
    after = _merchant(stack)
    assert (after["kyc_status"], after["kyc_reason"]) == ("rejected", "documents expired")
    assert after["kyc_source"].startswith("admin:")

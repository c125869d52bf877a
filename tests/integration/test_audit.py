"""The audit trail on the local stack's DynamoDB (moto): records written with the change
they describe, hash chains that concurrent writers extend without gaps, and a
verification that names the first edited or missing record."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from shared import config
from shared.actor import Actor, acting, system
from shared.admin import merchants
from shared.dal import audit
from shared.errors import BscpayError
from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import (
    USDT,
    admin_call,
    as_admin,
    create_payment,
    make_final,
    pay,
    scan,
)

ANN = Actor("admin", "sub-ann", name="ann", roles=("admin",))


def _records(target: str) -> list[dict[str, Any]]:
    items, _ = audit.search(audit.Search(target=target, limit=100))
    return [audit.content_of(i) for i in items]


def _table() -> Any:
    settings = config.aws()
    return boto3.resource(
        "dynamodb", endpoint_url=settings.aws_endpoint_url, region_name=settings.region
    ).Table(settings.table_name("audit"))


@contextmanager
def _tampered(item: dict[str, Any], replacement: dict[str, Any] | None) -> Iterator[None]:
    """Edit (or, with None, delete) one stored record; put it back afterwards: the
    session's other tests verify the trail too."""
    table = _table()
    key = {"chain": item["chain"], "seq": item["seq"]}
    if replacement is None:
        table.delete_item(Key=key)
    else:
        table.put_item(Item=replacement)
    try:
        yield
    finally:
        table.put_item(Item=item)


def test_a_change_and_its_record_commit_together_with_the_actor(stack: LocalStack) -> None:
    # When an admin creates a merchant
    with acting(ANN, "req-1", "203.0.113.7"):
        merchant, key, secret = merchants.create_merchant("Audited Shop")

    # Then its records name the admin, the request and the source IP; never the secret
    created = _records(f"merchant:{merchant.merchant_id}")
    assert [r["action"] for r in created] == ["merchant.created"]
    record = created[0]
    assert record["actor"]["label"] == "admin:ann" and record["actor"]["roles"] == ["admin"]
    assert (record["request_id"], record["source_ip"]) == ("req-1", "203.0.113.7")
    key_record = _records(f"api_key:{key.key_id}")[0]
    assert key_record["after"]["status"] == "active"
    assert secret not in str(_records(f"api_key:{key.key_id}"))


def test_a_refused_change_writes_no_record(stack: LocalStack, merchant: MerchantCreds) -> None:
    # Given an active key (nothing to approve)
    with acting(ANN), pytest.raises(BscpayError):
        merchants.approve_api_key(merchant.merchant_id, merchant.key_id)
    # Then no approval was recorded
    assert [r["action"] for r in _records(f"api_key:{merchant.key_id}")] == ["api_key.created"]


def test_secrets_are_masked_in_records() -> None:
    assert audit.masked({"secret": "sk_1", "nested": [{"api_secret": "x", "ok": 1}]}) == {
        "secret": "***",
        "nested": [{"api_secret": "***", "ok": 1}],
    }


def test_concurrent_writers_extend_the_chains_without_gaps(stack: LocalStack) -> None:
    # When eight writers append 40 records at once (16 chains: some must collide)
    def write(n: int) -> None:
        with acting(system(f"writer-{n}")):
            for i in range(5):
                audit.append([audit.AuditEntry("test.concurrent", f"test:{n}:{i}")])

    before = audit.verify()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))

    # Then every record landed, and every chain still verifies
    after = audit.verify()
    assert after.ok, after
    assert after.checked == before.checked + 40


def test_a_money_movement_is_recorded_with_the_system_actor(
    stack: LocalStack, merchant: MerchantCreds
) -> None:
    # When the scanner credits a final payment
    payment = create_payment(merchant, "3")
    pay(stack, payment["address"], 3 * USDT)
    make_final(stack)
    with acting(system("chain_scanner")):
        scan(3)

    # Then the credit posting has a record by system:chain_scanner for the merchant
    items, _ = audit.search(audit.Search(actor="system:chain_scanner", limit=100))
    credits = [
        audit.content_of(i)
        for i in items
        if audit.content_of(i)["merchant_id"] == merchant.merchant_id
        and i.action.startswith("ledger.")
    ]
    assert credits, "no ledger record for the credit"


def test_verify_names_an_edited_and_a_deleted_record(stack: LocalStack) -> None:
    # Given a chain of at least three records
    with acting(ANN):
        audit.append([audit.AuditEntry("test.chain", f"test:chain:{i}") for i in range(3)])
    assert audit.verify().ok
    found, _ = audit.search(audit.Search(action="test.chain", limit=3))
    items = sorted(found, key=lambda i: int(i.seq))  # one transaction: one chain, in a row
    middle = _table().get_item(Key={"chain": items[1].chain, "seq": int(items[1].seq)})["Item"]
    after_middle = audit.content_of(items[2])

    # When one record's content is edited (its hash left as it was)
    edited = {**middle, "body": str(middle["body"]).replace("test.chain", "test.other")}
    with _tampered(middle, edited):
        broken = audit.verify()
    # Then verification fails and names it
    assert (broken.ok, broken.first_break) == (False, middle["record_id"])

    # When a record is deleted, the next one of its chain is named
    with _tampered(middle, None):
        gap = audit.verify()
    assert (gap.ok, gap.first_break) == (False, after_middle["id"])
    assert audit.verify().ok


def test_the_admin_api_lists_and_verifies_the_trail(stack: LocalStack) -> None:
    created = admin_call("POST", "/admin/merchants", {"name": "Listed"}, as_admin("lister"))
    assert created.status == 201, created.body
    target = f"merchant:{created.body['id']}"
    listed = admin_call("GET", f"/admin/audit?target={target}", authorizer=as_admin("viewer-1"))
    assert listed.status == 200, listed.body
    assert [r["action"] for r in listed.body["data"]] == ["merchant.created"]
    assert listed.body["data"][0]["actor"]["label"] == "admin:lister"
    page = admin_call("GET", "/admin/audit?limit=1", authorizer=as_admin("viewer-1")).body
    assert page["has_more"] is True
    following = admin_call(
        "GET",
        f"/admin/audit?limit=1&starting_after={page['data'][0]['id']}",
        authorizer=as_admin("viewer-1"),
    ).body
    assert following["data"][0]["id"] != page["data"][0]["id"]
    verified = admin_call("GET", "/admin/audit/verify", authorizer=as_admin("viewer-1"))
    assert verified.body["ok"] is True and verified.body["checked"] > 0
    for bad in ("limit=0", "from=yesterday", "starting_after=nope", "from=20&to=10"):
        reply = admin_call("GET", f"/admin/audit?{bad}", authorizer=as_admin("viewer-1"))
        assert 400 <= reply.status < 500, (bad, reply.body)

"""The restore drill's two halves on the integration stack (issue 15 §5): every table
exported with ExportTableToPointInTime and imported into a new prefix holds the same
items, balances and ledger = chain; a restore that lost an item is caught."""

from __future__ import annotations

import gzip
import json
import os
import uuid
from collections.abc import Iterator

import pytest

from shared import aws, config, resources
from shared.local.stack import LocalStack
from tests.integration.conftest import MerchantCreds
from tests.integration.helpers import USDT, create_payment, make_final, pay, scan
from tools import restore_drill


@pytest.fixture
def bucket(stack: LocalStack) -> Iterator[str]:
    """A backup bucket; the deployment's prefix is put back after the test (verify()
    points this process at the restored tables)."""
    name = f"drill-{uuid.uuid4().hex[:10]}"
    aws.client("s3").create_bucket(Bucket=name)
    before = os.environ.get("BSCPAY_PREFIX")
    yield name
    if before is None:
        os.environ.pop("BSCPAY_PREFIX", None)
    else:
        os.environ["BSCPAY_PREFIX"] = before
    config.reset()


def _paid_then_restored(
    stack: LocalStack, merchant: MerchantCreds, bucket: str, usdt: int, by_scan: bool = False
) -> restore_drill.Restored:
    """A payment paid and final (the ledger credited the merchant), then every table
    exported and imported into a new prefix."""
    payment = create_payment(merchant, str(usdt))
    pay(stack, payment["address"], usdt * USDT)
    scan()
    make_final(stack)
    scan()
    target = f"bscpay-it-r{uuid.uuid4().hex[:6]}"
    return restore_drill.restore(config.aws().prefix, target, bucket, by_scan=by_scan)


def test_a_restored_prefix_holds_the_same_money_and_matches_the_chain(
    stack: LocalStack, merchant: MerchantCreds, bucket: str
) -> None:
    restored = _paid_then_restored(stack, merchant, bucket, 3)

    # Then every table was restored, and the verification passes on the new prefix
    assert set(restored.items) == {t.logical for t in resources.TABLES}
    report = restore_drill.verify(restored, [merchant.merchant_id])
    # (the shared test stack's ledger and chain are apart by what other tests did: the
    # restored copy must meet the chain exactly as the source does)
    assert report["ok"] and report["ledger_drift"] == report["source_ledger_drift"]
    assert report["merchant_balances"][merchant.merchant_id]["available"] == str(3 * USDT)


def test_a_restore_that_lost_an_item_fails_the_drill(
    stack: LocalStack, merchant: MerchantCreds, bucket: str
) -> None:
    restored = _paid_then_restored(stack, merchant, bucket, 2)
    # a ledger entry goes missing in the restored copy
    ddb = aws.client("dynamodb")
    table = resources.physical_name(restored.target_prefix, "ledger_entries")
    item = ddb.scan(TableName=table, Limit=1)["Items"][0]
    spec = next(t for t in resources.TABLES if t.logical == "ledger_entries")
    key = {spec.partition_key: item[spec.partition_key]}
    if spec.sort_key:
        key[spec.sort_key] = item[spec.sort_key]
    ddb.delete_item(TableName=table, Key=key)

    with pytest.raises(restore_drill.DrillFailed, match="item counts differ"):
        restore_drill.verify(restored, [merchant.merchant_id])


def test_a_scan_export_in_small_parts_restores_the_same(
    stack: LocalStack, merchant: MerchantCreds, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given data files of at most 3 items (so tables span several files and pages)
    monkeypatch.setattr(restore_drill, "SCAN_PART_ITEMS", 3)
    restored = _paid_then_restored(stack, merchant, bucket, 4, by_scan=True)

    # Then the scan wrote the export's format, several files for a table of > 3 items
    s3 = aws.client("s3")
    ledger = s3.list_objects_v2(Bucket=bucket, Prefix=restored.exports["ledger_entries"])
    assert len(ledger["Contents"]) >= 2
    first = s3.get_object(Bucket=bucket, Key=ledger["Contents"][0]["Key"])["Body"].read()
    assert json.loads(gzip.decompress(first).splitlines()[0])["Item"]
    # And the restored prefix holds the same items and money and meets the chain as
    # the source does
    report = restore_drill.verify(restored, [merchant.merchant_id])
    assert report["ok"] and report["ledger_drift"] == report["source_ledger_drift"]
    assert report["items"] == sum(restored.items.values())
    assert report["merchant_balances"][merchant.merchant_id]["available"] == str(4 * USDT)

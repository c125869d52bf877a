"""``make restore-drill``: prove that the tables can be brought back and the money still
adds up (issue 15 §5, docs/adr/0036).

1. Start the whole local stack (moto, anvil, workers) and make some money history: a
   merchant, payments paid on chain, finalized, credited and swept to the hot wallet
   (so the outgoing transactions, nonces and ledger postings of a sweep are restored).
2. Export every table with DynamoDB's own ``ExportTableToPointInTime`` to S3
   (DYNAMODB_JSON, gzip: the format AWS writes; moto implements it). With ``--scan``,
   where the export API is not available, a paginated scan writes the same format.
3. Restore each export with ``ImportTable`` into a NEW resource prefix (the tables are
   created by the import, with their keys and indexes from ``shared.resources``; TTL
   and point-in-time recovery switched on again, as an import does not carry them).
4. Point the stack's code at the new prefix and run the reconciler: the restored ledger
   must equal the chain, every table must hold as many items as its source, and each
   merchant's balance must read the same.

The same two calls restore a real deployment (README "Backups and disaster recovery");
``restore()`` and ``verify()`` are the code the drill runs.

    .venv/bin/python -m tools.restore_drill          # exit 1 when the drill fails
    .venv/bin/python -m tools.restore_drill --scan   # export by paginated scan instead
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared import aws, config, resources

EXPORT_TIMEOUT_S = 300.0
SCAN_PART_ITEMS = 10_000  # items per data file of a scan export


class DrillFailed(RuntimeError):
    """An export, an import or the comparison after the restore went wrong."""


@dataclass
class Restored:
    source_prefix: str
    target_prefix: str
    exports: dict[str, str] = field(default_factory=dict)  # logical -> S3 data prefix
    items: dict[str, int] = field(default_factory=dict)  # logical -> items imported


def _wait(what: str, done: Callable[[], bool], timeout_s: float = EXPORT_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise DrillFailed(f"{what} did not finish in {timeout_s:.0f} s")
        time.sleep(0.2)


def export_tables(source_prefix: str, bucket: str, label: str) -> dict[str, str]:
    """Export every table (point-in-time recovery switched on first where it is off);
    returns each table's S3 prefix holding the export's data files."""
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    started: dict[str, str] = {}
    for table in resources.TABLES:
        name = resources.physical_name(source_prefix, table.logical)
        backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
        if pitr != "ENABLED":  # on in AWS (CDK); the local stack's tables start without it
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
        export = ddb.export_table_to_point_in_time(
            TableArn=arn,
            S3Bucket=bucket,
            S3Prefix=f"{label}/{table.logical}",
            ExportFormat="DYNAMODB_JSON",
        )
        started[table.logical] = export["ExportDescription"]["ExportArn"]
    for logical, arn in started.items():

        def completed(arn: str = arn, logical: str = logical) -> bool:
            found = ddb.describe_export(ExportArn=arn)["ExportDescription"]
            status = found["ExportStatus"]
            if status == "FAILED":
                why = f"{found.get('FailureCode', '')} {found.get('FailureMessage', '')}".strip()
                raise DrillFailed(f"the export of {logical} failed: {why}")
            return bool(status == "COMPLETED")

        _wait(f"the export of {logical}", completed)
    data: dict[str, str] = {}
    for logical in started:
        keys = [
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=f"{label}/{logical}/"
            )
            for o in page.get("Contents", [])
            if "/data/" in o["Key"]
        ]
        if not keys:
            raise DrillFailed(f"the export of {logical} wrote no data files")
        data[logical] = keys[0][: keys[0].index("/data/") + len("/data/")]
    return data


def _plain(value: Any) -> Any:
    """A low-level attribute value as DYNAMODB_JSON writes it (binary as base64)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(v) for v in value]
    return value


def _put_part(s3: Any, bucket: str, prefix: str, part: int, lines: list[str]) -> int:
    """Write ``lines`` as data file number ``part`` and empty the list; the next part's number."""
    body = "".join(f"{line}\n" for line in lines).encode()
    s3.put_object(Bucket=bucket, Key=f"{prefix}part-{part:05d}.json.gz", Body=gzip.compress(body))
    lines.clear()
    return part + 1


def scan_export_tables(
    source_prefix: str, bucket: str, label: str, part_items: int | None = None
) -> dict[str, str]:
    """The export's format without ``ExportTableToPointInTime`` (DynamoDB Local, or a
    role that may read but not export): every table read with a strongly consistent,
    paginated scan and written as gzip DYNAMODB_JSON lines (``{"Item": {...}}``) under
    ``<label>/<table>/scan/data/``, so ``import_tables`` restores it the same way.
    Unlike an export it is not one point in time: write traffic should be stopped."""
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    per_file = part_items or SCAN_PART_ITEMS
    data: dict[str, str] = {}
    for table in resources.TABLES:
        prefix = f"{label}/{table.logical}/scan/data/"
        lines: list[str] = []
        parts = 0
        pages = ddb.get_paginator("scan").paginate(
            TableName=resources.physical_name(source_prefix, table.logical), ConsistentRead=True
        )
        for page in pages:
            for item in page["Items"]:
                lines.append(json.dumps({"Item": _plain(item)}, separators=(",", ":")))
                if len(lines) >= per_file:
                    parts = _put_part(s3, bucket, prefix, parts, lines)
        if lines or not parts:  # an empty table still gets its (empty) data file
            _put_part(s3, bucket, prefix, parts, lines)
        data[table.logical] = prefix
    return data


def import_tables(bucket: str, exports: dict[str, str], target_prefix: str) -> dict[str, int]:
    """``ImportTable`` each export into a new table of ``target_prefix``."""
    ddb = aws.client("dynamodb")
    started: dict[str, str] = {}
    for table in resources.TABLES:
        name = resources.physical_name(target_prefix, table.logical)
        answer = ddb.import_table(
            S3BucketSource={"S3Bucket": bucket, "S3KeyPrefix": exports[table.logical]},
            InputFormat="DYNAMODB_JSON",
            InputCompressionType="GZIP",
            TableCreationParameters={
                "TableName": name,
                "BillingMode": "PAY_PER_REQUEST",
                **table.definition(),
            },
        )
        started[table.logical] = answer["ImportTableDescription"]["ImportArn"]
    counts: dict[str, int] = {}
    for table in resources.TABLES:
        arn = started[table.logical]

        def completed(arn: str = arn, logical: str = table.logical) -> bool:
            found = ddb.describe_import(ImportArn=arn)["ImportTableDescription"]
            status = found["ImportStatus"]
            if status in ("FAILED", "CANCELLED"):
                why = f"{found.get('FailureCode', '')} {found.get('FailureMessage', '')}".strip()
                raise DrillFailed(f"the import of {logical} {status.lower()}: {why}")
            return bool(status == "COMPLETED")

        _wait(f"the import of {table.logical}", completed)
        description = ddb.describe_import(ImportArn=arn)["ImportTableDescription"]
        counts[table.logical] = int(description.get("ImportedItemCount", 0))
        name = resources.physical_name(target_prefix, table.logical)
        if table.ttl_attribute:
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    return counts


def restore(
    source_prefix: str, target_prefix: str, bucket: str, *, by_scan: bool = False
) -> Restored:
    """Export every table of ``source_prefix`` (``ExportTableToPointInTime``, or a
    paginated scan in the same format with ``by_scan``) and import it into
    ``target_prefix``."""
    label = f"restore-drill/{source_prefix}/{int(time.time())}"
    export = scan_export_tables if by_scan else export_tables
    exports = export(source_prefix, bucket, label)
    items = import_tables(bucket, exports, target_prefix)
    return Restored(source_prefix, target_prefix, exports, items)


def _count(prefix: str, logical: str) -> int:
    ddb = aws.client("dynamodb")
    total, start = 0, None
    while True:
        args: dict[str, Any] = {
            "TableName": resources.physical_name(prefix, logical),
            "Select": "COUNT",
        }
        if start:
            args["ExclusiveStartKey"] = start
        page = ddb.scan(**args)
        total += int(page["Count"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return total


def _balances(merchant_ids: list[str]) -> dict[str, dict[str, str]]:
    from shared import ledger

    book = ledger.default()
    out = {}
    for merchant_id in merchant_ids:
        balance = book.merchant_balance(merchant_id)
        out[merchant_id] = {k: str(v) for k, v in vars(balance).items() if isinstance(v, int)}
    return out


def _pointed_at(prefix: str) -> Any:
    """Make this process's code use ``prefix``'s tables (what a restored stack's
    functions get as BSCPAY_PREFIX)."""
    os.environ["BSCPAY_PREFIX"] = prefix
    config.reset()  # the DynamoDB models rebind on the next call (shared.dal._base.Binder)
    return prefix


def _drift() -> list[dict[str, Any]]:
    from shared.settlement import reconciler

    return sorted(reconciler.run().drifts, key=lambda d: str(d["account"]))


def verify(restored: Restored, merchant_ids: list[str]) -> dict[str, Any]:
    """Item counts per table, merchant balances, and the reconciler's comparison with the
    chain, on the source and on the restored prefix: a faithful restore answers the same
    (``ledger_drift`` empty means ledger = chain). Raises DrillFailed on any difference."""
    _pointed_at(restored.source_prefix)
    source_counts = {t.logical: _count(restored.source_prefix, t.logical) for t in resources.TABLES}
    source_balances = _balances(merchant_ids)
    source_drift = _drift()
    _pointed_at(restored.target_prefix)
    target_counts = {t.logical: _count(restored.target_prefix, t.logical) for t in resources.TABLES}
    target_balances = _balances(merchant_ids)
    drifts = _drift()
    problems = []
    if source_counts != target_counts:
        problems.append(f"item counts differ: {source_counts} != {target_counts}")
    if source_balances != target_balances:
        problems.append(f"balances differ: {source_balances} != {target_balances}")
    if drifts != source_drift:
        problems.append(f"the restored ledger meets the chain differently: {drifts}")
    report = {
        "source_prefix": restored.source_prefix,
        "target_prefix": restored.target_prefix,
        "tables": len(resources.TABLES),
        "items": sum(target_counts.values()),
        "items_per_table": target_counts,
        "merchant_balances": target_balances,
        "ledger_drift": drifts,
        "source_ledger_drift": source_drift,
        "ok": not problems,
    }
    if problems:
        raise DrillFailed("; ".join(problems))
    return report


# ---- the drill on the local stack --------------------------------------------------------


def _history(stack: Any, payments: int = 4) -> list[str]:
    """A merchant with payments paid on chain, final, credited and swept."""
    from shared.admin import merchants
    from shared.local import chain
    from shared.payments import service
    from shared.payments.service import NewPayment

    merchant, _, _ = merchants.create_merchant("Restore Drill Shop")
    created = [
        service.create(merchant.merchant_id, NewPayment(amount=(i + 2) * 10**18))
        for i in range(payments)
    ]
    info = stack.info
    for payment in created:
        chain.transfer(
            info["rpc_url"],
            info["token_address"],
            info["customer"]["private_key"],
            payment.address,
            payment.amount,
        )
    _wait(
        "the payments to be paid and final",
        lambda: all(
            service.get(merchant.merchant_id, p.payment_id).status.value == "paid" for p in created
        ),
        timeout_s=180,
    )
    from shared import ledger

    paid = sum(p.amount for p in created)
    _wait(
        "the deposits to be swept to the hot wallet",
        lambda: ledger.default().holdings().get("holdings:hot", 0) >= paid,
        timeout_s=180,
    )
    return [merchant.merchant_id]


def _settled() -> bool:
    from shared.settlement import reconciler

    return not reconciler.run().drifts


def main(argv: list[str] | None = None) -> None:
    by_scan = "--scan" in (sys.argv[1:] if argv is None else argv)
    from shared.local.chain import free_port
    from shared.local.stack import LocalStack, StackConfig

    workdir = Path(tempfile.mkdtemp(prefix="bscpay-restore-"))
    cfg = StackConfig(
        api_port=free_port(),
        rpc_port=free_port(),
        aws_port=free_port(),
        prefix="bscpay-drill",
        state_file=None,
        log_dir=workdir,
        serve_api=False,
    )
    stack = LocalStack(cfg).start()
    started = time.monotonic()
    try:
        merchant_ids = _history(stack)
        _wait("the ledger to match the chain before the export", _settled, timeout_s=120)
        bucket = "bscpay-drill-backups"  # in AWS: a versioned bucket in another account/region
        aws.client("s3").create_bucket(Bucket=bucket)
        restored = restore("bscpay-drill", "bscpay-restored", bucket, by_scan=by_scan)
        report = verify(restored, merchant_ids)
        if report["ledger_drift"]:  # the source was settled before the export
            raise DrillFailed(f"the restored ledger does not match the chain: {report}")
    except DrillFailed as failed:
        print(f"restore drill FAILED: {failed}", file=sys.stderr)
        sys.exit(1)
    finally:
        stack.stop()
    report["seconds"] = round(time.monotonic() - started, 1)
    report["export"] = "scan" if by_scan else "ExportTableToPointInTime"
    out = workdir / "restore-drill.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(
        f"restore drill OK: {report['tables']} tables, {report['items']} items restored into "
        f"{report['target_prefix']}; ledger = chain; balances equal ({report['seconds']} s). "
        f"Report: {out}"
    )


if __name__ == "__main__":
    main()

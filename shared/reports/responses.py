"""HTTP shapes of the report routes, shared by the merchant and admin resolvers: a CSV
answered inline or through the exports bucket, and their OpenAPI declarations.

What an admin exports (CSV exports, statements, regulatory reports) leaves an
``export.created`` audit record: who (the acting admin), which report, merchant and
period, how many rows, and whether it was answered inline or through the bucket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel

from shared import config
from shared.api import docs
from shared.api.http import json_response
from shared.dal import audit
from shared.models.amounts import format_amount
from shared.models.reports_api import ExportOut
from shared.reports import exports, regulatory, statement
from shared.reports.exports import ExportFile
from shared.reports.period import Period, iso


def csv_response(file: ExportFile) -> Response[str]:
    """200 ``text/csv`` inline, or 303 See Other to the pre-signed URL with the export
    object (:class:`ExportOut`) as JSON, for a client that does not follow redirects."""
    if file.body is not None:
        return Response(
            status_code=200,
            content_type="text/csv; charset=utf-8",
            body=file.body,
            headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
        )
    assert file.url is not None
    return json_response(303, file.to_json(), headers={"Location": file.url})


def audit_export(
    kind: str,
    merchant_id: str | None,
    period: Period,
    rows: int,
    file: ExportFile | None = None,
) -> None:
    """The ``export.created`` audit record of an admin's export (``file`` None: JSON)."""
    delivery = "json" if file is None else ("inline" if file.body is not None else "s3")
    after: dict[str, object] = {
        "kind": kind,
        "merchant_id": merchant_id,
        "from": period.start,
        "to": period.end,
        "rows": rows,
        "delivery": delivery,
    }
    if file is not None:
        after["filename"] = file.filename
    audit.append(
        [audit.AuditEntry("export.created", f"export:{kind}", after=after, merchant_id=merchant_id)]
    )


def csv_docs(description: str, json_model: type[BaseModel] | None = None) -> dict[int, Any]:
    """OpenAPI: 200 as CSV (and as JSON with ``json_model``), 303 to a large file."""
    out = docs.responses(200, json_model or ExportOut, description)
    content = out[200]["content"] if json_model else {}
    out[200] = {
        "description": description,
        "content": {**content, "text/csv": {"schema": {"type": "string"}}},
    }
    out[303] = {
        "description": "Too large to answer inline: Location is a pre-signed URL of the CSV",
        "content": {"application/json": {"model": ExportOut}},
    }
    return out


def statement_response(
    merchant_id: str, period: Period, fmt: str, audited: bool = False
) -> Response[str]:
    """The statement as JSON, or as CSV: an ``opening_balance`` row, the entries, and a
    ``closing_balance`` row whose ``delta`` column says ``balanced`` or the difference.
    ``audited``: an admin asked, leave an ``export.created`` record."""
    if fmt != "csv":
        body = statement.statement(merchant_id, period)
        if audited:
            audit_export("statement", merchant_id, period, int(str(body["entry_count"])))
        return json_response(200, body)
    produced = statement.start(merchant_id, period)

    def rows() -> Iterator[dict[str, object]]:
        yield {
            "created_at_utc": iso(period.start),
            "created_ms": period.start_ms,
            "kind": "opening_balance",
            "balance": produced.summary_opening(),
        }
        yield from produced.rows
        done = produced.summary()
        yield {
            "created_at_utc": iso(period.end),
            "created_ms": period.end_ms,
            "kind": "closing_balance",
            "delta": "balanced" if done["balanced"] else f"difference {done['difference']}",
            "amount": done["balance_at_to"],
            "balance": done["closing_balance"],
        }

    name = f"statement_{merchant_id}_{period.start}_{period.end}.csv"
    file = exports.write_dicts(name, statement.ENTRY_COLUMNS, rows(), merchant_id)
    if audited:
        audit_export("statement", merchant_id, period, file.rows, file)
    return csv_response(file)


def large_transfers_response(period: Period, threshold: int, fmt: str) -> Response[str]:
    """Admin only: always audited."""
    rows = regulatory.large_transfers(period, threshold)
    if fmt == "csv":
        name = f"large_transfers_{period.start}_{period.end}.csv"
        columns = regulatory.LARGE_TRANSFER_COLUMNS
        file = exports.write_dicts(name, columns, rows, "admin")
        audit_export("large_transfers", None, period, file.rows, file)
        return csv_response(file)
    data = regulatory.as_list(rows)
    body = {
        "object": "report.large_transfers",
        "from": period.start,
        "to": period.end,
        "threshold": format_amount(threshold, config.chain().token_decimals),
        "data": data,
    }
    audit_export("large_transfers", None, period, len(data))
    return json_response(200, body)


def monthly_response(month: Period, fmt: str) -> Response[str]:
    """Admin only: always audited."""
    columns, rows = regulatory.monthly(month)
    label = iso(month.start)[:7]
    if fmt == "csv":
        name = f"monthly_{label}.csv"
        file = exports.write_dicts(name, columns, rows, "admin")
        audit_export("monthly", None, month, file.rows, file)
        return csv_response(file)
    data = regulatory.as_list(rows)
    body = {
        "object": "report.monthly",
        "month": label,
        "from": month.start,
        "to": month.end,
        "data": data,
    }
    audit_export("monthly", None, month, len(data))
    return json_response(200, body)

"""HTTP shapes of the report routes, shared by the merchant and admin resolvers: a CSV
answered inline or through the exports bucket, and their OpenAPI declarations."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel

from shared.api import docs
from shared.api.http import json_response
from shared.models.reports_api import ExportOut
from shared.reports.exports import ExportFile


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

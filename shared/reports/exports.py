"""CSV exports (RFC 4180) of a merchant's payments, incoming transfers, settlements
(payouts) and refunds for a period. Columns are documented in docs/reports.md.

Records come page by page from DynamoDB queries (``shared.dal.report_queries``) and
are written, one row at a time, to a spooled temporary file (memory up to 1 MB, then
disk). A small result is answered inline as ``text/csv``; a larger one is uploaded to
the exports bucket and answered with a pre-signed URL (``ExportFile.url``). So no
export ever holds a whole table, or even its whole result, in memory.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from shared import config
from shared.dal import report_queries as queries
from shared.errors import NotFound, ValidationFailed
from shared.models.amounts import format_amount
from shared.models.domain import (
    Disbursement,
    DisbursementKind,
    DisbursementStatus,
    Payment,
    Transfer,
)
from shared.reports import storage
from shared.reports.period import Period, iso

SPOOL_MEMORY = 1_000_000  # bytes kept in memory before the spool moves to /tmp

Row = Sequence[object]


class UnknownExport(NotFound):
    code = "unknown_export"


class ExportTooLarge(ValidationFailed):
    code = "export_too_large"


def _text(value: str | None) -> str:
    """Free text a merchant chose (an order id): a leading ``= + - @`` (or tab, CR)
    would make a spreadsheet run it as a formula, so such a cell gets a leading ``'``
    (OWASP "CSV injection")."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value or ""


_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def defused(cell: object) -> object:
    """Any text cell :func:`write` writes: one starting with ``= + - @`` (or tab, CR)
    gets a leading ``'`` so a spreadsheet shows it instead of running it as a formula
    (OWASP "CSV injection"), whichever column it is in (a merchant name, a failure
    reason, a future free-text column). A plain number (``-2.5``, a negative delta)
    is left alone: a spreadsheet reads it as the number it is."""
    if isinstance(cell, str) and cell and cell[0] in "=+-@\t\r" and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def _amount(units: int) -> str:
    return format_amount(units, config.chain().token_decimals)


# ---- columns and rows --------------------------------------------------------------------

PAYMENT_COLUMNS = (
    "payment_id",
    "merchant_id",
    "created_at",
    "created_at_utc",
    "status",
    "currency",
    "amount",
    "amount_received",
    "amount_pending",
    "address",
    "order_id",
    "expires_at",
    "metadata",
    "paid_at",
)


def payment_row(p: Payment) -> Row:
    return (
        p.payment_id,
        p.merchant_id,
        p.created_at,
        iso(p.created_at),
        p.status.value,
        p.currency,
        _amount(p.amount),
        _amount(p.amount_received),
        _amount(p.amount_pending),
        p.address,
        _text(p.order_id),
        p.expires_at,
        json.dumps(p.metadata, separators=(",", ":"), sort_keys=True),
        p.paid_at if p.paid_at is not None else "",
    )


TRANSFER_COLUMNS = (
    "transfer_id",
    "merchant_id",
    "payment_id",
    "seen_at",
    "seen_at_utc",
    "status",
    "amount",
    "sender",
    "to_address",
    "tx_hash",
    "log_index",
    "block_number",
    "chain_id",
    "risk_level",
    "risk_source",
    "hold",
    "late",
)


def transfer_row(t: Transfer) -> Row:
    return (
        t.transfer_id,
        t.merchant_id,
        t.payment_id,
        t.seen_at,
        iso(t.seen_at),
        t.status.value,
        _amount(t.amount),
        t.from_address,
        t.to_address,
        t.tx_hash,
        t.log_index,
        t.block_number,
        t.chain_id,
        t.risk_level or "",
        t.risk_source or "",
        t.hold or "",
        "true" if t.late else "false",
    )


DISBURSEMENT_COLUMNS = (
    "id",
    "merchant_id",
    "payment_id",
    "created_at",
    "created_at_utc",
    "updated_at",
    "status",
    "currency",
    "gross",
    "fee",
    "network_fee",
    "amount",
    "destination",
    "tx_hash",
    "failure_reason",
)


def disbursement_row(d: Disbursement) -> Row:
    return (
        d.disbursement_id,
        d.merchant_id or "",
        d.payment_id or "",
        d.created_at,
        iso(d.created_at),
        d.updated_at,
        d.status.value,
        "USDT",
        _amount(d.gross),
        _amount(d.fee),
        _amount(d.network_fee),
        _amount(d.amount),
        d.destination,
        d.tx_hash or "",
        (d.reason or "") if d.status is DisbursementStatus.FAILED else "",
    )


@dataclass(frozen=True)
class ExportKind:
    name: str  # "payments"
    columns: tuple[str, ...]
    rows: Callable[[str, Period], Iterator[Row]]


def _payments(merchant_id: str, period: Period) -> Iterator[Row]:
    return (payment_row(p) for p in queries.payments(merchant_id, period.start, period.end))


def _transfers(merchant_id: str, period: Period) -> Iterator[Row]:
    return (transfer_row(t) for t in queries.transfers(merchant_id, period.start, period.end))


def _disbursements(kind: DisbursementKind) -> Callable[[str, Period], Iterator[Row]]:
    def rows(merchant_id: str, period: Period) -> Iterator[Row]:
        found = queries.disbursements(merchant_id, kind, period.start, period.end)
        return (disbursement_row(d) for d in found)

    return rows


KINDS: dict[str, ExportKind] = {
    k.name: k
    for k in (
        ExportKind("payments", PAYMENT_COLUMNS, _payments),
        ExportKind("transfers", TRANSFER_COLUMNS, _transfers),
        ExportKind("settlements", DISBURSEMENT_COLUMNS, _disbursements(DisbursementKind.PAYOUT)),
        ExportKind("refunds", DISBURSEMENT_COLUMNS, _disbursements(DisbursementKind.REFUND)),
    )
}


def kind_of(file_name: str) -> ExportKind:
    """``payments.csv`` -> the payments export; anything else is 404."""
    name, dot, ext = file_name.partition(".")
    kind = KINDS.get(name)
    if kind is None or (dot and ext != "csv"):
        raise UnknownExport(f"no such export: choose one of {', '.join(f'{k}.csv' for k in KINDS)}")
    return kind


# ---- writing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFile:
    """An export's result: ``body`` (inline) or ``url`` (uploaded), never both."""

    filename: str
    rows: int
    size: int
    body: str | None = None
    url: str | None = None
    expires_in: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "object": "export",
            "filename": self.filename,
            "rows": self.rows,
            "bytes": self.size,
            "url": self.url,
            "expires_in": self.expires_in,
        }


def write(
    filename: str,
    columns: Sequence[str],
    rows: Iterable[Row],
    owner: str,
    store: Callable[[], storage.ExportStore] = storage.default,
) -> ExportFile:
    """Write ``rows`` as CSV (header first, ``\\r\\n`` line ends, quoted as needed,
    every text cell :func:`defused`) and answer inline or through the exports bucket,
    by the ``BSCPAY_EXPORT_*`` limits."""
    settings = config.exports()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, mode="w+b") as spool:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(columns)
        count = 0
        deadline = time.monotonic() + settings.max_seconds
        for row in rows:
            count += 1
            if count > settings.max_rows:
                raise ExportTooLarge(
                    f"more than {settings.max_rows} rows: ask for a shorter period", "to"
                )
            if count % 100 == 0 and time.monotonic() > deadline:
                # A clear 422 before the function's timeout would answer 504 instead.
                raise ExportTooLarge(
                    f"the export took more than {settings.max_seconds} s after {count} rows: "
                    "ask for a shorter period",
                    "to",
                )
            writer.writerow([defused(cell) for cell in row])
        text.flush()
        text.detach()  # the spool closes with the with-block, not with the wrapper
        size = spool.tell()
        if count <= settings.inline_rows and size <= settings.inline_bytes:
            spool.seek(0)
            return ExportFile(filename, count, size, body=spool.read().decode("utf-8"))
        spool.seek(0)
        key = f"exports/{owner}/{secrets.token_hex(16)}/{filename}"
        target = store()
        target.put(key, _unclosable(spool), filename)
        return ExportFile(
            filename,
            count,
            size,
            url=target.url(key, settings.url_ttl_s),
            expires_in=settings.url_ttl_s,
        )


def write_dicts(
    filename: str, columns: Sequence[str], rows: Iterable[dict[str, object]], owner: str
) -> ExportFile:
    """:func:`write` for rows given as dicts (a missing or None value is an empty cell)."""
    return write(filename, columns, ([row.get(c) for c in columns] for row in rows), owner)


class _Unclosable(io.RawIOBase):
    """A read-only view of the spool that the uploader may close without closing it."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _unclosable(inner: IO[bytes]) -> IO[bytes]:
    return io.BufferedReader(_Unclosable(inner))


def export(kind: ExportKind, merchant_id: str | None, period: Period) -> ExportFile:
    """One merchant's export for ``period`` (``[from, to)``); ``None``: every merchant's,
    merchant by merchant (oldest merchant first), each oldest record first."""
    if merchant_id is None:
        rows: Iterator[Row] = (
            row for m in queries.merchants() for row in kind.rows(m.merchant_id, period)
        )
        filename = f"{kind.name}_all_{period.start}_{period.end}.csv"
        return write(filename, kind.columns, rows, "admin")
    filename = f"{kind.name}_{merchant_id}_{period.start}_{period.end}.csv"
    return write(filename, kind.columns, kind.rows(merchant_id, period), merchant_id)

"""What the public checkout status endpoint reads and writes besides payments (issue 13):
a per-client request counter and the scanner's progress (for confirmations)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.dal import system as system_repo
from shared.dal.rate_limits import hit as hit  # re-exported: the per-client counter

SCANNER_CURSOR = "scanner_cursor"  # shared.jobs.scanner.CURSOR (dal never imports jobs)


@dataclass(frozen=True)
class ScanProgress:
    head: int  # the last block the scanner has read
    finalized: int | None  # the last finalized block it saw (None: unknown)


def scan_progress() -> ScanProgress | None:
    item = system_repo.get_system(SCANNER_CURSOR)
    if item is None or item.block is None:
        return None
    finalized: int | None = None
    if item.finalized is not None:
        return ScanProgress(head=int(item.block), finalized=int(item.finalized))
    try:  # a cursor written by an older release kept it in data_json
        data: Any = json.loads(item.data_json or "{}")
        value = (data.get("finalized") or [None])[0]
        finalized = int(value) if value is not None and int(value) >= 0 else None
    except (ValueError, TypeError, AttributeError):
        finalized = None
    return ScanProgress(head=int(item.block), finalized=finalized)

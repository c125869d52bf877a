"""Admin chain operations: queue a rescan of a block range for the scanner."""

from __future__ import annotations

from shared import ids
from shared.dal import system as system_repo
from shared.errors import ValidationFailed

MAX_RESCAN_BLOCKS = 200_000  # ~1 day of BSC blocks at 0.45 s


def request_rescan(from_block: int, to_block: int, requested_by: str) -> dict[str, object]:
    if from_block < 0 or to_block < from_block:
        raise ValidationFailed("need 0 <= from_block <= to_block", "from_block")
    if to_block - from_block + 1 > MAX_RESCAN_BLOCKS:
        raise ValidationFailed(f"at most {MAX_RESCAN_BLOCKS} blocks per rescan", "to_block")
    system_repo.enqueue_rescan(from_block, to_block, requested_by, ids.now())
    return {"object": "rescan", "from_block": from_block, "to_block": to_block, "status": "queued"}

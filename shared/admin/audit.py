"""The audit trail as the console reads it: filtered listings, newest first, and the
chain verification (docs/adr/0017)."""

from __future__ import annotations

from typing import Any

from shared.dal import audit
from shared.errors import NotFound, ValidationFailed

MAX_FILTER = 200


def _record(item: Any) -> dict[str, Any]:
    content = audit.content_of(item)
    return {
        "id": content["id"],
        "object": "audit_record",
        "chain": content["chain"],
        "seq": content["seq"],
        "created_at_ms": content["created_ms"],
        "actor": content["actor"],
        "action": content["action"],
        "target": content["target"],
        "merchant_id": content.get("merchant_id"),
        "before": content.get("before"),
        "after": content.get("after"),
        "request_id": content.get("request_id", ""),
        "source_ip": content.get("source_ip", ""),
        "prev_hash": content["prev_hash"],
        "hash": item.hash,
    }


def _time(raw: str | None, param: str) -> int | None:
    """Unix seconds (as every other time in the API) → milliseconds."""
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise ValidationFailed(f"{param} must be unix seconds", param)
    return int(raw) * 1000


def _text(raw: str | None, param: str) -> str | None:
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_FILTER:
        raise ValidationFailed(f"{param} is longer than {MAX_FILTER} characters", param)
    return raw


def list_records(
    actor: str | None,
    target: str | None,
    action: str | None,
    from_s: str | None,
    to_s: str | None,
    limit: int,
    starting_after: str | None,
) -> tuple[list[dict[str, Any]], bool]:
    before_key = None
    if starting_after:
        before_key = audit.key_of(starting_after)
        if before_key is None:
            raise NotFound(f"no audit record {starting_after!r}", "starting_after")
    from_ms, to_ms = _time(from_s, "from"), _time(to_s, "to")
    if from_ms is not None and to_ms is not None and from_ms > to_ms:
        raise ValidationFailed("from must not be after to", "from")
    query = audit.Search(
        actor=_text(actor, "actor"),
        target=_text(target, "target"),
        action=_text(action, "action"),
        from_ms=from_ms,
        to_ms=None if to_ms is None else to_ms + 999,
        before_key=before_key,
        limit=limit,
    )
    items, has_more = audit.search(query)
    return [_record(i) for i in items], has_more


def verify() -> dict[str, Any]:
    result = audit.verify()
    out: dict[str, Any] = {"object": "audit_verification", "ok": result.ok}
    out["checked"] = result.checked
    if not result.ok:
        out.update({"first_break": result.first_break, "reason": result.reason})
    return out

"""The audit chain's verification (shared/dal/audit.py) on records built in memory: an
intact chain passes; an edited, reordered or missing record is named."""

from __future__ import annotations

from typing import Any

from shared.dal import audit


def _chain(n: int) -> list[Any]:
    items, prev = [], audit.GENESIS
    for seq in range(1, n + 1):
        record_id = f"aud_{seq:011x}{'0' * 20}"
        content = {
            "id": record_id,
            "chain": "chain-00",
            "seq": seq,
            "prev_hash": prev,
            "created_ms": seq,
            "actor": {"label": "admin:ann", "kind": "admin", "id": "s", "name": "ann"},
            "action": "merchant.created",
            "target": f"merchant:mer_{seq}",
            "merchant_id": None,
            "before": None,
            "after": {"name": f"shop {seq}"},
            "request_id": "",
            "source_ip": "",
        }
        digest = audit.content_hash(content)
        items.append(audit._item(content, digest))
        prev = digest
    return items


def test_an_intact_chain_verifies() -> None:
    broken, checked = audit.verify_chain(iter(_chain(4)))
    assert (broken, checked) == (None, 4)


def test_an_edited_record_is_named() -> None:
    items = _chain(4)
    items[2].body = items[2].body.replace("shop 3", "shop X")
    broken, checked = audit.verify_chain(iter(items))
    assert broken is not None and broken[0] == items[2].record_id and "edited" in broken[1]
    assert checked == 2


def test_a_rehashed_edit_still_breaks_the_next_link() -> None:
    # Editing a record and recomputing its hash moves the break to the record after it
    items = _chain(4)
    content = audit.content_of(items[1])
    content["after"] = {"name": "forged"}
    items[1] = audit._item(content, audit.content_hash(content))
    broken, _ = audit.verify_chain(iter(items))
    assert broken is not None and broken[0] == items[2].record_id


def test_a_missing_record_names_the_one_after_it() -> None:
    items = _chain(4)
    del items[1]
    broken, _ = audit.verify_chain(iter(items))
    assert broken is not None and broken[0] == items[1].record_id and "missing" in broken[1]


def test_an_indexed_field_changed_without_the_body_is_named() -> None:
    items = _chain(3)
    items[0].action = "merchant.nothing"
    broken, _ = audit.verify_chain(iter(items))
    assert broken is not None and broken[0] == items[0].record_id


def test_record_ids_give_their_listing_key() -> None:
    record_id = "aud_0000000000a" + "f" * 20
    assert audit.key_of(record_id) == f"{10:012d}#{record_id}"
    assert audit.key_of("nope") is None

"""Make moto's DynamoDB behave like DynamoDB under concurrency, and keep it fast as
tables grow (local stack only).

moto runs ``TransactWriteItems`` without isolation: a cancelled transaction restores
a copy of every table it touched, taken before it started, which silently erases
writes other requests committed meanwhile. The local stack serves several threads
(API, scanner, expirer, webhook pollers), so every DynamoDB call is serialized here,
giving the all-or-nothing, isolated transactions the real service provides.

That copy is also a deep copy of each whole table on every transaction, so a
transaction's cost grew with the data (the load test slowed from ~19 to ~5 requests a
second over 15 minutes). With calls serialized, restoring just the items the
transaction touched is the same rollback: ``transact_write_items`` snapshots those
items and no table is copied.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from typing import Any

_LOCK = threading.RLock()
_applied = False


def serialize_dynamodb() -> None:
    global _applied
    if _applied:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(self: DynamoHandler) -> Any:
        with _LOCK:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _item_level_rollback()
    _json_lines_import()
    _cheap_sqs_clock()
    _applied = True


def _cheap_sqs_clock() -> None:
    """moto's SQS decides each message's visibility with a datetime round trip per
    message, per check; a long poll re-checks every message on every change to the
    queue. With webhook retries waiting invisibly for their backoff, that took a whole
    core under load (the soak in bench/load.py). The same comparison on time.time()."""
    from moto.sqs.models import Message

    Message.visible = property(lambda self: time.time() * 1000.0 > self.visible_at)  # type: ignore[method-assign,assignment]
    Message.delayed = property(lambda self: time.time() * 1000.0 < self.delayed_until)  # type: ignore[method-assign,assignment]


class _JsonLines:
    """DYNAMODB_JSON export files are one JSON object per line. moto's ImportTable reads
    them with py_partiql_parser's JsonParser, which fails on a string attribute that
    itself holds JSON (ours do: ``data_json``); the standard library reads them right."""

    @staticmethod
    def parse(original: str) -> list[Any]:
        return [json.loads(line) for line in original.splitlines() if line.strip()]


def _json_lines_import() -> None:
    """The restore drill's ImportTable (tools/restore_drill.py) on moto."""
    import py_partiql_parser
    from moto.dynamodb.models.table_import import TableImport

    original = TableImport._process_s3_files

    def process(self: Any, s3_backend: Any, bucket: Any) -> None:
        # moto imports JsonParser inside this method: swap it for the call, under the lock
        # every DynamoDB call already takes
        with _LOCK:
            saved = py_partiql_parser.JsonParser
            py_partiql_parser.JsonParser = _JsonLines  # type: ignore[assignment,misc]
            try:
                original(self, s3_backend, bucket)
            finally:
                py_partiql_parser.JsonParser = saved  # type: ignore[misc]

    TableImport._process_s3_files = process  # type: ignore[method-assign]


class _NoTableCopies:
    """Stands in for the ``copy`` module inside moto's DynamoDB backend: a Table is
    "copied" as itself (the items it touched are snapshotted instead), anything else
    is deep-copied as before."""

    def __init__(self) -> None:
        from moto.dynamodb.models.table import Table

        self._table = Table

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if isinstance(value, self._table):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _item_level_rollback() -> None:
    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend

    dynamodb_models.copy = _NoTableCopies()  # type: ignore[assignment]
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snapshots = _snapshot(self, transact_items)
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(snapshots):
                _restore(table, hash_key, range_key, item)
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(table, hash key, range key, a copy of the item or None) for every item the
    transaction names; unknown tables and malformed operations are left to moto."""
    found = []
    for entry in transact_items:
        try:
            op_type, op = next(iter(entry.items()))
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            if op_type == "Put":
                attrs = op["Item"]
                keys = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    keys[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                keys = op["Key"]
            hash_key, range_key = backend.get_keys_value(table, keys)
        except Exception:  # noqa: S112 - moto itself answers the malformed request
            continue
        current = table.get_item(hash_key, range_key)
        found.append((table, hash_key, range_key, copy.deepcopy(current)))
    return found


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is not None:
        bucket = table.items[hash_key]
        if item is None:
            bucket.pop(range_key, None)
        else:
            bucket[range_key] = item
    elif item is None:
        table.items.pop(hash_key, None)
    else:
        table.items[hash_key] = item

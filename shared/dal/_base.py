"""What every DynamoDB repository module in ``shared.dal`` shares (internal to the
package): binding pynamodb models to this deployment's tables, the transaction
connection, the conditional-write check, and small key helpers.

Table names, region and endpoint are bound at first use (:func:`bind`, or a
:class:`Binder` for a group of models kept in another module), because they differ per
deployment and in the local stack.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from pynamodb.connection import Connection
from pynamodb.models import Model

from shared import config
from shared.dal.models import ALL_MODELS

_Key = tuple[str, str, str | None]
M = TypeVar("M", bound=Model)


def key_of(settings: config.AwsSettings) -> _Key:
    return (settings.prefix, settings.region, settings.aws_endpoint_url)


def point_at(models: tuple[type[Model], ...], settings: config.AwsSettings) -> None:
    """Set table name, region and endpoint of ``models`` from configuration."""
    for model in models:
        meta: Any = model.Meta
        meta.table_name = settings.table_name(meta.logical)
        meta.region = settings.region
        meta.host = settings.aws_endpoint_url
        model._connection = None  # drop a connection bound to an earlier endpoint


class Binder:
    """Points a group of models at this deployment's tables on first use and when
    configuration changes. Cheap after the first call."""

    def __init__(self, models: tuple[type[Model], ...]) -> None:
        self.models = models
        self.bound: _Key | None = None

    def __call__(self) -> None:
        settings = config.aws()
        key = key_of(settings)
        if self.bound != key:
            point_at(self.models, settings)
            self.bound = key


# The models of ``shared.dal.models``; the ledger, disbursement and nonce models have
# binders of their own beside them.
bind = Binder(ALL_MODELS)

_connection: tuple[_Key, Connection] | None = None


def connection() -> Connection:
    """The connection for transactions, created once per binding: a new Connection
    builds a new botocore client (~0.2 s of service-model loading) on first use."""
    global _connection
    bind()
    if _connection is None or _connection[0] != bind.bound:
        settings = config.aws()
        conn = Connection(region=settings.region, host=settings.aws_endpoint_url)
        _connection = (key_of(settings), conn)
    return _connection[1]


def is_condition_failure(exc: Exception) -> bool:
    """True when a conditional write (or a transaction) failed on one of its conditions."""
    code = getattr(exc, "cause_response_code", None)
    if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
        return True
    return "ConditionalCheckFailed" in str(getattr(exc, "cause_response_message", "") or exc)


def created_key(created_at: int, item_id: str) -> str:
    """Sort key of "newest first" listings: zero-padded creation time, then the id."""
    return f"{created_at:012d}#{item_id}"


def take(query: Iterable[Any], n: int) -> Iterator[Any]:
    """At most ``n`` items of a (paginated) query."""
    for i, item in enumerate(query):
        if i >= n:
            return
        yield item


def full_items(model: type[M], entries: Iterable[Any], chunk: int = 100) -> Iterator[M]:
    """The whole items behind ``entries`` (query results of an index that holds only
    some attributes, docs/adr/0041), in their order, one BatchGetItem per ``chunk``; an
    item deleted since its entry was read is left out. Hash-key tables only."""
    name = model._hash_key_attribute().attr_name
    batch: list[str] = []
    for entry in entries:
        batch.append(getattr(entry, name))
        if len(batch) == chunk:
            yield from _in_order(model, batch, name)
            batch = []
    if batch:
        yield from _in_order(model, batch, name)


def _in_order(model: type[M], keys: list[str], name: str) -> Iterator[M]:
    found = {getattr(i, name): i for i in model.batch_get(list(dict.fromkeys(keys)))}
    return (found[k] for k in keys if k in found)


def reasons(exc: Exception) -> list[str]:
    """A cancelled transaction's reason code per item, in the order the items were
    added ("None" for an item that was fine); [] when the SDK gave none."""
    cause: Any = getattr(exc, "cause", None)
    found = getattr(cause, "cancellation_reasons", None) or []
    return [str(r.code) if r is not None and r.code else "None" for r in found]


def reason_codes(exc: Exception) -> set[str]:
    """Cancellation reason codes; the message when the SDK gave no structured reasons."""
    codes = {c for c in reasons(exc) if c != "None"}
    if codes:
        return codes
    message = str(getattr(exc, "cause_response_message", "") or exc)
    return {c for c in ("ConditionalCheckFailed", "TransactionConflict") if c in message}

"""pynamodb model of the audit table (``audit`` in ``shared.resources``), bound from
configuration like ``shared.dal.models``. Records are put once and never changed."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from shared.dal._base import Binder

# What searches filter on; the records themselves are read by key (docs/adr/0041).
_FILTERED = ["action", "actor_label"]


class AuditByTime(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_time"
        projection = IncludeProjection(_FILTERED)

    kind = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class AuditByTarget(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_target"
        projection = IncludeProjection(_FILTERED)

    target = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class AuditByActor(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_actor"
        projection = IncludeProjection(_FILTERED)

    actor_label = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class AuditByAction(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_action"
        projection = IncludeProjection(_FILTERED)

    action = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class AuditModel(Model):
    class Meta:
        table_name = "unbound"
        region = "us-east-1"
        logical = "audit"

    chain = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    record_id = UnicodeAttribute()
    kind = UnicodeAttribute(default="audit")
    created_key = UnicodeAttribute()
    created_ms = NumberAttribute()
    actor_label = UnicodeAttribute()
    target = UnicodeAttribute()
    action = UnicodeAttribute()
    body = UnicodeAttribute()  # the record's content, canonical JSON (hashed)
    prev_hash = UnicodeAttribute()
    hash = UnicodeAttribute()
    by_time = AuditByTime()
    by_target = AuditByTarget()
    by_actor = AuditByActor()
    by_action = AuditByAction()


bind = Binder((AuditModel,))

"""pynamodb model of the ``audit`` table (``shared.resources``; docs/adr/0017): one
item per audit record, keyed by its chain and its position in it. Items are only ever
put (``attribute_not_exists``), never updated or deleted."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from shared.dal._base import Binder
from shared.dal.ledger_models import IntegerAttribute


class _Base(Model):
    class Meta:
        table_name = "unbound"
        region = "us-east-1"


class AuditByTime(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_time"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class AuditByActor(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_actor"
        projection = AllProjection()

    actor_label = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class AuditByTarget(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_target"
        projection = AllProjection()

    target = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class AuditByAction(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = "by_action"
        projection = AllProjection()

    action = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class AuditModel(_Base):
    class Meta(_Base.Meta):
        logical = "audit"

    chain = UnicodeAttribute(hash_key=True)  # "chain-07"
    seq = IntegerAttribute(range_key=True)  # 1, 2, ... within the chain
    record_id = UnicodeAttribute(attr_name="id")
    prev_hash = UnicodeAttribute()  # the chain's previous record's hash; "0" * 64 for seq 1
    hash = UnicodeAttribute()  # SHA-256 of the record's canonical content
    kind = UnicodeAttribute(default="audit")  # one partition of the by_time index
    created_key = UnicodeAttribute()  # "{created_ms:013d}#{id}"
    created_at = IntegerAttribute()  # epoch seconds
    created_ms = IntegerAttribute()
    actor_label = UnicodeAttribute()  # "admin:ann" | "api_key:ak_…" | "system:settlement"
    actor_kind = UnicodeAttribute()
    actor_id = UnicodeAttribute()
    actor_name = UnicodeAttribute(null=True)
    actor_roles_json = UnicodeAttribute()  # JSON list of Cognito groups
    actor_merchant_id = UnicodeAttribute(null=True)
    action = UnicodeAttribute()
    target = UnicodeAttribute()
    merchant_id = UnicodeAttribute(null=True)
    before_json = UnicodeAttribute(null=True)  # changed fields before, secrets masked
    after_json = UnicodeAttribute(null=True)
    request_id = UnicodeAttribute(null=True)
    source_ip = UnicodeAttribute(null=True)
    by_time = AuditByTime()
    by_actor = AuditByActor()
    by_target = AuditByTarget()
    by_action = AuditByAction()


# Points the audit model at this deployment's table. Cheap after the first call.
bind = Binder((AuditModel,))

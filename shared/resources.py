"""The one description of bscpay's stateful resources.

Both the CDK stack (``infra/cdk``) and the local stack (``shared.local.provision``)
build tables, queues and keys from these definitions, so the two cannot drift.
Physical names are ``{prefix}-{logical}``; functions learn them from configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str | None = None
    sort_key_type: str = "S"  # "S" or "N"
    # What the index holds besides the keys (docs/adr/0040): "ALL" copies the whole
    # item, so every change to it is a paid write to the index too; "INCLUDE" holds the
    # ``include`` attributes (what queries filter on) and readers fetch the items.
    projection: str = "ALL"
    include: tuple[str, ...] = ()

    def projection_spec(self) -> dict[str, Any]:
        """DynamoDB's ``Projection`` of this index."""
        if self.projection == "INCLUDE":
            return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(self.include)}
        return {"ProjectionType": self.projection}


@dataclass(frozen=True)
class Table:
    logical: str
    partition_key: str
    sort_key: str | None = None
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None
    sort_key_type: str = "S"  # "S" or "N"

    def definition(self) -> dict[str, Any]:
        """KeySchema, AttributeDefinitions and GlobalSecondaryIndexes as DynamoDB's
        CreateTable and ImportTable take them (the local stack, the restore drill)."""
        attrs: dict[str, str] = {self.partition_key: "S"}
        keys = [{"AttributeName": self.partition_key, "KeyType": "HASH"}]
        if self.sort_key:
            attrs[self.sort_key] = self.sort_key_type
            keys.append({"AttributeName": self.sort_key, "KeyType": "RANGE"})
        gsis = []
        for index in self.indexes:
            attrs[index.partition_key] = "S"
            schema = [{"AttributeName": index.partition_key, "KeyType": "HASH"}]
            if index.sort_key:
                attrs[index.sort_key] = index.sort_key_type
                schema.append({"AttributeName": index.sort_key, "KeyType": "RANGE"})
            gsis.append(
                {
                    "IndexName": index.name,
                    "KeySchema": schema,
                    "Projection": index.projection_spec(),
                }
            )
        out: dict[str, Any] = {
            "KeySchema": keys,
            "AttributeDefinitions": [
                {"AttributeName": k, "AttributeType": v} for k, v in attrs.items()
            ],
        }
        if gsis:
            out["GlobalSecondaryIndexes"] = gsis
        return out


@dataclass(frozen=True)
class Queue:
    logical: str
    fifo: bool = False
    # Visibility must be >= 6x the consuming function's timeout (AWS guidance).
    visibility_timeout_s: int = 180
    max_receive_count: int = 5
    dlq_retention_days: int = 14


@dataclass(frozen=True)
class FunctionSpec:
    name: str  # folder under functions/
    timeout_s: int
    memory_mb: int = 512
    schedule_rate_minutes: int | None = None
    queue: str | None = None
    description: str = ""
    env: dict[str, str] = field(default_factory=dict)


_AUDIT_FILTERS: dict[str, Any] = {"projection": "INCLUDE", "include": ("action", "actor_label")}

TABLES: tuple[Table, ...] = (
    Table(
        "merchants",
        "merchant_id",
        # Admin console list; merchants are few, one partition is enough.
        indexes=(Index("by_created", "kind", "created_at", "N"),),
    ),
    Table(
        "api_keys",
        "key_id",
        indexes=(Index("by_merchant", "merchant_id", "created_at", "N"),),
    ),
    Table(
        "payments",
        "payment_id",
        indexes=(
            # The indexes hold keys and what queries filter on, not the payments
            # (docs/adr/0041): a payment's change rewrites only an entry it changes.
            # Merchant's payments, newest first: sort key "created_at#payment_id".
            Index(
                "by_merchant",
                "merchant_id",
                "created_key",
                projection="INCLUDE",
                include=("status",),
            ),
            # Admin view across merchants, one partition per UTC day.
            Index("by_day", "created_day", "created_key", projection="KEYS_ONLY"),
            # Sparse: only payments the expirer still has to look at carry "open".
            Index("open_by_expiry", "open", "expires_at", "N", projection="KEYS_ONLY"),
        ),
    ),
    Table(
        "addresses",
        "address",
        # Sparse: deposit addresses holding final funds not yet swept to the hot wallet,
        # ordered by the amount due: the planner reads only those worth a sweep, so dust
        # sent to any number of addresses can never hide one that is (docs/adr/0011).
        indexes=(Index("sweep_due_by_amount", "sweep_due", "sweep_amount", "N"),),
    ),
    # Outgoing hot-wallet transactions (docs/adr/0012): sweeps and their transactions,
    # payouts, refunds, cold moves; PENDING -> SIGNED -> BROADCAST -> CONFIRMED | FAILED.
    Table(
        "outgoing",
        "tx_id",
        # Sparse: records not final yet carry "open" = their kind; the expirer resumes
        # sweeps left open (their queue message gave up) from here.
        indexes=(Index("open_by_updated", "open", "updated_at", "N"),),
    ),
    Table(
        "transfers",
        "transfer_id",
        indexes=(
            Index("by_payment", "payment_id", "block_number", "N"),
            # Sparse: transfers seen but not yet final, ordered by block.
            Index("unfinal_by_block", "unfinal", "block_number", "N"),
            # A merchant's incoming transfers by the time the scanner saw them (exports,
            # the large-transfer report: docs/reports.md).
            Index("by_merchant", "merchant_id", "seen_at", "N", projection="KEYS_ONLY"),
        ),
    ),
    Table(
        "events",
        "event_id",
        indexes=(
            # The indexes hold what queries filter on, not the events (docs/adr/0041):
            # marking an event dispatched then rewrites none of them but the outbox.
            Index(
                "by_merchant", "merchant_id", "created_key", projection="INCLUDE", include=("type",)
            ),
            Index(
                "by_payment",
                "payment_id",
                "created_key",
                projection="INCLUDE",
                include=("merchant_id", "type"),
            ),
            # Sparse outbox: events not yet handed to the webhook queue.
            Index("outbox", "outbox", "created_key", projection="KEYS_ONLY"),
        ),
        ttl_attribute="expires_at_ttl",
    ),
    Table(
        "webhook_endpoints",
        "endpoint_id",
        indexes=(Index("by_merchant", "merchant_id", "created_at", "N"),),
    ),
    # One item per delivery attempt, newest first per endpoint; kept 30 days.
    Table(
        "deliveries",
        "endpoint_id",
        sort_key="attempt_key",
        ttl_attribute="expires_at_ttl",
        # an event's attempts across endpoints (the console's payment detail)
        indexes=(Index("by_event", "event_id", "attempt_key"),),
    ),
    Table("idempotency", "idempotency_key", ttl_attribute="expires_at_ttl"),
    # Singletons: the address index counter, the scanner cursor and lease, custody material.
    Table("system", "name"),
    # Double-entry ledger (docs/adr/0010-ledger.md): one balance item per account, its
    # entries newest first by "{created_ms:013d}#{journal_id}", and one journal item per
    # posting keyed by the caller's idempotency id.
    Table("ledger_accounts", "account"),
    # Money leaving the hot wallet (docs/adr/0013): payouts "po_…", refunds "re_…", cold
    # moves "cm_…", and one "refunded#<payment id>" counter per refunded payment.
    Table(
        "disbursements",
        "disbursement_id",
        indexes=(
            # A merchant's payouts or refunds, newest first: "mer_…#payout".
            Index("by_merchant_kind", "merchant_kind", "created_key"),
            Index("by_payment", "payment_id", "created_key"),
            # Admin queue: everything in one status (e.g. "pending_approval").
            Index("by_status", "status", "created_key"),
        ),
    ),
    # Per merchant: settlement address, schedule and fee terms (admin API).
    Table(
        "settlement_profiles",
        "merchant_id",
        # Sparse: only profiles on an automatic schedule carry "scheduled".
        indexes=(Index("scheduled", "scheduled", "merchant_id"),),
    ),
    Table("ledger_entries", "account", sort_key="entry_key"),
    # AML screening (docs/adr/0020): the blocklist ("blocklist#0x…", listed through the
    # sparse by_kind index) and the provider's cached verdicts ("cache#0x…", with a TTL).
    Table(
        "screening",
        "key",
        indexes=(Index("by_kind", "kind", "created_key"),),
        ttl_attribute="expires_at_ttl",
    ),
    Table("ledger_journal", "journal_id"),
    # Append-only audit trail (docs/adr/0017): hash-chained records in a few chains
    # ("chain-00".."chain-15"), each numbered 1, 2, ... by "seq". No role may update or
    # delete an item. Listings are newest first by "{created_ms:013d}#{id}".
    Table(
        "audit",
        "chain",
        sort_key="seq",
        sort_key_type="N",
        indexes=(
            # Each holds what searches filter on (docs/adr/0041), not the records.
            Index("by_time", "kind", "created_key", **_AUDIT_FILTERS),  # kind = "audit"
            # "admin:ann", "system:expirer"
            Index("by_actor", "actor_label", "created_key", **_AUDIT_FILTERS),
            Index("by_target", "target", "created_key", **_AUDIT_FILTERS),  # "disbursement:po_…"
            Index("by_action", "action", "created_key", **_AUDIT_FILTERS),  # "payout.created"
        ),
    ),
    # Report counters (docs/adr/0022): "m#<merchant>" or "all", "<YYYY-MM-DD>#<shard>";
    # changed with ADD in the transaction of what they count (shared.dal.aggregates).
    Table("report_buckets", "pk", sort_key="sk"),
    # Per-client request counters of the public checkout status endpoint (issue 13):
    # "<endpoint>#<client ip>#<window start>", incremented with ADD, gone after a TTL.
    Table("rate_limits", "key", ttl_attribute="expires_at_ttl"),
    # Customer deposit addresses (issue 14 §2): "cus_…" items, listed per merchant newest
    # first; one "ref#<merchant>#<sha256(reference)>" item per reference keeps it unique.
    Table(
        "customers",
        "customer_id",
        indexes=(Index("by_merchant", "merchant_id", "created_key"),),
    ),
)

QUEUES: tuple[Queue, ...] = (
    # Webhook retries use visibility changes with exponential backoff; 17 receives
    # span about three days (docs/adr/0005-webhook-delivery-and-outbox.md).
    Queue("webhooks", visibility_timeout_s=180, max_receive_count=17),
    # One writer per wallet: FIFO, message group = the wallet (ADR 0011).
    Queue("settlement", fifo=True, visibility_timeout_s=720, max_receive_count=5),
)

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("merchant_api", timeout_s=15, description="Merchant REST API (/v1)"),
    FunctionSpec("admin_api", timeout_s=15, description="Admin console API (/admin)"),
    FunctionSpec(
        "checkout_api",
        timeout_s=10,
        memory_mb=256,
        description="Public hosted-checkout status (GET /pay/{id}/status), read-only",
    ),
    FunctionSpec(
        "chain_scanner",
        timeout_s=60,
        memory_mb=1024,
        schedule_rate_minutes=1,
        description="Follows BSC blocks, records USDT transfers, advances payments",
    ),
    FunctionSpec(
        "webhook_dispatcher",
        timeout_s=30,
        queue="webhooks",
        description="Delivers signed webhooks from the webhook queue",
    ),
    FunctionSpec(
        "settlement",
        timeout_s=120,
        queue="settlement",
        description="Sweeps final deposits to the hot wallet (the only custody decrypter)",
    ),
    FunctionSpec(
        "reconciler",
        timeout_s=60,
        schedule_rate_minutes=5,
        description="Compares the ledger's holdings with on-chain balances; alerts on drift",
    ),
    FunctionSpec(
        "expirer",
        timeout_s=60,
        schedule_rate_minutes=1,
        description="Expires unpaid payments and relays the event outbox",
    ),
    FunctionSpec(
        "digest",
        timeout_s=120,
        schedule_rate_minutes=24 * 60,  # daily; it digests the last whole UTC day
        description="Daily operator digest (volumes, approvals, held funds, alarms) to SNS",
    ),
)

# KMS keys: "custody" wraps the HD mnemonic (only settlement may decrypt);
# "secrets" wraps API-key and webhook secrets (API and dispatcher may decrypt).
KMS_KEYS: tuple[str, ...] = ("custody", "secrets")

USER_POOL_LOGICAL = "admins"
# CSV exports too large to answer inline (docs/reports.md); objects expire after a day.
EXPORTS_BUCKET_LOGICAL = "exports"
EXPORTS_EXPIRE_DAYS = 1


def physical_name(prefix: str, logical: str, fifo: bool = False) -> str:
    name = f"{prefix}-{logical.replace('_', '-')}"
    return f"{name}.fifo" if fifo else name

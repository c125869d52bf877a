"""Names, limits and least-privilege grants of the CDK stack, in one place.

Tables, queues, KMS keys and functions themselves come from ``shared/resources.py``
(the local stack provisions moto from the same definitions). This module holds what
only the AWS deployment needs: runtime, alarm thresholds, API limits and, per
function, exactly which table, queue and key actions its code path uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
LAYERS_DIR: Final = REPO_ROOT / "layers"
LAYER_BUILD_SCRIPT: Final = LAYERS_DIR / "build.py"
DEPS_BUILD_DIR: Final = LAYERS_DIR / "build" / "deps"
UV_LOCK: Final = REPO_ROOT / "uv.lock"

STACK_ID: Final = "BscpayStack"

# ---- Lambda ---------------------------------------------------------------------------
# The lock (requires-python <3.12) and the dependency layer are built for 3.11 / x86_64.
PYTHON_VERSION: Final = "3.11"
HANDLER_MODULE: Final = "functions.{name}.handler"
HANDLER_FUNCTION: Final = "lambda_handler"
METRICS_NAMESPACE: Final = "bscpay"
LOG_RETENTION_DAYS: Final = 90
# chain_scanner keeps a lease in DynamoDB as well; concurrency 1 stops a second copy
# from even starting while the previous one-minute loop is still running.
# No reserved concurrency (issue 16): reserving any fails stack creation on a new account
# whose Lambda concurrency quota is still 10. One scanner at a time is the DynamoDB
# lease on its cursor (shared/jobs/scanner.py): an overlapping tick finds the lease
# held and returns at once.
RESERVED_CONCURRENCY: Final[dict[str, int]] = {}
# A scheduled tick that could not start (throttled) is useless a minute later: the next
# tick does the same work. Drop it instead of queueing it.
SCHEDULED_MAX_EVENT_AGE_S: Final = 60
# The webhook dispatcher's SQS event source polls with at most this many concurrent
# invocations (issue 16): a backlog of retries can never take the account's concurrency
# from the APIs.
WEBHOOK_MAX_CONCURRENCY: Final = 20
# Settlement: the hot wallet's group and the transactions awaited in groups of their own
# (docs/adr/0040) at most this many at once: bounds the RPC and KMS calls they make.
SETTLEMENT_MAX_CONCURRENCY: Final = 10
# Functions that call the chain and so read the RPC URLs secret (issue 16).
RPC_READERS: Final[tuple[str, ...]] = (
    "chain_scanner",
    "settlement",
    "reconciler",
    "admin_api",
    "merchant_api",  # fiat quotes read the price feeds (issue 14)
)
SQS_BATCH_SIZE: Final = 10
SQS_VISIBILITY_FACTOR: Final = 6  # visibility timeout >= 6x the consumer's timeout
SQS_MAIN_RETENTION_DAYS: Final = 4  # webhook retries span ~3 days (ADR 0005)

# ---- API Gateway ----------------------------------------------------------------------
API_STAGE: Final = "prod"
API_THROTTLE_RATE_RPS: Final = 100
API_THROTTLE_BURST: Final = 200
# Per source IP over WAF's 5-minute window (WAF evaluates roughly every 30 s). A shared
# stage limit alone lets one noisy client starve every merchant.
WAF_RATE_LIMIT_PER_IP_5MIN: Final = 3000
# The WAF's coarse first line per API key (X-Api-Key), per 5 minutes: 10x the default
# per-key budget the API enforces exactly (BSCPAY_API_RATE_LIMIT_PER_MINUTE = 600,
# docs/adr/0033). A merchant given more than 6,000 a minute needs this raised too.
WAF_RATE_LIMIT_PER_API_KEY_5MIN: Final = 30_000
# GET /pay/{id}/status, the hosted checkout's public status (issue 13): each open page
# polls about every 2 s, so 50 rps is ~100 pages at once; its own method throttle keeps
# it from eating the stage budget of the merchant and admin APIs.
CHECKOUT_STATUS_PATH: Final = "/pay/{id}/status"
CHECKOUT_STATUS_THROTTLE_RATE_RPS: Final = 50
CHECKOUT_STATUS_THROTTLE_BURST: Final = 100

# ---- Cognito --------------------------------------------------------------------------
PASSWORD_MIN_LENGTH: Final = 14
ACCESS_TOKEN_MINUTES: Final = 60
# What the admin API asks Cognito (shared/admin/identity.py and users.py).
ADMIN_POOL_ACTIONS: Final = (
    "cognito-idp:AdminGetUser",
    "cognito-idp:AdminListGroupsForUser",
    "cognito-idp:AdminAddUserToGroup",
    "cognito-idp:AdminRemoveUserFromGroup",
    "cognito-idp:AdminUserGlobalSignOut",
    "cognito-idp:ListUsers",
)
# Roles are the pool's groups; a user may hold several (docs/adr/0019).
ADMIN_ROLES: Final = ("viewer", "support", "finance", "admin")
# API Gateway remembers an authorizer result at most this long: with the admin API's
# own 60 s user check, a disabled or signed-out user is refused within a minute.
AUTHORIZER_CACHE_S: Final = 60
REFRESH_TOKEN_HOURS: Final = 12

# ---- Monitoring -----------------------------------------------------------------------
SCANNER_LAG_METRIC: Final = "ScannerLagBlocks"
SCANNER_LAG_THRESHOLD_BLOCKS: Final = 50
SCANNER_LAG_MINUTES: Final = 5
FINALITY_STALLED_METRIC: Final = "FinalityStalled"
FINALITY_STALLED_MINUTES: Final = 3
HOT_WALLET_BNB_METRIC: Final = "HotWalletBnb"
HOT_WALLET_USDT_METRIC: Final = "HotWalletUsdt"  # shared/settlement/worker.py
LEDGER_DRIFT_METRIC: Final = "LedgerDrift"  # shared/settlement/reconciler.py
HELD_USDT_METRIC: Final = "HeldUsdt"  # shared/jobs/digest.py (daily)
RUNBOOK_DIR: Final = "docs/runbooks"  # every alarm names its runbook there (issue 15)
# Oldest message a queue may hold before its alarm (webhooks retry with backoff for
# days, so only a stuck consumer makes the head old; settlement work is seconds).
QUEUE_AGE_ALARM_S: Final[dict[str, int]] = {"webhooks": 3600, "settlement": 900}
HOT_WALLET_BNB_MINIMUM: Final = 0.05  # BNB: a few hundred sweeps' gas on BSC

# ---- KMS ------------------------------------------------------------------------------
# Infra-only customer-managed key for DynamoDB, SQS and SNS encryption at rest. The
# application keys ("custody", "secrets") come from shared.resources.KMS_KEYS.
DATA_KEY: Final = "data"
CUSTODY_KEY: Final = "custody"
SECRETS_KEY: Final = "secrets"


@dataclass(frozen=True)
class KeyUse:
    """One use of the secrets key: these actions, only under this encryption context
    (``kms:EncryptionContext:<context_key>`` StringLike ``context_value``)."""

    sid: str
    actions: tuple[str, ...]
    context_key: str
    context_value: str


# The encryption contexts the code sends: shared/auth/secrets.py names the secret's
# owner ({"owner": "ak_…"} for API keys, {"owner": "we_…"} for webhook endpoints);
# shared/api/merchant_auth.py seals stored Idempotency-Key responses under a purpose.
API_KEY_SECRETS: Final = "ak_*"  # shared.admin.merchants: ids.new_id("ak")
WEBHOOK_SECRETS: Final = "we_*"  # shared.webhooks.endpoints: ids.new_id("we")
IDEMPOTENT_RESPONSES: Final = "bscpay-idempotent-response"
# Each role gets only the action its code path uses, for its own kind of secret: the
# admin API can seal a new API key's secret but never read one back; only the merchant
# API reads API-key secrets; webhook secrets are sealed by it and read by the dispatcher.
SECRETS_KEY_USES: Final[dict[str, tuple[KeyUse, ...]]] = {
    # POST /admin/merchants (first key) and .../api_keys: secrets.encrypt(key_id)
    "admin_api": (KeyUse("EncryptApiKeySecrets", ("kms:Encrypt",), "owner", API_KEY_SECRETS),),
    "merchant_api": (
        # hmac_auth verifies each request's HMAC with the key's secret
        KeyUse("DecryptApiKeySecrets", ("kms:Decrypt",), "owner", API_KEY_SECRETS),
        # webhook endpoint create and rotate_secret seal the new whsec_
        KeyUse("EncryptWebhookSecrets", ("kms:Encrypt",), "owner", WEBHOOK_SECRETS),
        # Idempotency-Key responses (a whsec_ shown once) are envelope-sealed and opened
        KeyUse(
            "SealIdempotentResponses",
            ("kms:GenerateDataKey", "kms:Decrypt"),
            "purpose",
            IDEMPOTENT_RESPONSES,
        ),
    ),
    # each delivery is signed with the endpoint's current (and previous) secret
    "webhook_dispatcher": (
        KeyUse("DecryptWebhookSecrets", ("kms:Decrypt",), "owner", WEBHOOK_SECRETS),
    ),
}
# Only the settlement function's role may ever decrypt the custody key: the key policy
# denies kms:Decrypt to every other principal. The mnemonic is sealed by
# `python -m shared.custody.setup` with the operator's credentials.
CUSTODY_DECRYPTERS: Final[tuple[str, ...]] = ("settlement",)
# Functions that may kms:GenerateDataKey on the custody key (seal new custody material).
# Empty: setup runs from the operator's shell, not from a Lambda.
CUSTODY_SEALERS: Final[tuple[str, ...]] = ()

# ---- DynamoDB grants ------------------------------------------------------------------
Access = Literal["read", "read_update", "read_write"]

# Each entry is what the function's code path in `shared` does today (see comments);
# anything not listed is denied. "read_update" = read + UpdateItem (no Put/Delete).
TABLE_ACCESS: Final[dict[str, dict[str, Access]]] = {
    "merchant_api": {
        # payments.create reads the underpayment tolerance; the KYC provider's callback
        # updates kyc_status (POST /kyc/callback, docs/adr/0021)
        "merchants": "read_update",
        "api_keys": "read",  # hmac_auth.get_api_key
        "idempotency": "read_write",  # merchant_auth claim/complete/release
        "payments": "read_write",  # insert_payment, commit (cancel), get/list
        "addresses": "read_write",  # insert_payment puts, commit deactivates
        "transfers": "read",  # payment objects carry their transactions
        "events": "read_write",  # commit / put_event, list, outbox marks dispatched
        "webhook_endpoints": "read_write",  # create/list/delete/rotate, outbox fan-out
        "deliveries": "read",  # deliveries_of (an endpoint's attempts)
        # GET /v1/balance; a refund reserves its amount in the ledger with its record
        "ledger_accounts": "read_write",
        "ledger_entries": "read_write",
        "ledger_journal": "read_write",
        "disbursements": "read_write",  # refunds and their per-payment counter
        "settlement_profiles": "read",  # a merchant's fee terms apply to its refunds
        # audit records written with each change (docs/adr/0017); functions.py denies
        # Update/Delete/BatchWrite on the audit table to every role: append-only
        "audit": "read_write",
        "report_buckets": "read_update",  # report counters (ADR 0022); GET /v1/reports/summary
        "rate_limits": "read_update",  # per-API-key request budgets (shared.api.budgets)
        # POST /v1/customers puts the customer and its reference item; reads and lists
        "customers": "read_write",
    },
    "admin_api": {
        "merchants": "read_write",  # put_merchant (with first key), tolerance, list
        "api_keys": "read_write",  # create, list, revoke
        # list across merchants / per merchant; release or return held payments (ADR 0020)
        "payments": "read_write",
        "transfers": "read_write",
        "screening": "read_write",  # the blocklist (ADR 0020)
        # settlement profiles, payouts (ledger reservation), approve / reject (with the
        # ledger's cancellation and the merchant's event, fanned out by the outbox)
        "settlement_profiles": "read_write",
        "disbursements": "read_write",
        "ledger_accounts": "read_write",
        "ledger_entries": "read_write",
        "ledger_journal": "read_write",
        "events": "read_write",
        "webhook_endpoints": "read",
        "deliveries": "read",  # a payment's delivery attempts (GET /admin/payments/{id})
        "addresses": "read",  # a settlement address must not be one of our deposits
        # audit records of every admin change; GET /admin/audit and /admin/audit/verify
        "audit": "read_write",
        "report_buckets": "read_update",  # report counters of postings; GET /admin/reports/summary
        "customers": "read",  # releasing a held customer deposit (issue 14 §2)
    },
    # The public checkout status (GET /pay/{id}/status, issue 13): reads only, plus the
    # per-client request counter (UpdateItem ADD; no Put or Delete).
    "checkout_api": {
        "payments": "read",  # payment_repo.get_payment
        "transfers": "read",  # its transactions (confirmations while confirming)
        "merchants": "read",  # the merchant's display name
        "rate_limits": "read_update",  # shared.dal.checkout.hit (per-client counter)
    },
    "chain_scanner": {
        "payments": "read_write",  # commit
        "addresses": "read_update",  # payments_for_addresses, commit deactivates
        "transfers": "read_write",  # commit puts new / updates final or reversed
        "events": "read_write",  # commit puts events, outbox relay marks them
        "webhook_endpoints": "read",  # outbox fan-out
        # A final transfer credits the merchant in the same transaction (ledger posting).
        "ledger_accounts": "read_write",
        "ledger_entries": "read_write",
        "ledger_journal": "read_write",
        "audit": "read_write",  # the credit posting's audit record (ADR 0017)
        "screening": "read_write",  # blocklist reads, cached provider verdicts (ADR 0020)
        "report_buckets": "read_update",  # counters with each payment change (ADR 0022)
        "customers": "read",  # a deposit's event names its customer (issue 14 §2)
    },
    "webhook_dispatcher": {
        "events": "read",  # event_payload
        "webhook_endpoints": "read_update",  # get_endpoint, set status, mark failing
        "deliveries": "read_write",  # put_delivery (one item per attempt)
        "audit": "read_write",  # an endpoint disabled after failures (ADR 0017)
    },
    "expirer": {
        "payments": "read_write",  # open_payments_due, commit
        "addresses": "read_update",  # commit deactivates the deposit address
        "transfers": "read",  # get_payment loads transactions
        "events": "read_write",  # commit puts events, outbox relay marks them
        "webhook_endpoints": "read",  # outbox fan-out (addresses: planner reads sweep_due)
        "outgoing": "read",  # planner.resume_open queries open sweeps (open_by_updated)
        # scheduled payouts (reservations) and the hot-wallet cap (cold moves)
        "merchants": "read",
        "settlement_profiles": "read",
        "disbursements": "read_write",
        "ledger_accounts": "read_write",
        "ledger_entries": "read_write",
        "ledger_journal": "read_write",
        "audit": "read_write",  # scheduled payouts and cold moves (ADR 0017)
        "report_buckets": "read_update",  # expiries, scheduled payouts (ADR 0022)
    },
    # The daily digest (docs/adr/0021): report counters, pending approvals (by_status),
    # each merchant's held funds; one idempotency record per day published.
    "digest": {
        # the digest's volumes; folding finished days of counters (ADR 0022)
        "report_buckets": "read_write",
        "disbursements": "read",
        "merchants": "read",
        "ledger_accounts": "read",
        "idempotency": "read_write",
    },
    "reconciler": {
        "addresses": "read",  # deposits that may hold tokens (sweep_due)
        "transfers": "read",  # funds not final yet: the deposits tolerance
        "ledger_accounts": "read",  # holdings
    },
    "settlement": {
        "addresses": "read_update",  # sweep_recorded lowers what is due
        "outgoing": "read_write",  # the sweep's broadcast state machine
        "ledger_accounts": "read_write",  # ledger.sweep
        "ledger_entries": "read_write",
        "ledger_journal": "read_write",
        # payouts, refunds, cold moves: status with the ledger posting and the event
        "disbursements": "read_write",
        "events": "read_write",
        "webhook_endpoints": "read",  # outbox fan-out of payout.* / refund.* events
        "audit": "read_write",  # sweeps, transfers, postings, statuses (ADR 0017)
        "report_buckets": "read_update",  # settled payouts, refunds (ADR 0022)
    },
}

# The "system" table holds singletons, one of them the custody record whose xpub decides
# where customers send money. Grants are per item (dynamodb:LeadingKeys): nobody but the
# operator's setup command may write the custody record.
CUSTODY_RECORD: Final = "custody"  # shared.custody.setup.CUSTODY_RECORD
ADDRESS_COUNTER: Final = "address_index"  # shared.custody.addresses.ADDRESS_COUNTER
SCANNER_CURSOR: Final = "scanner_cursor"  # shared.jobs.scanner.CURSOR
SCANNER_HASHES: Final = "scanner_hashes"  # shared.jobs.scanner.HASHES (fork detection)
RESCAN_QUEUE: Final = "rescan_queue"  # shared.dal.system.RESCAN_QUEUE
HOT_WALLET_NONCE: Final = "nonce#hot_wallet"  # shared.dal.outgoing.HOT_WALLET_NONCE


@dataclass(frozen=True)
class SystemItems:
    read: tuple[str, ...]
    update: tuple[str, ...] = ()


SYSTEM_TABLE: Final = "system"
SYSTEM_ACCESS: Final[dict[str, SystemItems]] = {
    # xpub for deposit addresses; the atomic address index counter
    "merchant_api": SystemItems(read=(CUSTODY_RECORD, ADDRESS_COUNTER), update=(ADDRESS_COUNTER,)),
    # cursor, lease and recent block hashes; block ranges queued for a rescan
    "chain_scanner": SystemItems(
        read=(SCANNER_CURSOR, SCANNER_HASHES, RESCAN_QUEUE),
        update=(SCANNER_CURSOR, SCANNER_HASHES, RESCAN_QUEUE),
    ),
    # POST /admin/chain/rescan appends to the queue (UpdateItem, never reads); the hot
    # wallet's public address (refused as a settlement address)
    "admin_api": SystemItems(read=(CUSTODY_RECORD,), update=(RESCAN_QUEUE,)),
    # the sealed mnemonic (decryptable by this role alone); the hot wallet's next nonce,
    # taken in the TransactWriteItems that records each signed transaction
    "settlement": SystemItems(read=(CUSTODY_RECORD, HOT_WALLET_NONCE), update=(HOT_WALLET_NONCE,)),
    # the hot wallet's public address
    "reconciler": SystemItems(read=(CUSTODY_RECORD,)),
    # the scanned head and the last finalized block: confirmations shown while confirming
    "checkout_api": SystemItems(read=(SCANNER_CURSOR,)),
}

# The audit trail is append-only (docs/adr/0017): every function role gets an explicit
# Deny of these on the audit table and its indexes, whatever its grants allow.
AUDIT_TABLE: Final = "audit"
AUDIT_DENIED_ACTIONS: Final = (
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
)

# ---- SQS grants -----------------------------------------------------------------------
# Producers of the outbox fan-out (service.commit publishes; relay re-publishes). The
# consumer's receive/delete/change-visibility come with its event source mapping.
QUEUE_SENDERS: Final[dict[str, tuple[str, ...]]] = {
    "webhooks": ("merchant_api", "admin_api", "chain_scanner", "expirer", "settlement"),
    # the expirer's planner hands due deposits and scheduled payouts to settlement; the
    # APIs hand over refunds, payouts and approved disbursements
    "settlement": ("expirer", "merchant_api", "admin_api"),
}
# Environment variable that carries each queue's URL (read by shared.config).
QUEUE_URL_ENV: Final[dict[str, str]] = {
    "webhooks": "BSCPAY_WEBHOOK_QUEUE_URL",
    "settlement": "BSCPAY_SETTLEMENT_QUEUE_URL",
}

# Functions that may publish operator alerts to the SNS topic (every function learns its
# ARN from BSCPAY_ALERTS_TOPIC_ARN): the dispatcher reports exhausted webhook deliveries.
ALERT_PUBLISHERS: Final[tuple[str, ...]] = (
    "digest",  # the daily digest (docs/adr/0021)
    "webhook_dispatcher",
    "settlement",
    "reconciler",
    "admin_api",  # a settlement address changed
)

# Functions that write large CSV exports to the exports bucket and hand out pre-signed
# URLs of them (docs/reports.md); they learn its name from BSCPAY_EXPORTS_BUCKET.
EXPORTS_WRITERS: Final[tuple[str, ...]] = ("merchant_api", "admin_api")
EXPORTS_PREFIX: Final = "exports/"  # every export's key starts with it

# The daily digest lists this deployment's alarms (cloudwatch:DescribeAlarms).
DIGEST_FUNCTION: Final = "digest"

# ---- Networks -------------------------------------------------------------------------
ADDRESS_RE: Final = re.compile(r"^0x[0-9a-fA-F]{40}$")
PREFIX_RE: Final = re.compile(r"^[a-z][a-z0-9-]{1,23}$")

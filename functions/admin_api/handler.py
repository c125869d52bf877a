"""Admin console API (/admin), behind the API Gateway Cognito authorizer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import config, logmask, tracing
from shared.actor import Actor, acting
from shared.actor import current as current_actor
from shared.admin import audit as audit_trail
from shared.admin import chain as chain_admin
from shared.admin import identity, merchants, roles, users
from shared.api import docs
from shared.api.http import (
    check_json_body,
    error_response,
    install_error_handlers,
    json_response,
    parse_limit,
    proxy_error,
)
from shared.disbursements import profiles, treasury
from shared.disbursements import service as disbursements
from shared.errors import BscpayError, Unauthenticated, ValidationFailed
from shared.events import log as events
from shared.events.payloads import payment_object
from shared.kyc import service as kyc
from shared.models.admin_api import (
    AdminDeliveryOut,
    AdminDisbursementList,
    AdminDisbursementOut,
    AdminMeOut,
    AdminPaymentDetailOut,
    AdminPaymentList,
    AdminPaymentOut,
    AdminUserList,
    AdminUserOut,
    ApiKeyList,
    ApiKeyOut,
    AuditList,
    AuditVerifyOut,
    BlocklistEntryOut,
    BlocklistList,
    GasFundingOut,
    MerchantList,
    MerchantOut,
    NewMerchantOut,
    RescanOut,
    RevokedKeyOut,
    SettlementProfileOut,
    TreasuryOut,
)
from shared.models.amounts import format_amount, parse_amount, parse_fee
from shared.models.api import (
    BlockAddress,
    CreateApiKey,
    CreateMerchant,
    DecideDisbursement,
    DepositOut,
    EventOut,
    GasFunding,
    RedeliveryOut,
    ReportSummaryOut,
    RequestPayout,
    Rescan,
    SetKyc,
    SetRoles,
    SettlementProfileIn,
    SuspendMerchant,
    UpdateMerchant,
)
from shared.models.domain import ApiKey, DisbursementStatus, Merchant, PayoutSchedule
from shared.models.reports_api import LargeTransferList, MonthlyReport, StatementOut
from shared.payments import customers
from shared.payments import service as payments
from shared.reports import exports as report_exports
from shared.reports import period as report_period
from shared.reports import regulatory
from shared.reports import responses as report_responses
from shared.reports import summary as reports
from shared.screening import blocklist as screening_blocklist
from shared.webhooks import endpoints

logger = logmask.logger()
tracer = tracing.tracer()
app = APIGatewayRestResolver(enable_validation=True)


def _claims_of(event: APIGatewayProxyEvent) -> dict[str, Any]:
    authorizer = event.request_context.authorizer.raw_event
    claims = authorizer.get("claims") if isinstance(authorizer, dict) else None
    return claims if isinstance(claims, dict) else {}


def _refusal_of(event: APIGatewayProxyEvent, route_matched: bool) -> BscpayError | None:
    """Why this caller may not make this request, or None: the one admin check. API
    Gateway's Cognito authorizer verified the JWT; the user must still be enabled and
    not signed out, and hold a role the route allows (shared.admin.roles). Before a
    route is matched, a path no rule knows is left to the resolver's 404."""
    claims = _claims_of(event)
    if not claims.get("sub"):
        return Unauthenticated("an admin token is required")
    reason = identity.refusal(claims)
    if reason is not None:
        return Unauthenticated(reason)
    if route_matched or roles.rule_for(event.http_method, event.path) is not None:
        try:
            roles.check(event.http_method, event.path, identity.roles_of(claims))
        except BscpayError as exc:
            return exc
    return None


def _is_route(method: str, path: str) -> bool:
    """A route of this API (not the resolver's not-found answer, which also passes the
    middlewares): its role rule must exist, else it is refused to everyone."""
    routes = app._static_routes + app._dynamic_routes
    return any(r.method == method.upper() and r.rule.match(path) for r in routes)


def refusal(app: APIGatewayRestResolver) -> Response[str] | None:
    # The gate of the validation and not-found handlers: they run before middlewares.
    denied = _refusal_of(app.current_event, route_matched=False)
    return error_response(denied) if denied is not None else None


def require_role(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[str]:
    """Every admin route passes here; the request then acts as its user."""
    event = app.current_event
    denied = _refusal_of(event, route_matched=_is_route(event.http_method, event.path))
    if denied is not None:
        return error_response(denied)
    claims = _claims_of(event)
    username = str(claims.get("cognito:username") or claims["sub"])
    app.append_context(admin=username)
    held = tuple(sorted(identity.roles_of(claims)))
    actor = Actor(kind="admin", id=str(claims["sub"]), name=username, roles=held)
    with acting(actor, event.request_context.request_id, event.request_context.identity.source_ip):
        return next_middleware(app)


app.use(middlewares=[require_role])
# Request validation runs before middlewares: its errors only past the admin check.
install_error_handlers(app, gate=refusal)


def _merchant(m: Merchant) -> dict[str, Any]:
    return {
        "id": m.merchant_id,
        "object": "merchant",
        "name": m.name,
        "created_at": m.created_at,
        "status": m.status,
        "status_reason": m.status_reason,
        "underpay_tolerance_bps": m.underpay_tolerance_bps,
        "rate_limit_per_minute": m.rate_limit_per_minute,
        "price_spread_bps": m.price_spread_bps,
        "kyc_status": m.kyc_status,
        "kyc_reason": m.kyc_reason,
        "kyc_changed_at": m.kyc_changed_at,
        "kyc_source": m.kyc_source,
    }


def _key(k: ApiKey, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": k.key_id,
        "object": "api_key",
        "merchant_id": k.merchant_id,
        "status": k.status,
        "created_at": k.created_at,
        "ip_allowlist": k.ip_allowlist,
        "created_by": k.created_by or None,
        "approved_by": k.approved_by,
    }
    if secret is not None:
        out["secret"] = secret  # shown once
    return out


@app.post(
    "/admin/merchants",
    responses=docs.responses(201, NewMerchantOut, "The merchant and its first key (secret once)"),
)
def create_merchant(body: Annotated[CreateMerchant, Body()]) -> Response[str]:
    merchant, key, secret = merchants.create_merchant(body.name)
    return json_response(201, {**_merchant(merchant), "api_key": _key(key, secret)})


@app.get("/admin/merchants", responses=docs.responses(200, MerchantList, "Merchants"))
def list_merchants(
    limit: Annotated[str | None, Query(max_length=4)] = None,
    starting_after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response[str]:
    items, has_more = merchants.list_merchants(parse_limit(limit), starting_after)
    return json_response(
        200, {"object": "list", "data": [_merchant(m) for m in items], "has_more": has_more}
    )


@app.post(
    "/admin/merchants/<merchant_id>", responses=docs.responses(200, MerchantOut, "The merchant")
)
def update_merchant(merchant_id: str, body: Annotated[UpdateMerchant, Body()]) -> Response[str]:
    merchant = merchants.update_settings(merchant_id, body.changes())
    return json_response(200, _merchant(merchant))


@app.post(
    "/admin/merchants/<merchant_id>/api_keys",
    responses=docs.responses(201, ApiKeyOut, "The key, with its secret (shown once)"),
)
def create_api_key(merchant_id: str, body: Annotated[CreateApiKey, Body()]) -> Response[str]:
    key, secret = merchants.create_api_key(merchant_id, body.ip_allowlist)
    return json_response(201, _key(key, secret))


@app.post(
    "/admin/merchants/<merchant_id>/api_keys/<key_id>/approve",
    responses=docs.responses(200, ApiKeyOut, "Approved by a second admin: the key works now"),
)
def approve_api_key(merchant_id: str, key_id: str) -> Response[str]:
    return json_response(200, _key(merchants.approve_api_key(merchant_id, key_id)))


@app.post(
    "/admin/merchants/<merchant_id>/suspend",
    responses=docs.responses(200, MerchantOut, "Suspended: its writes are refused"),
)
def suspend_merchant(merchant_id: str, body: Annotated[SuspendMerchant, Body()]) -> Response[str]:
    return json_response(200, _merchant(merchants.suspend(merchant_id, body.reason)))


@app.post(
    "/admin/merchants/<merchant_id>/resume",
    responses=docs.responses(200, MerchantOut, "Active again"),
)
def resume_merchant(merchant_id: str) -> Response[str]:
    return json_response(200, _merchant(merchants.resume(merchant_id)))


@app.post(
    "/admin/merchants/<merchant_id>/kyc",
    responses=docs.responses(200, MerchantOut, "The merchant with its KYC status"),
)
def set_merchant_kyc(merchant_id: str, body: Annotated[SetKyc, Body()]) -> Response[str]:
    merchant, _ = kyc.set_status(merchant_id, body.status, body.reason)
    return json_response(200, _merchant(merchant))


@app.get(
    "/admin/merchants/<merchant_id>/api_keys",
    responses=docs.responses(200, ApiKeyList, "The merchant's keys"),
)
def list_api_keys(merchant_id: str) -> Response[str]:
    items = [_key(k) for k in merchants.list_api_keys(merchant_id)]
    return json_response(200, {"object": "list", "data": items, "has_more": False})


@app.post(
    "/admin/merchants/<merchant_id>/api_keys/<key_id>/revoke",
    responses=docs.responses(200, RevokedKeyOut, "Revoked"),
)
def revoke_api_key(merchant_id: str, key_id: str) -> Response[str]:
    merchants.revoke_api_key(merchant_id, key_id)
    return json_response(200, {"id": key_id, "object": "api_key", "status": "revoked"})


@app.get(
    "/admin/payments",
    responses=docs.responses(200, AdminPaymentList, "Payments across merchants, newest first"),
)
def list_payments(
    merchant_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[str | None, Query(max_length=4)] = None,
    starting_after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response[str]:
    size = parse_limit(limit)
    if merchant_id:
        merchants.require_merchant(merchant_id)
        items, has_more = payments.list_for_merchant(merchant_id, size, starting_after, None)
    else:
        items, has_more = payments.list_all(size, starting_after)
    data = [{**payment_object(p), "merchant_id": p.merchant_id} for p in items]
    return json_response(200, {"object": "list", "data": data, "has_more": has_more})


@app.get(
    "/admin/payments/<payment_id>",
    responses=docs.responses(200, AdminPaymentDetailOut, "The payment, its transfers and events"),
)
def get_payment(payment_id: str) -> Response[str]:
    payment = payments.get_any(payment_id)
    recent, _ = events.list_for(payment.merchant_id, 100, None, None, payment.payment_id)
    attempts = endpoints.deliveries_of_events([e.event_id for e in recent])
    return json_response(
        200,
        {
            **payment_object(payment),
            "merchant_id": payment.merchant_id,
            "events": [EventOut.of(e).model_dump() for e in recent],
            "deliveries": [AdminDeliveryOut.of(d).model_dump() for d in attempts],
        },
    )


def _admin() -> str:
    return str(app.context["admin"])


def _units(value: str | None, param: str) -> int | None:
    return None if value is None else parse_amount(value, config.chain().token_decimals, param)


def _profile(merchant_id: str) -> dict[str, Any]:
    p = profiles.get_profile(merchant_id)
    decimals = config.chain().token_decimals
    return {
        "object": "settlement_profile",
        "merchant_id": p.merchant_id,
        "address": p.address,
        "schedule": p.schedule.value,
        "threshold": format_amount(p.threshold, decimals) if p.threshold is not None else None,
        "fee_bps": p.fee_bps,
        "fee_fixed": format_amount(p.fee_fixed, decimals) if p.fee_fixed is not None else None,
        "address_status": "confirmed" if p.address_confirmed_by else "pending_confirmation",
        "address_set_by": p.address_changed_by or None,
        "address_confirmed_by": p.address_confirmed_by,
        "updated_at": p.updated_at,
        "updated_by": p.updated_by,
    }


@app.post(
    "/admin/merchants/<merchant_id>/settlement",
    responses=docs.responses(200, SettlementProfileOut, "The settlement profile"),
)
def set_settlement_profile(
    merchant_id: str, body: Annotated[SettlementProfileIn, Body()]
) -> Response[str]:
    decimals = config.chain().token_decimals
    fee_fixed = None if body.fee_fixed is None else parse_fee(body.fee_fixed, decimals, "fee_fixed")
    profiles.set_profile(
        merchant_id,
        body.address,
        PayoutSchedule(body.schedule),
        _units(body.threshold, "threshold"),
        body.fee_bps,
        fee_fixed,
        _admin(),
    )
    return json_response(200, _profile(merchant_id))


@app.post(
    "/admin/merchants/<merchant_id>/settlement/confirm",
    responses=docs.responses(200, SettlementProfileOut, "The address, confirmed"),
)
def confirm_settlement_address(merchant_id: str) -> Response[str]:
    profiles.confirm_address(merchant_id, _admin())
    return json_response(200, _profile(merchant_id))


@app.get(
    "/admin/merchants/<merchant_id>/settlement",
    responses=docs.responses(200, SettlementProfileOut, "The settlement profile"),
)
def get_settlement_profile(merchant_id: str) -> Response[str]:
    return json_response(200, _profile(merchant_id))


@app.post(
    "/admin/merchants/<merchant_id>/payouts",
    responses=docs.responses(201, AdminDisbursementOut, "The payout (maybe pending approval)"),
)
def request_payout(merchant_id: str, body: Annotated[RequestPayout, Body()]) -> Response[str]:
    requester = f"admin:{_admin()}"
    # With an Idempotency-Key a double submit names the same payout (the first stands).
    key = app.current_event.headers.get("Idempotency-Key") or ""
    if len(key) > 255:
        raise ValidationFailed("Idempotency-Key is longer than 255 characters", "Idempotency-Key")
    payout_id = disbursements.payout_id_for(merchant_id, requester, key) if key else ""
    payout = disbursements.request_payout(
        merchant_id,
        requester,
        _units(body.amount, "amount"),
        disbursement_id=payout_id,
        currency=body.currency,
    )
    return json_response(201, disbursements.to_admin_json(payout))


@app.get(
    "/admin/settlements",
    responses=docs.responses(
        200, AdminDisbursementList, "Payouts, refunds and cold moves, newest first (any status)"
    ),
)
def list_settlements(
    status: Annotated[DisbursementStatus | None, Query()] = None,
    limit: Annotated[str | None, Query(max_length=4)] = None,
    starting_after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response[str]:
    items, has_more = disbursements.list_by_status(status, parse_limit(limit), starting_after)
    data = [disbursements.to_admin_json(d) for d in items]
    return json_response(200, {"object": "list", "data": data, "has_more": has_more})


@app.get(
    "/admin/settlements/<disbursement_id>",
    responses=docs.responses(200, AdminDisbursementOut, "The payout, refund or cold move"),
)
def get_settlement(disbursement_id: str) -> Response[str]:
    return json_response(200, disbursements.to_admin_json(disbursements.get(disbursement_id)))


@app.post(
    "/admin/settlements/<disbursement_id>/approve",
    responses=docs.responses(200, AdminDisbursementOut, "Approved: queued for sending"),
)
def approve_settlement(disbursement_id: str) -> Response[str]:
    return json_response(
        200, disbursements.to_admin_json(disbursements.approve(disbursement_id, _admin()))
    )


@app.post(
    "/admin/settlements/<disbursement_id>/reject",
    responses=docs.responses(200, AdminDisbursementOut, "Rejected: the reservation returns"),
)
def reject_settlement(
    disbursement_id: str, body: Annotated[DecideDisbursement, Body()]
) -> Response[str]:
    rejected = disbursements.reject(disbursement_id, _admin(), body.reason)
    return json_response(200, disbursements.to_admin_json(rejected))


@app.get("/admin/treasury", responses=docs.responses(200, TreasuryOut, "Holdings"))
def get_treasury() -> Response[str]:
    return json_response(200, treasury.overview())


@app.post(
    "/admin/treasury/gas_funding",
    responses=docs.responses(201, GasFundingOut, "The BNB booked for gas"),
)
def record_gas_funding(body: Annotated[GasFunding, Body()]) -> Response[str]:
    wei = treasury.record_gas_funding(body.tx_hash)
    logger.info("gas funding recorded", extra={"tx_hash": body.tx_hash, "by": _admin()})
    return json_response(
        201, {"object": "gas_funding", "tx_hash": body.tx_hash, "bnb": format_amount(wei, 18)}
    )


@app.post("/admin/chain/rescan", responses=docs.responses(202, RescanOut, "The rescan, queued"))
def rescan(body: Annotated[Rescan, Body()]) -> Response[str]:
    queued = chain_admin.request_rescan(body.from_block, body.to_block, str(app.context["admin"]))
    return json_response(202, queued)


@app.post(
    "/admin/events/<event_id>/redeliver",
    responses=docs.responses(202, RedeliveryOut, "The event, queued for its endpoints again"),
)
def redeliver_event(event_id: str) -> Response[str]:
    count = events.redeliver(events.merchant_of(event_id), event_id)
    return json_response(202, {"id": event_id, "object": "event", "redelivering_to": count})


@app.get("/admin/me", responses=docs.responses(200, AdminMeOut, "Who is calling, and their roles"))
def who_am_i() -> Response[str]:
    actor = current_actor()
    return json_response(
        200, {"object": "admin_user", "username": actor.name, "roles": list(actor.roles)}
    )


@app.get(
    "/admin/reports/summary",
    responses=docs.responses(200, ReportSummaryOut, "Payments, conversion and money per interval"),
)
def report_summary(
    from_: Annotated[str | None, Query(alias="from", max_length=12)] = None,
    to: Annotated[str | None, Query(max_length=12)] = None,
    interval: Annotated[str, Query(max_length=8)] = "day",
    merchant_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response[str]:
    span = reports.report_period(from_, to)
    if merchant_id is not None:
        merchants.require_merchant(merchant_id)  # 404 for an unknown merchant
    return json_response(200, reports.summary(merchant_id, span, interval))


@app.get("/admin/audit", responses=docs.responses(200, AuditList, "Audit records, newest first"))
def list_audit(
    actor: Annotated[str | None, Query(max_length=200)] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=200)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=12)] = None,
    to: Annotated[str | None, Query(max_length=12)] = None,
    limit: Annotated[str | None, Query(max_length=4)] = None,
    starting_after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response[str]:
    data, has_more = audit_trail.list_records(
        actor, target, action, from_, to, parse_limit(limit, default=50), starting_after
    )
    return json_response(200, {"object": "list", "data": data, "has_more": has_more})


@app.get(
    "/admin/audit/verify",
    responses=docs.responses(200, AuditVerifyOut, "Whether every audit chain is intact"),
)
def verify_audit() -> Response[str]:
    return json_response(200, audit_trail.verify())


@app.get("/admin/users", responses=docs.responses(200, AdminUserList, "Console users"))
def list_users() -> Response[str]:
    data = users.list_users()
    return json_response(200, {"object": "list", "data": data, "has_more": False})


@app.post(
    "/admin/users/<username>/roles",
    responses=docs.responses(200, AdminUserOut, "The user's roles now"),
)
def set_user_roles(username: str, body: Annotated[SetRoles, Body()]) -> Response[str]:
    return json_response(200, users.set_roles(username, list(body.roles)))


@app.post(
    "/admin/users/<username>/sign_out",
    responses=docs.responses(200, AdminUserOut, "Every session of the user ended"),
)
def sign_out_user(username: str) -> Response[str]:
    return json_response(200, users.sign_out(username))


@app.post("/admin/me/sign_out", responses=docs.responses(200, AdminUserOut, "Every session ended"))
def sign_out_me() -> Response[str]:
    return json_response(200, users.sign_out(_admin()))


# ---- AML screening and held payments (docs/adr/0020) ----------------------------------


def _block_entry(e: Any) -> dict[str, Any]:
    return {
        "object": "blocklist_entry",
        "address": e.address,
        "reason": e.reason,
        "created_by": e.created_by,
        "created_at": e.created_at,
    }


@app.post(
    "/admin/screening/blocklist",
    responses=docs.responses(201, BlocklistEntryOut, "Listed: its transfers are held from now"),
)
def add_to_blocklist(body: Annotated[BlockAddress, Body()]) -> Response[str]:
    return json_response(201, _block_entry(screening_blocklist.add(body.address, body.reason)))


@app.get(
    "/admin/screening/blocklist",
    responses=docs.responses(200, BlocklistList, "Blocklisted addresses, newest first"),
)
def list_blocklist(
    limit: Annotated[str | None, Query(max_length=4)] = None,
    starting_after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response[str]:
    items, has_more = screening_blocklist.list_entries(parse_limit(limit), starting_after)
    data = [_block_entry(e) for e in items]
    return json_response(200, {"object": "list", "data": data, "has_more": has_more})


@app.delete(
    "/admin/screening/blocklist/<address>",
    responses=docs.responses(200, BlocklistEntryOut, "Removed (what was listed)"),
)
def remove_from_blocklist(address: str) -> Response[str]:
    return json_response(200, _block_entry(screening_blocklist.remove(address)))


@app.post(
    "/admin/payments/<payment_id>/release",
    responses=docs.responses(200, AdminPaymentOut, "Released: credited, status recomputed"),
)
def release_held_payment(payment_id: str) -> Response[str]:
    p = payments.release(payment_id, current_actor().label)
    return json_response(200, {**payment_object(p), "merchant_id": p.merchant_id})


@app.post(
    "/admin/customers/<customer_id>/deposits/<deposit_id>/release",
    responses=docs.responses(200, DepositOut, "Released: the deposit's funds are available"),
)
def release_held_deposit(customer_id: str, deposit_id: str) -> Response[str]:
    return json_response(
        200, customers.release_held(customer_id, deposit_id, current_actor().label)
    )


@app.post(
    "/admin/payments/<payment_id>/return",
    responses=docs.responses(201, AdminDisbursementOut, "The refund to the sender"),
)
def return_held_payment(payment_id: str) -> Response[str]:
    refund = disbursements.return_held(payment_id, current_actor().label)
    return json_response(201, disbursements.to_admin_json(refund))


# ---- exports, statements and regulatory reports (docs/reports.md) ---------------------

Format = Literal["json", "csv"]


@app.get(
    "/admin/exports/<export>",
    responses=report_responses.csv_docs(
        "payments.csv, transfers.csv, settlements.csv or refunds.csv of one merchant "
        "(merchant_id) or of every merchant"
    ),
)
def admin_export_csv(
    export: str,
    merchant_id: Annotated[str | None, Query(max_length=64)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=12)] = None,
    to: Annotated[str | None, Query(max_length=12)] = None,
) -> Response[str]:
    kind = report_exports.kind_of(export)
    if merchant_id is not None:
        merchants.require_merchant(merchant_id)  # 404 for an unknown merchant
    period = report_period.parse_period(from_, to)
    file = report_exports.export(kind, merchant_id, period)
    report_responses.audit_export(kind.name, merchant_id, period, file.rows, file)
    return report_responses.csv_response(file)


@app.get(
    "/admin/merchants/<merchant_id>/statement",
    responses=report_responses.csv_docs("The merchant's statement", StatementOut),
)
def admin_statement(
    merchant_id: str,
    from_: Annotated[str | None, Query(alias="from", max_length=12)] = None,
    to: Annotated[str | None, Query(max_length=12)] = None,
    format_: Annotated[Format, Query(alias="format")] = "json",
) -> Response[str]:
    merchants.require_merchant(merchant_id)
    period = report_period.parse_period(from_, to)
    return report_responses.statement_response(merchant_id, period, format_, audited=True)


@app.get(
    "/admin/reports/large_transfers",
    responses=report_responses.csv_docs(
        "Incoming transfers of at least the threshold, alone or per sender and day",
        LargeTransferList,
    ),
)
def large_transfers(
    from_: Annotated[str | None, Query(alias="from", max_length=12)] = None,
    to: Annotated[str | None, Query(max_length=12)] = None,
    threshold: Annotated[str | None, Query(max_length=40)] = None,
    format_: Annotated[Format, Query(alias="format")] = "json",
) -> Response[str]:
    period = report_period.parse_period(from_, to)
    units = regulatory.parse_threshold(threshold)
    return report_responses.large_transfers_response(period, units, format_)


@app.get(
    "/admin/reports/monthly",
    responses=report_responses.csv_docs("Per-merchant totals of one month", MonthlyReport),
)
def monthly_report(
    month: Annotated[str | None, Query(max_length=7)] = None,
    format_: Annotated[Format, Query(alias="format")] = "json",
) -> Response[str]:
    return report_responses.monthly_response(report_period.parse_month(month), format_)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # responses carry secrets
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Powertools parses the body before any middleware: refuse strangers and roles the
    # route does not allow, then non-JSON bodies, first (the merchant API does the same
    # after its signature check).
    proxy = APIGatewayProxyEvent(event)
    try:
        denied = _refusal_of(proxy, route_matched=False)
        if denied is not None:
            raise denied
        check_json_body(proxy)
    except BscpayError as exc:
        return proxy_error(exc)
    return app.resolve(event, context)

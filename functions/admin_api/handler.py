"""Admin console API (/admin), behind the API Gateway Cognito authorizer."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import config
from shared.admin import chain as chain_admin
from shared.admin import merchants
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
from shared.events.payloads import payment_object
from shared.models.admin_api import (
    AdminDisbursementList,
    AdminDisbursementOut,
    AdminPaymentList,
    ApiKeyList,
    ApiKeyOut,
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
    CreateApiKey,
    CreateMerchant,
    DecideDisbursement,
    GasFunding,
    RequestPayout,
    Rescan,
    SettlementProfileIn,
    UpdateMerchant,
)
from shared.models.domain import ApiKey, DisbursementStatus, Merchant, PayoutSchedule
from shared.payments import service as payments

logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver(enable_validation=True)


def _claims_of(event: APIGatewayProxyEvent) -> dict[str, Any]:
    authorizer = event.request_context.authorizer.raw_event
    claims = authorizer.get("claims") if isinstance(authorizer, dict) else None
    return claims if isinstance(claims, dict) else {}


def _claims(app: APIGatewayRestResolver) -> dict[str, Any]:
    return _claims_of(app.current_event)


def refusal(app: APIGatewayRestResolver) -> Response[str] | None:
    # API Gateway's Cognito authorizer verified the JWT; refuse if it did not run.
    if not _claims(app).get("sub"):
        return error_response(Unauthenticated("an admin token is required"))
    return None


def require_admin(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[str]:
    denied = refusal(app)
    if denied is not None:
        return denied
    claims = _claims(app)
    app.append_context(admin=claims.get("cognito:username") or claims["sub"])
    return next_middleware(app)


app.use(middlewares=[require_admin])
# Request validation runs before middlewares: its errors only past the admin check.
install_error_handlers(app, gate=refusal)


def _merchant(m: Merchant) -> dict[str, Any]:
    return {
        "id": m.merchant_id,
        "object": "merchant",
        "name": m.name,
        "created_at": m.created_at,
        "underpay_tolerance_bps": m.underpay_tolerance_bps,
    }


def _key(k: ApiKey, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": k.key_id,
        "object": "api_key",
        "merchant_id": k.merchant_id,
        "status": k.status,
        "created_at": k.created_at,
        "ip_allowlist": k.ip_allowlist,
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
    merchant = merchants.set_underpay_tolerance(merchant_id, body.underpay_tolerance_bps)
    return json_response(200, _merchant(merchant))


@app.post(
    "/admin/merchants/<merchant_id>/api_keys",
    responses=docs.responses(201, ApiKeyOut, "The key, with its secret (shown once)"),
)
def create_api_key(merchant_id: str, body: Annotated[CreateApiKey, Body()]) -> Response[str]:
    key, secret = merchants.create_api_key(merchant_id, body.ip_allowlist)
    return json_response(201, _key(key, secret))


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
        merchant_id, requester, _units(body.amount, "amount"), disbursement_id=payout_id
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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # responses carry secrets
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Powertools parses the body before any middleware: refuse strangers, then non-JSON
    # bodies, first (the merchant API does the same after its signature check).
    proxy = APIGatewayProxyEvent(event)
    try:
        if not _claims_of(proxy).get("sub"):
            raise Unauthenticated("an admin token is required")
        check_json_body(proxy)
    except BscpayError as exc:
        return proxy_error(exc)
    return app.resolve(event, context)

"""Merchant REST API (/v1): routing and shaping only; logic lives in ``shared``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import config, logmask, tracing
from shared.api import budgets, docs, merchant_auth
from shared.api.http import install_error_handlers, json_response
from shared.disbursements import service as disbursements
from shared.events import log as events
from shared.events import payloads
from shared.kyc import callback as kyc_callback
from shared.models.amounts import parse_amount
from shared.models.api import (
    BalanceOut,
    CreateCustomer,
    CreatePayment,
    CreateRefund,
    CreateWebhookEndpoint,
    CustomerList,
    CustomerOut,
    DeletedOut,
    DeliveryList,
    DeliveryOut,
    DepositList,
    DisbursementList,
    DisbursementOut,
    EventList,
    EventOut,
    PaymentList,
    PaymentOut,
    RedeliveryOut,
    ReportSummaryOut,
    WebhookEndpointList,
    WebhookEndpointOut,
)
from shared.models.domain import Customer, DisbursementKind, Payment, PaymentStatus
from shared.models.events import EventType
from shared.models.reports_api import StatementOut
from shared.payments import balances, customers
from shared.payments import service as payments
from shared.reports import exports as report_exports
from shared.reports import period as report_period
from shared.reports import responses as report_responses
from shared.reports import summary as reports
from shared.webhooks import endpoints

logger = logmask.logger()
tracer = tracing.tracer()
app = APIGatewayRestResolver(enable_validation=True)
app.use(middlewares=[merchant_auth.idempotency])
install_error_handlers(app)


PAYMENT_ID = r"^pay_[0-9a-f]{1,60}$"
EVENT_ID = r"^evt_[0-9a-f]{1,60}$"
PAYOUT_ID = r"^po_[0-9a-f]{1,60}$"
REFUND_ID = r"^re_[0-9a-f]{1,60}$"
CUSTOMER_ID = r"^cus_[0-9a-f]{1,60}$"


def _merchant() -> str:
    return str(app.context[merchant_auth.MERCHANT])


def _payment(p: Payment) -> dict[str, Any]:
    return payloads.payment_object(p)  # the same object the payment's events carry


def _units(amount: str, param: str = "amount") -> int:
    """The one place a merchant's decimal string becomes base units."""
    return parse_amount(amount, config.chain().token_decimals, param)


@app.post("/v1/payments", responses=docs.responses(201, PaymentOut, "The new payment"))
def create_payment(body: Annotated[CreatePayment, Body()]) -> Response[str]:
    request = payments.NewPayment(
        amount=_units(body.amount) if body.amount is not None else 0,
        price=(body.price.amount, body.price.currency) if body.price else None,
        currency=body.currency,
        order_id=body.order_id,
        metadata=body.metadata,
        expires_in=body.expires_in,
        success_url=body.success_url,
        cancel_url=body.cancel_url,
    )
    return json_response(201, _payment(payments.create(_merchant(), request)))


@app.get("/v1/payments", responses=docs.responses(200, PaymentList, "Payments, newest first"))
def list_payments(
    status: Annotated[PaymentStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    starting_after: Annotated[str | None, Query(pattern=PAYMENT_ID)] = None,
) -> Response[str]:
    items, has_more = payments.list_for_merchant(
        _merchant(), limit, starting_after, status.value if status else None
    )
    return json_response(
        200, {"object": "list", "data": [_payment(p) for p in items], "has_more": has_more}
    )


@app.get("/v1/payments/<payment_id>", responses=docs.responses(200, PaymentOut, "The payment"))
def get_payment(payment_id: str) -> Response[str]:
    return json_response(200, _payment(payments.get(_merchant(), payment_id)))


@app.post(
    "/v1/payments/<payment_id>/cancel",
    responses=docs.responses(200, PaymentOut, "The canceled payment"),
)
def cancel_payment(payment_id: str) -> Response[str]:
    return json_response(200, _payment(payments.cancel(_merchant(), payment_id)))


def _customer(c: Customer) -> dict[str, Any]:
    token = config.chain().token(c.currency)
    return {
        "id": c.customer_id,
        "object": "customer",
        "reference": c.reference,
        "currency": c.currency,
        "address": c.address,
        "network": "bsc",
        "chain_id": config.chain().chain_id,
        "token_address": token.address if token else None,
        "created_at": c.created_at,
    }


@app.post(
    "/v1/customers",
    responses={
        **docs.responses(201, CustomerOut, "A new customer and its permanent deposit address"),
        **docs.responses(200, CustomerOut, "The customer this reference already names"),
    },
)
def create_customer(body: Annotated[CreateCustomer, Body()]) -> Response[str]:
    customer, created = customers.create(_merchant(), body.reference, body.currency)
    return json_response(201 if created else 200, _customer(customer))


@app.get("/v1/customers", responses=docs.responses(200, CustomerList, "Customers, newest first"))
def list_customers(
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    starting_after: Annotated[str | None, Query(pattern=CUSTOMER_ID)] = None,
) -> Response[str]:
    items, has_more = customers.list_for_merchant(_merchant(), limit, starting_after)
    return json_response(
        200, {"object": "list", "data": [_customer(c) for c in items], "has_more": has_more}
    )


@app.get("/v1/customers/<customer_id>", responses=docs.responses(200, CustomerOut, "The customer"))
def get_customer(customer_id: str) -> Response[str]:
    return json_response(200, _customer(customers.get(_merchant(), customer_id)))


@app.get(
    "/v1/customers/<customer_id>/deposits",
    responses=docs.responses(200, DepositList, "Every deposit to the customer's address"),
)
def list_deposits(customer_id: str) -> Response[str]:
    customer, found = customers.deposits(_merchant(), customer_id)
    data = [customers.deposit_object(customer, t) for t in found]
    return json_response(200, {"object": "list", "data": data, "has_more": False})


@app.get("/v1/balance", responses=docs.responses(200, BalanceOut, "The merchant's balance"))
def get_balance() -> Response[str]:
    balance = BalanceOut.of(balances.per_currency(_merchant()), config.chain().token_decimals)
    return json_response(200, balance.model_dump())


@app.get(
    "/v1/reports/summary",
    responses=docs.responses(200, ReportSummaryOut, "Payments, conversion and money per interval"),
)
def report_summary(
    from_: Annotated[str | None, Query(alias="from", max_length=12)] = None,
    to: Annotated[str | None, Query(max_length=12)] = None,
    interval: Annotated[str, Query(max_length=8)] = "day",
) -> Response[str]:
    span = reports.report_period(from_, to)
    return json_response(200, reports.summary(_merchant(), span, interval))


@app.get(
    "/v1/settlements",
    responses=docs.responses(200, DisbursementList, "Payouts to the settlement address"),
)
def list_settlements(
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    starting_after: Annotated[str | None, Query(pattern=PAYOUT_ID)] = None,
) -> Response[str]:
    items, has_more = disbursements.list_for_merchant(
        _merchant(), DisbursementKind.PAYOUT, limit, starting_after
    )
    data = [disbursements.to_json(d) for d in items]
    return json_response(200, {"object": "list", "data": data, "has_more": has_more})


@app.get(
    "/v1/settlements/<payout_id>", responses=docs.responses(200, DisbursementOut, "The payout")
)
def get_settlement(payout_id: str) -> Response[str]:
    d = disbursements.get_for_merchant(_merchant(), payout_id, DisbursementKind.PAYOUT)
    return json_response(200, disbursements.to_json(d))


@app.post(
    "/v1/payments/<payment_id>/refunds",
    responses=docs.responses(201, DisbursementOut, "The refund (maybe pending approval)"),
)
def create_refund(payment_id: str, body: Annotated[CreateRefund, Body()]) -> Response[str]:
    amount = _units(body.amount)
    merchant = _merchant()
    refund = disbursements.request_refund(
        merchant, payment_id, body.address, amount, requested_by=f"merchant:{merchant}"
    )
    return json_response(201, disbursements.to_json(refund))


@app.get(
    "/v1/payments/<payment_id>/refunds",
    responses=docs.responses(200, DisbursementList, "The payment's refunds, newest first"),
)
def list_refunds(payment_id: str) -> Response[str]:
    items = disbursements.refunds_of(_merchant(), payment_id)
    data = [disbursements.to_json(d) for d in items]
    return json_response(200, {"object": "list", "data": data, "has_more": False})


@app.get("/v1/refunds/<refund_id>", responses=docs.responses(200, DisbursementOut, "The refund"))
def get_refund(refund_id: str) -> Response[str]:
    d = disbursements.get_for_merchant(_merchant(), refund_id, DisbursementKind.REFUND)
    return json_response(200, disbursements.to_json(d))


@app.post(
    "/v1/webhook_endpoints",
    responses=docs.responses(201, WebhookEndpointOut, "The endpoint, with its secret (shown once)"),
)
def create_webhook_endpoint(body: Annotated[CreateWebhookEndpoint, Body()]) -> Response[str]:
    endpoint, secret = endpoints.create(_merchant(), body.url, body.events)
    return json_response(201, WebhookEndpointOut.of(endpoint, secret).to_json())


@app.get(
    "/v1/webhook_endpoints", responses=docs.responses(200, WebhookEndpointList, "Webhook endpoints")
)
def list_webhook_endpoints() -> Response[str]:
    items = [WebhookEndpointOut.of(e).to_json() for e in endpoints.list_for(_merchant())]
    return json_response(200, {"object": "list", "data": items, "has_more": False})


@app.delete(
    "/v1/webhook_endpoints/<endpoint_id>", responses=docs.responses(200, DeletedOut, "Deleted")
)
def delete_webhook_endpoint(endpoint_id: str) -> Response[str]:
    endpoints.delete(_merchant(), endpoint_id)
    return json_response(200, {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True})


@app.post(
    "/v1/webhook_endpoints/<endpoint_id>/rotate_secret",
    responses=docs.responses(200, WebhookEndpointOut, "The endpoint with its new secret"),
)
def rotate_webhook_secret(endpoint_id: str) -> Response[str]:
    endpoint, secret = endpoints.rotate_secret(_merchant(), endpoint_id)
    return json_response(200, WebhookEndpointOut.of(endpoint, secret).to_json())


@app.post(
    "/v1/webhook_endpoints/<endpoint_id>/test",
    responses=docs.responses(202, EventOut, "The ping event, queued"),
)
def test_webhook_endpoint(endpoint_id: str) -> Response[str]:
    budgets.spend_webhook_action(_merchant())
    event = endpoints.send_test(_merchant(), endpoint_id)
    return json_response(202, EventOut.of(event).model_dump())


@app.get(
    "/v1/webhook_endpoints/<endpoint_id>/deliveries",
    responses=docs.responses(200, DeliveryList, "Delivery attempts, newest first"),
)
def list_deliveries(
    endpoint_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    starting_after: Annotated[str | None, Query(max_length=80)] = None,
) -> Response[str]:
    items, has_more = endpoints.deliveries(_merchant(), endpoint_id, limit, starting_after)
    data = [DeliveryOut.of(d).model_dump() for d in items]
    return json_response(200, {"object": "list", "data": data, "has_more": has_more})


@app.get("/v1/events", responses=docs.responses(200, EventList, "Events, newest first"))
def list_events(
    type: Annotated[EventType | None, Query()] = None,
    payment_id: Annotated[str | None, Query(pattern=PAYMENT_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    starting_after: Annotated[str | None, Query(pattern=EVENT_ID)] = None,
) -> Response[str]:
    items, has_more = events.list_for(_merchant(), limit, starting_after, type, payment_id)
    data = [EventOut.of(e).model_dump() for e in items]
    return json_response(200, {"object": "list", "data": data, "has_more": has_more})


@app.get("/v1/events/<event_id>", responses=docs.responses(200, EventOut, "The event"))
def get_event(event_id: str) -> Response[str]:
    return json_response(200, EventOut.of(events.get(_merchant(), event_id)).model_dump())


@app.post(
    "/v1/events/<event_id>/redeliver",
    responses=docs.responses(202, RedeliveryOut, "Redelivery queued"),
)
def redeliver_event(event_id: str) -> Response[str]:
    budgets.spend_webhook_action(_merchant())
    count = events.redeliver(_merchant(), event_id)
    return json_response(202, {"id": event_id, "object": "event", "redelivering_to": count})


@app.get(
    "/v1/exports/<export>",
    responses=report_responses.csv_docs(
        "payments.csv, transfers.csv, settlements.csv or refunds.csv (columns: docs/reports.md)"
    ),
)
def export_csv(
    export: str,
    from_: Annotated[str | None, Query(alias="from", max_length=12)] = None,
    to: Annotated[str | None, Query(max_length=12)] = None,
) -> Response[str]:
    kind = report_exports.kind_of(export)
    period = report_period.parse_period(from_, to)
    return report_responses.csv_response(report_exports.export(kind, _merchant(), period))


@app.get(
    "/v1/statement",
    responses=report_responses.csv_docs(
        "Opening balance, every ledger entry with a running balance, closing balance",
        StatementOut,
    ),
)
def get_statement(
    from_: Annotated[str | None, Query(alias="from", max_length=12)] = None,
    to: Annotated[str | None, Query(max_length=12)] = None,
    format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Response[str]:
    period = report_period.parse_period(from_, to)
    return report_responses.statement_response(_merchant(), period, format_)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # responses carry secrets
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("path") == kyc_callback.PATH:
        # The KYC provider's callback: signed with its own shared secret, no API key.
        return kyc_callback.lambda_response(event)
    return merchant_auth.resolve(app, event, context)

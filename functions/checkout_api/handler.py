"""Public hosted-checkout API (``GET /pay/{payment_id}/status``, issue 13): routing and
shaping only; the logic (rate limit, what the customer may see) is ``shared.checkout``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import logmask, tracing
from shared.api import docs
from shared.api.http import error_body, install_error_handlers, json_response
from shared.checkout import ratelimit
from shared.checkout import status as checkout
from shared.models.checkout import CheckoutOut

logger = logmask.logger()
tracer = tracing.tracer()
app = APIGatewayRestResolver()
install_error_handlers(app)

# Every answer (errors too): never cached by a browser or CloudFront, never sniffed.
NO_STORE = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@app.exception_handler(ratelimit.CheckoutThrottled)
def _throttled(exc: ratelimit.CheckoutThrottled) -> Response[str]:
    return Response(
        status_code=429,
        content_type="application/json",
        body=error_body(exc.type, exc.code, exc.message),
        headers={"Retry-After": str(exc.retry_after_s)},
    )


@app.get(
    "/pay/<payment_id>/status",
    summary="The hosted checkout's public status of a payment (no authentication)",
    description=(
        "What the paying customer's page polls: amounts, deposit address, EIP-681 URI, "
        "status and confirmations, expiry and server time. Nothing merchant-private. "
        "Rate limited per client IP (429 with Retry-After); never cached (no-store)."
    ),
    responses=docs.responses(200, CheckoutOut, "The payment as the checkout page shows it"),
)
def get_status(payment_id: str) -> Response[str]:
    event = app.current_event
    client = ratelimit.client_ip(event.headers, event.request_context.identity.source_ip)
    out: CheckoutOut = checkout.status(payment_id, client)
    return json_response(200, out.model_dump())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = app.resolve(event, context)
    multi = result.setdefault("multiValueHeaders", {}) or {}
    for key, value in NO_STORE.items():
        multi[key] = [value]
    result["multiValueHeaders"] = multi
    return result

"""Why a queued payout, refund or cold move is not sent yet, shown on the object
(``waiting_for`` and ``waiting_message``) so nobody stares at ``queued`` guessing.

Reasons: the merchant's KYC is not verified yet where payouts require it
(``merchant_kyc``, docs/adr/0021), or the hot wallet holds less than the transfer (paid deposits
are swept into it moments later; settlement sends the transfer as soon as a sweep is
booked, see ``worker.release_after_sweep``). A queued record without a reason is simply
next in the settlement queue."""

from __future__ import annotations

from shared import config, ledger
from shared.dal import merchants as merchant_repo
from shared.kyc import service as kyc
from shared.models.amounts import format_amount
from shared.models.domain import Disbursement, DisbursementKind, DisbursementStatus

HOT_WALLET_LIQUIDITY = "hot_wallet_liquidity"
MERCHANT_KYC = "merchant_kyc"


def reason(d: Disbursement) -> dict[str, str | None]:
    """``{"waiting_for": code | None, "waiting_message": text | None}``."""
    if d.status is not DisbursementStatus.QUEUED:
        return {"waiting_for": None, "waiting_message": None}
    if d.kind is DisbursementKind.PAYOUT and d.merchant_id and config.kyc().payouts_require_kyc:
        merchant = merchant_repo.get_merchant(d.merchant_id)
        if kyc.payouts_blocked(merchant):
            return {
                "waiting_for": MERCHANT_KYC,
                "waiting_message": (
                    "Payouts wait until the merchant's KYC is verified; this one is sent "
                    "as soon as it is."
                ),
            }
    held = ledger.default().holdings()["holdings:hot"]
    if held >= d.amount:
        return {"waiting_for": None, "waiting_message": None}
    decimals = config.chain().token_decimals
    return {
        "waiting_for": HOT_WALLET_LIQUIDITY,
        "waiting_message": (
            f"The hot wallet holds {format_amount(held, decimals)} USDT of the "
            f"{format_amount(d.amount, decimals)} USDT this transfer needs. It is sent as "
            "soon as a sweep of paid deposits brings enough; if none does in time, it "
            "fails and the reserved amount returns to the balance."
        ),
    }

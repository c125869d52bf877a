"""Why a queued payout, refund or cold move is not sent yet, shown on the object
(``waiting_for`` and ``waiting_message``) so nobody stares at ``queued`` guessing.

Today there is one reason: the hot wallet holds less than the transfer (paid deposits
are swept into it moments later; settlement sends the transfer as soon as a sweep is
booked, see ``worker.release_after_sweep``). A queued record without a reason is simply
next in the settlement queue."""

from __future__ import annotations

from shared import config, ledger
from shared.models.amounts import format_amount
from shared.models.domain import Disbursement, DisbursementStatus

HOT_WALLET_LIQUIDITY = "hot_wallet_liquidity"


def reason(d: Disbursement) -> dict[str, str | None]:
    """``{"waiting_for": code | None, "waiting_message": text | None}``."""
    if d.status is not DisbursementStatus.QUEUED:
        return {"waiting_for": None, "waiting_message": None}
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

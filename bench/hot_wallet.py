"""Hot-wallet transactions a minute through the wallet's one writer (issue 16 §2, ADR 0040).

Every hot-wallet transaction passes through one FIFO message group, so that group's
time per transaction bounds the wallet. A local stack (moto + anvil with the design's
0.45 s blocks, no workers) and the real outbound state machine send ``N_TRANSFERS`` USDT
transfers from the deployment's hot wallet, one after another as the group does, twice:

- **waiting** (before ADR 0040): each call waits for its receipt with the deployed
  settings (``BSCPAY_OUTBOUND_*`` defaults) before the next one starts;
- **hand-off** (ADR 0040): each call signs, broadcasts and looks once for its receipt
  (``handoff.without_waiting``); the transfers are then confirmed (their own groups in
  AWS, here one after another).

Reported: the wallet group's transactions a minute in each mode, and for the hand-off
the time until every transfer was confirmed. Every transfer is checked CONFIRMED.

    .venv/bin/python -m bench.hot_wallet     # writes bench/results/hot_wallet.json
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench.common import RESULTS_DIR, machine

N_TRANSFERS = 20
USDT = 10**18


def _transfers(run: str, mode: str, stack: Any, hot: Any, to: str) -> dict[str, Any]:
    from shared import config
    from shared.chain import evm
    from shared.settlement import handoff
    from shared.settlement.outbound import TransferStillPending, send_token

    w3 = evm.client()
    token = stack.info["token_address"]
    waiting = mode == "waiting"
    settings = config.outbound() if waiting else handoff.without_waiting()
    ids = [f"bench_{run}_{mode}_{n}" for n in range(N_TRANSFERS)]
    start = time.perf_counter()
    for tx_id in ids:
        try:
            send_token(
                w3, hot, tx_id, to, USDT, token=token, gas=evm.gas_policy(), settings=settings
            )
        except TransferStillPending:
            assert not waiting
    group_s = time.perf_counter() - start
    # The confirmations: in AWS each in its own group; here one after another.
    for tx_id in ids:
        outcome = send_token(w3, hot, tx_id, to, USDT, token=token, gas=evm.gas_policy())
        assert outcome.state == "CONFIRMED", outcome
    all_s = time.perf_counter() - start
    return {
        "wallet_group_s": round(group_s, 2),
        "wallet_group_tx_per_min": round(60 * N_TRANSFERS / group_s, 1),
        "all_confirmed_s": round(all_s, 2),
    }


def run(progress: Any = print) -> dict[str, Any]:
    from eth_account import Account

    from shared.local import chain
    from shared.local.stack import LocalStack, StackConfig
    from shared.settlement import custody

    cfg = StackConfig(
        api_port=chain.free_port(),
        rpc_port=chain.free_port(),
        aws_port=chain.free_port(),
        prefix="bscpay-hotwallet",
        state_file=None,
        run_workers=False,
    )
    stack = LocalStack(cfg).start()
    try:
        hot = custody.load_keys([]).hot_wallet
        chain.transfer(
            stack.info["rpc_url"],
            stack.info["token_address"],
            stack.info["customer"]["private_key"],
            hot.address,
            4 * N_TRANSFERS * USDT,
        )
        to = Account.create().address
        run_id = str(int(time.time()))
        modes: dict[str, Any] = {}
        for mode in ("waiting", "handoff"):
            progress(f"  {N_TRANSFERS} transfers, {mode}")
            modes[mode] = _transfers(run_id, mode, stack, hot, to)
        received = chain.token_balance(stack.info["rpc_url"], stack.info["token_address"], to)
        assert received == 2 * N_TRANSFERS * USDT, received  # each sent exactly once
    finally:
        stack.stop()
    ratio = (
        modes["handoff"]["wallet_group_tx_per_min"] / modes["waiting"]["wallet_group_tx_per_min"]
    )
    return {
        "transfers_per_mode": N_TRANSFERS,
        "block_time_s": cfg.block_time,
        "modes": modes,
        "wallet_group_speedup": round(ratio, 1),
        "notes": [
            "wallet group: one transfer after another, as the hot wallet's FIFO group runs "
            "them; waiting = deployed BSCPAY_OUTBOUND_* defaults (1 s receipt polls).",
            "the function's work only: SQS and Lambda add their per-message turnover of a "
            "FIFO group (tens of ms) in AWS.",
            "2 cores shared by anvil, moto and this process.",
        ],
        "machine": machine(),
    }


def main() -> None:
    print("hot wallet: transactions a minute through the wallet's message group")
    result = run()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "hot_wallet.json").write_text(json.dumps(result, indent=2) + "\n")
    waiting, handoff = result["modes"]["waiting"], result["modes"]["handoff"]
    print(
        f"hot wallet: {waiting['wallet_group_tx_per_min']} tx/min waiting for receipts, "
        f"{handoff['wallet_group_tx_per_min']} tx/min handing them off "
        f"({result['wallet_group_speedup']}x); all {N_TRANSFERS} confirmed after "
        f"{handoff['all_confirmed_s']} s"
    )


if __name__ == "__main__":
    main()

"""(e) Sweeps: gas per swept deposit, naive "top up BNB, then transfer" vs EIP-7702 batched.

DESIGN §8: batched ≤ 50% of naive. Run with ``python -m bench.sweep``; writes
``bench/results/sweep.json`` and prints a table.

On one anvil (automine, Prague) with a BEP20 USDT, for batch sizes 1, 10 and 50, each on
FRESH deposit addresses (never used, never delegated, 0 BNB), each paid 12.5 USDT:

- ``naive``: :meth:`Sweeps.naive` (per deposit: a BNB top-up from the hot wallet, then
  the deposit's own token transfer). Gas = both transactions.
- ``batched``: the FIRST sweep of those addresses with :meth:`Sweeps.batched`: one
  type-4 transaction carrying one EIP-7702 authorization per deposit, i.e. the
  authorization cost (25,000 intrinsic gas each) is included.
- ``batched_steady_state``: the same addresses paid again and swept again: already
  delegated, no authorization (what every later sweep of an address costs).
- ``batched_first_sweep_geth_rules``: the first-sweep figure corrected for one anvil
  (revm) difference from geth/BSC: anvil grants the 12,500-gas "authority already
  exists" refund even to never-used addresses; geth refunds only when
  ``StateDB.Exist(authority)``, which is false for an address that only holds tokens.
  Derived from the measured gas (see ``geth_rules_gas``), not measured.

Figures are gas per swept deposit = gasUsed of every transaction of the sweep / deposits
swept. The hot wallet already holds USDT (as in production), so no sweep pays the one-off
zero-to-nonzero storage write of its first ever receipt.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

from shared.custody import hd
from shared.custody.signer import LocalKeySigner, keys_from_mnemonic
from shared.local import chain
from shared.local.chain import Anvil
from shared.settlement.sweeps import GWEI, GasPolicy, SweepResult, Sweeps, deploy_sweeper

BATCH_SIZES = (1, 10, 50)
AMOUNT = 12_500_000_000_000_000_000  # 12.5 USDT (18 decimals)
RESULT_FILE = Path(__file__).resolve().parent / "results" / "sweep.json"
GAS = GasPolicy(floor_wei=0, ceiling_wei=100 * GWEI)

# EVM refund rules used to derive the geth/BSC first-sweep figure (EIP-3529, EIP-7702).
SSTORE_CLEAR_REFUND = 4_800  # the deposit's token balance slot goes nonzero -> zero
AUTH_EXISTING_REFUND = 25_000 - 12_500  # PER_EMPTY_ACCOUNT_COST - PER_AUTH_BASE_COST
REFUND_QUOTIENT = 5  # refunds are capped at gasUsed // 5


def geth_rules_gas(anvil_gas_used: int, deposits: int, authorizations: int) -> int:
    """A sweep's gasUsed under geth's EIP-7702 refund rule, from anvil's.

    The only refunds in a sweep are one SSTORE clear per swept deposit (its balance slot)
    and, on anvil, 12,500 per authorization. Recover the gross gas G from anvil's net
    (net = G - min(refunds, G // 5)), then apply geth's refunds (SSTORE clears only).
    """
    anvil_refunds = deposits * SSTORE_CLEAR_REFUND + authorizations * AUTH_EXISTING_REFUND
    gross = anvil_gas_used + anvil_refunds
    if anvil_refunds > gross // REFUND_QUOTIENT:  # the cap was binding on anvil
        gross = anvil_gas_used * REFUND_QUOTIENT // (REFUND_QUOTIENT - 1)
        while gross - gross // REFUND_QUOTIENT < anvil_gas_used:
            gross += 1
        while gross - 1 - (gross - 1) // REFUND_QUOTIENT >= anvil_gas_used:
            gross -= 1
    return gross - min(deposits * SSTORE_CLEAR_REFUND, gross // REFUND_QUOTIENT)


def _per_deposit(result: SweepResult, expected: int) -> int:
    if len(result.swept) != expected or result.refused:
        raise RuntimeError(f"{result.strategy} swept {len(result.swept)} of {expected} deposits")
    return round(result.gas_used / expected)


MIX_SIZE = 50
MIX_CUSTOMER_SHARE = 0.7  # issue 14: most deposits go to reusable customer addresses
GOALS = {"batched_first_sweep_at_50": 0.6, "batched_steady_state_at_50": 0.2}


def run() -> dict[str, Any]:
    customers = round(MIX_SIZE * MIX_CUSTOMER_SHARE)
    needed = 2 * sum(BATCH_SIZES) + MIX_SIZE
    with Anvil.start(port=0, block_time=None) as node:
        local = chain.bootstrap_local_chain(node.rpc_url)
        w3 = chain.web3_for(node.rpc_url)
        keys = keys_from_mnemonic(hd.new_mnemonic(), range(needed))
        hot = keys.hot_wallet
        chain.rpc_call(node.rpc_url, "anvil_setBalance", hot.address, hex(10**22))
        chain.transfer(
            node.rpc_url, local.token_address, local.customer_private_key, hot.address, AMOUNT
        )
        sweeper = deploy_sweeper(w3, hot, hot.address, GAS)
        sweeps = Sweeps(w3, token=local.token_address, hot_wallet=hot, gas=GAS, sweeper=sweeper)
        fresh = iter(keys.deposits[i] for i in range(needed))

        def pay(deposits: list[LocalKeySigner]) -> None:
            for d in deposits:
                chain.transfer(
                    node.rpc_url, local.token_address, local.customer_private_key, d.address, AMOUNT
                )

        naive: dict[str, int] = {}
        first: dict[str, int] = {}
        steady: dict[str, int] = {}
        first_geth: dict[str, int] = {}
        stranded: dict[str, int] = {}
        for n in BATCH_SIZES:
            group = [next(fresh) for _ in range(n)]
            pay(group)
            result = sweeps.naive(group)
            naive[str(n)] = _per_deposit(result, n)
            # BNB the top-ups left behind (estimate minus the refunded gas), in gas units.
            left = sum(int(w3.eth.get_balance(d.address)) for d in group)
            stranded[str(n)] = round(left / result.gas_price_wei / n)

            group = [next(fresh) for _ in range(n)]
            pay(group)
            result = sweeps.batched(group)
            first[str(n)] = _per_deposit(result, n)
            first_geth[str(n)] = round(geth_rules_gas(result.gas_used, n, n) / n)

            pay(group)
            result = sweeps.batched([d.address for d in group])
            if result.authorizations:
                raise RuntimeError("a steady-state sweep needed authorizations")
            # Without authorizations the two rule sets agree: a check on the derivation.
            if geth_rules_gas(result.gas_used, n, 0) != result.gas_used:
                raise RuntimeError("geth_rules_gas does not round-trip a sweep without auths")
            steady[str(n)] = _per_deposit(result, n)

        # The mix: customer addresses (delegated by an earlier sweep, paid again) swept
        # together with one-time payment addresses on their first sweep.
        regulars = [next(fresh) for _ in range(customers)]
        pay(regulars)
        sweeps.batched(regulars)
        newcomers = [next(fresh) for _ in range(MIX_SIZE - customers)]
        pay(regulars)
        pay(newcomers)
        result = sweeps.batched([*(d.address for d in regulars), *newcomers])
        if result.authorizations != len(newcomers):
            raise RuntimeError("the mix authorized other addresses than the newcomers")
        mix = _per_deposit(result, MIX_SIZE)
        mix_geth = round(geth_rules_gas(result.gas_used, MIX_SIZE, len(newcomers)) / MIX_SIZE)

    def ratio(figures: dict[str, int]) -> dict[str, float]:
        return {k: round(v / naive[k], 3) for k, v in figures.items()}

    at = str(MIX_SIZE)
    achieved = {
        "batched_first_sweep_at_50": round(first_geth[at] / naive[at], 3),
        "batched_steady_state_at_50": round(steady[at] / naive[at], 3),
    }

    return {
        "unit": "gas per swept deposit (gasUsed of all the sweep's transactions / deposits)",
        "naive": naive,
        "batched": first,
        "batched_figure": "first sweep of fresh addresses, EIP-7702 authorization included",
        "batched_steady_state": steady,
        "batched_first_sweep_geth_rules": first_geth,
        "ratio_to_naive": {
            "batched_first_sweep": ratio(first),
            "batched_steady_state": ratio(steady),
            "batched_first_sweep_geth_rules": ratio(first_geth),
        },
        "mix": {
            "deposits": MIX_SIZE,
            "customer_addresses": customers,
            "first_sweeps": MIX_SIZE - customers,
            "gas_per_deposit": mix,
            "gas_per_deposit_geth_rules": mix_geth,
            "ratio_to_naive": round(mix / naive[at], 3),
            "ratio_to_naive_geth_rules": round(mix_geth / naive[at], 3),
        },
        "goals": {
            "ratio_to_naive_at_most": GOALS,
            "achieved": achieved,
            "met": {k: achieved[k] <= v for k, v in GOALS.items()},
            "note": "issue 14: first sweep <= 0.6x naive at 50 deposits (geth/BSC rules, "
            "the stricter figure), steady state <= 0.2x",
        },
        "naive_bnb_stranded_per_deposit_in_gas": stranded,
        "notes": [
            "Fresh deposit addresses for every batch size; each paid 12.5 USDT.",
            "batched = first sweep (25,000 intrinsic gas per EIP-7702 authorization). "
            "batched_steady_state = later sweeps of already delegated addresses.",
            "batched_first_sweep_geth_rules: anvil grants the 12,500 'existing authority' "
            "refund to never-used addresses, geth/BSC does not; derived, not measured.",
            "The authorization alone (25,000) is ~49% of the naive path, so a first sweep "
            "cannot reach 50%; steady-state sweeps do.",
            "Batched sweeps send the balances read off-chain (sweepManyExact: no balanceOf "
            "per deposit) with an EIP-2930 access list from eth_createAccessList "
            "(docs/adr/0030).",
            "naive_bnb_stranded_per_deposit_in_gas: BNB left for good in each deposit by the "
            "naive sweep (its gas estimate covers the refund it then gets back), in gas "
            "units at the sweep's price; not counted in the naive figure.",
        ],
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
    }


def table(report: dict[str, Any]) -> str:
    rows = [
        ("naive (top up BNB + transfer)", report["naive"]),
        ("batched, first sweep (with 7702 auth)", report["batched"]),
        ("batched, first sweep, geth/BSC rules*", report["batched_first_sweep_geth_rules"]),
        ("batched, steady state (delegated)", report["batched_steady_state"]),
    ]
    sizes = [str(n) for n in BATCH_SIZES]
    head = f"{'gas per swept deposit':<40}" + "".join(f"{'n=' + s:>16}" for s in sizes)
    lines = [head, "-" * len(head)]
    for label, figures in rows:
        cells = "".join(f"{figures[s]:>8} ({figures[s] / report['naive'][s]:>4.0%})" for s in sizes)
        lines.append(f"{label:<40}{cells}")
    lines.append("* derived from the measured gas; anvil over-refunds fresh authorities")
    mix = report["mix"]
    lines.append(
        f"mix of {mix['deposits']} ({mix['customer_addresses']} customer addresses, "
        f"{mix['first_sweeps']} first sweeps): {mix['gas_per_deposit']} gas per deposit "
        f"({mix['ratio_to_naive']:.0%}; geth/BSC rules {mix['ratio_to_naive_geth_rules']:.0%})"
    )
    goals = report["goals"]
    for name, limit in goals["ratio_to_naive_at_most"].items():
        got = goals["achieved"][name]
        lines.append(f"goal {name} <= {limit}: {got} {'met' if got <= limit else 'NOT met'}")
    return "\n".join(lines)


def main() -> None:
    report = run()
    RESULT_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULT_FILE.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"wrote {RESULT_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Deploy the EIP-7702 Sweeper for a deployment (issue 16 §1; docs/adr/0030).

Run once per stage by the operator, after ``python -m shared.custody.setup`` (the hot
wallet's address is read from the custody record: it becomes the Sweeper's immutable
``OPERATOR``, the only caller and the only destination). The deploying account is any
account of the operator's with a little BNB for gas; its key is read from the
environment variable ``--deployer-key-env`` names (default ``SWEEPER_DEPLOYER_KEY``),
never from the command line or a file, and never printed. RPC endpoints come from
``BSCPAY_RPC_URLS`` or the stage's secret (``BSCPAY_RPC_URLS_SECRET``).

    BSCPAY_PREFIX=bscpay-test BSCPAY_RPC_URLS_SECRET=bscpay-test/rpc-urls \\
    SWEEPER_DEPLOYER_KEY=0x… .venv/bin/python -m tools.deploy_sweeper

It prints the address to set as the stage's ``sweeper_address`` (cdk.json) before the
next ``make deploy``. A deployment whose custody is not set up, or whose chain answers
another chain id than configured, is refused before anything is sent.
"""

from __future__ import annotations

import argparse
import os
import sys

from shared import config
from shared.chain import evm
from shared.custody import setup
from shared.custody.signer import LocalKeySigner
from shared.settlement.sweeps import deploy_sweeper


class DeployRefused(Exception):
    """A precondition is missing; the message says what to do."""


def deploy(deployer_key: str) -> tuple[str, str]:
    """``(sweeper address, operator = hot wallet)``."""
    hot = setup.hot_wallet_address()
    if not hot:
        raise DeployRefused(
            "custody is not set up for this prefix: run `python -m shared.custody.setup` first"
        )
    w3 = evm.client()
    chain_id = int(w3.eth.chain_id)
    if chain_id != config.chain().chain_id:
        raise DeployRefused(
            f"the RPC endpoints answer chain id {chain_id}, the stage is on "
            f"{config.chain().chain_id}"
        )
    deployer = LocalKeySigner(deployer_key)
    if int(w3.eth.get_balance(deployer.address)) == 0:
        raise DeployRefused(f"the deployer {deployer.address} holds no BNB for gas")
    sweeper = deploy_sweeper(w3, deployer, hot, evm.gas_policy())
    return str(sweeper), hot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--deployer-key-env",
        default="SWEEPER_DEPLOYER_KEY",
        help="the environment variable holding the deploying account's private key",
    )
    args = parser.parse_args(argv)
    key = os.environ.get(args.deployer_key_env, "")
    if not key:
        print(f"set {args.deployer_key_env} to the deploying account's key", file=sys.stderr)
        return 2
    try:
        sweeper, operator = deploy(key)
    except DeployRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(f"Sweeper deployed at {sweeper} (operator: the hot wallet {operator})")
    print(f'next: set "sweeper_address": "{sweeper}" in the stage of cdk.json, then make deploy')
    return 0


if __name__ == "__main__":
    sys.exit(main())

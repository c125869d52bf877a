"""First-time custody setup: create the mnemonic, seal it under the custody KMS key,
publish the account xpub. Run once per deployment by the operator
(``python -m shared.custody.setup``); the local stack runs it for you.

The mnemonic exists in plaintext only inside this process; it is never logged or
printed. Running it again does nothing: the stored custody record is never replaced.
"""

from __future__ import annotations

import json

from shared import config, ids
from shared.custody import envelope, hd
from shared.custody.record import CONTEXT as CONTEXT  # re-exported
from shared.custody.record import CUSTODY_RECORD as CUSTODY_RECORD  # re-exported
from shared.dal import system as system_repo


def ensure_custody() -> str:
    """Create custody material if missing; return the account xpub."""
    existing = account_xpub_or_none()
    if existing:
        return existing
    # Imported here: eth_account stays out of the API functions that read the xpub.
    from shared.custody import backup
    from shared.custody.signer import keys_from_mnemonic

    mnemonic = hd.new_mnemonic()
    record = {
        "xpub": hd.account_xpub(mnemonic),
        "account_path": hd.ACCOUNT_PATH,
        # Public: the reconciler reads the hot wallet's balances without any key.
        "hot_wallet": keys_from_mnemonic(mnemonic, []).hot_wallet.address,
        "sealed_mnemonic": envelope.seal(config.aws().custody_key_id, mnemonic.encode(), CONTEXT),
        # and under the other region's backup key when one is configured (ADR 0036)
        **backup.seal_backup(mnemonic),
    }
    del mnemonic
    system_repo.put_system_once(CUSTODY_RECORD, record, ids.now())
    # Another setup may have won the race; the stored record is the truth.
    stored = account_xpub_or_none()
    assert stored is not None
    return stored


def account_xpub_or_none() -> str | None:
    item = system_repo.get_system(CUSTODY_RECORD)
    if item is None or not item.data_json:
        return None
    return str(json.loads(item.data_json)["xpub"])


if __name__ == "__main__":
    xpub = ensure_custody()
    print(f"custody ready; account xpub {xpub[:12]}… stored in {config.aws().table_name('system')}")


def hot_wallet_address() -> str | None:
    item = system_repo.get_system(CUSTODY_RECORD)
    if item is None or not item.data_json:
        return None
    address = json.loads(item.data_json).get("hot_wallet")
    return str(address) if address else None

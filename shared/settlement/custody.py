"""Custody keys for one settlement run. Only the settlement function's role may
decrypt the sealed mnemonic (KMS key policy + IAM, asserted by the CDK tests); the
keys live in this process's memory for the run and are never logged."""

from __future__ import annotations

import json
from collections.abc import Iterable

from shared.custody import envelope, setup
from shared.custody.signer import CustodyKeys, keys_from_mnemonic
from shared.dal import system as system_repo


def load_keys(deposit_indexes: Iterable[int]) -> CustodyKeys:
    item = system_repo.get_system(setup.CUSTODY_RECORD)
    if item is None or not item.data_json:
        raise RuntimeError("custody is not set up: run `python -m shared.custody.setup`")
    sealed = json.loads(item.data_json)["sealed_mnemonic"]
    mnemonic = envelope.open_sealed(sealed, setup.CONTEXT).decode()
    try:
        return keys_from_mnemonic(mnemonic, deposit_indexes)
    finally:
        del mnemonic

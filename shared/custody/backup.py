"""The custody mnemonic's own backup path (issue 15 §5, docs/adr/0036).

Besides the copy sealed under the custody key (this region), the mnemonic is sealed under
a KMS key in ANOTHER region (``BSCPAY_CUSTODY_BACKUP_KEY_ID``, its ARN) and kept in the
same custody record, so it travels with every table backup and export. Losing this
region, or its custody key, then loses nothing: the backup copy opens with the backup
key alone, in its own region. The backup key's policy lets only a break-glass role
decrypt; custody setup (or ``add``) only encrypts with it.

    python -m shared.custody.backup add      # an existing deployment gets its backup copy
    python -m shared.custody.backup verify   # the backup copy opens and gives the same xpub

Neither prints the mnemonic; ``verify`` derives the account xpub from the backup copy and
compares it with the stored one.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from shared import aws, config, ids
from shared.custody import envelope, hd
from shared.custody.record import CONTEXT, CUSTODY_RECORD
from shared.dal import system as system_repo

BACKUP_CONTEXT = {"purpose": "bscpay-custody-mnemonic-backup"}


class BackupError(RuntimeError):
    """The backup copy cannot be made or does not open to this deployment's xpub."""


def _stored() -> str:
    item = system_repo.get_system(CUSTODY_RECORD)
    if item is None or not item.data_json:
        raise BackupError("custody is not set up: run `python -m shared.custody.setup`")
    return str(item.data_json)


def _record() -> dict[str, Any]:
    return dict(json.loads(_stored()))


def seal_backup(mnemonic: str) -> dict[str, str]:
    """The backup fields of a custody record ({} when no backup key is configured)."""
    key = config.aws().custody_backup_key_id
    if not key:
        return {}
    region = aws.region_of(key)
    if region is None or region == config.aws().region:
        raise BackupError(
            "BSCPAY_CUSTODY_BACKUP_KEY_ID must be the ARN of a KMS key in another region"
        )
    sealed = envelope.seal(key, mnemonic.encode(), BACKUP_CONTEXT, region=region)
    return {"sealed_mnemonic_backup": sealed, "backup_key": key}


def add() -> str:
    """Give an existing custody record its backup copy (needs decrypt on the custody key
    and encrypt on the backup key: a break-glass operator, once)."""
    stored = _stored()
    record = dict(json.loads(stored))
    if record.get("sealed_mnemonic_backup"):
        return str(record["backup_key"])
    mnemonic = envelope.open_sealed(record["sealed_mnemonic"], CONTEXT).decode()
    try:
        fields = seal_backup(mnemonic)
    finally:
        del mnemonic
    if not fields:
        raise BackupError("set BSCPAY_CUSTODY_BACKUP_KEY_ID (a KMS key ARN in another region)")
    # Everything else in the record stays as it was; a concurrent change wins.
    if not system_repo.replace_system_data(CUSTODY_RECORD, stored, {**record, **fields}, ids.now()):
        raise BackupError("the custody record changed meanwhile; run it again")
    return fields["backup_key"]


def verify() -> str:
    """Open the backup copy with the backup key in its region; the account xpub it gives
    must be the stored one. Returns the backup key's ARN."""
    record = _record()
    sealed, key = record.get("sealed_mnemonic_backup"), record.get("backup_key")
    if not sealed or not key:
        raise BackupError("this custody record has no backup copy: run `... backup add`")
    mnemonic = envelope.open_sealed(sealed, BACKUP_CONTEXT, region=aws.region_of(key)).decode()
    try:
        matches = hd.account_xpub(mnemonic) == record["xpub"]
    finally:
        del mnemonic
    if not matches:
        raise BackupError("the backup copy does not give this deployment's account xpub")
    return str(key)


if __name__ == "__main__":
    command = (sys.argv[1:] or ["verify"])[0]
    try:
        arn = add() if command == "add" else verify()
    except BackupError as exc:
        print(f"custody backup: {exc}", file=sys.stderr)
        sys.exit(1)
    print(f"custody backup {'sealed' if command == 'add' else 'verified'} under {arn}")

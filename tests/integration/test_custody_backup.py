"""The custody mnemonic's backup copy under another region's KMS key (issue 15 §5,
docs/adr/0036), on moto: sealed beside the primary copy, opened in the other region
alone, giving this deployment's xpub; never with the primary region's key."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from shared import aws, config
from shared.custody import backup, setup
from shared.dal import system as system_repo
from shared.local.stack import LocalStack


@pytest.fixture
def backup_key(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    arn = aws.client_in("kms", "us-west-2").create_key(Description="custody backup")["KeyMetadata"][
        "Arn"
    ]
    monkeypatch.setenv("BSCPAY_CUSTODY_BACKUP_KEY_ID", arn)
    config.reset()
    yield arn
    monkeypatch.undo()
    config.reset()


def _record() -> dict[str, str]:
    item = system_repo.get_system(setup.CUSTODY_RECORD)
    assert item is not None and item.data_json
    return dict(json.loads(item.data_json))


def test_the_backup_copy_opens_in_the_other_region_and_gives_the_same_xpub(
    backup_key: str,
) -> None:
    before = _record()

    # When an operator adds the backup copy to the existing custody record
    assert backup.add() == backup_key
    after = _record()

    # Then the record keeps everything it had and gains the backup copy
    assert {k: after[k] for k in before} == before
    assert after["backup_key"] == backup_key
    # And the backup copy opens with the us-west-2 key alone, giving the stored xpub
    assert backup.verify() == backup_key
    # And its data key is not readable with the primary region's KMS
    blob = json.loads(after["sealed_mnemonic_backup"])
    with pytest.raises(ClientError):
        aws.client("kms").decrypt(
            CiphertextBlob=base64.b64decode(blob["key"]),
            EncryptionContext=backup.BACKUP_CONTEXT,
        )
    # And adding again changes nothing
    assert backup.add() == backup_key
    assert _record() == after


def test_a_backup_key_in_the_same_region_is_refused(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = aws.client("kms").create_key(Description="not a backup")["KeyMetadata"]["Arn"]
    monkeypatch.setenv("BSCPAY_CUSTODY_BACKUP_KEY_ID", arn)
    config.reset()
    try:
        with pytest.raises(backup.BackupError, match="another region"):
            backup.seal_backup("abandon " * 11 + "about")
    finally:
        monkeypatch.undo()
        config.reset()


def test_a_tampered_backup_copy_is_refused(backup_key: str) -> None:
    backup.add()
    stored = system_repo.get_system(setup.CUSTODY_RECORD)
    assert stored is not None and stored.data_json
    record = json.loads(stored.data_json)
    # the backup copy replaced by one sealing another mnemonic
    record["sealed_mnemonic_backup"] = backup.envelope.seal(
        backup_key,
        b"legal winner thank year wave sausage worth useful legal winner thank yellow",
        backup.BACKUP_CONTEXT,
        region="us-west-2",
    )
    assert system_repo.replace_system_data(
        setup.CUSTODY_RECORD, stored.data_json, record, int(stored.updated_at or 0)
    )
    try:
        with pytest.raises(backup.BackupError, match="xpub"):
            backup.verify()
    finally:
        current = system_repo.get_system(setup.CUSTODY_RECORD)
        assert current is not None and current.data_json
        system_repo.replace_system_data(
            setup.CUSTODY_RECORD, current.data_json, json.loads(stored.data_json), 0
        )

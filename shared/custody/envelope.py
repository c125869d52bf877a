"""KMS envelope encryption: GenerateDataKey -> AES-256-GCM.

The data key never leaves memory in plaintext; the stored blob is the GCM
ciphertext, its nonce and the KMS-encrypted data key. The encryption context
binds a blob to its purpose, so a ciphertext cannot be replayed elsewhere.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared import aws


def _kms(region: str | None) -> Any:
    return aws.client_in("kms", region) if region else aws.client("kms")


def seal(key_id: str, plaintext: bytes, context: dict[str, str], region: str | None = None) -> str:
    """Seal under ``key_id`` (in ``region``, default this deployment's)."""
    kms = _kms(region)
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
    nonce = os.urandom(12)
    aad = json.dumps(context, sort_keys=True).encode()
    ciphertext = AESGCM(data_key["Plaintext"]).encrypt(nonce, plaintext, aad)
    blob = {
        "v": 1,
        "key": base64.b64encode(data_key["CiphertextBlob"]).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ct": base64.b64encode(ciphertext).decode(),
    }
    return json.dumps(blob, separators=(",", ":"))


def open_sealed(sealed: str, context: dict[str, str], region: str | None = None) -> bytes:
    blob = json.loads(sealed)
    kms = _kms(region)
    data_key = kms.decrypt(CiphertextBlob=base64.b64decode(blob["key"]), EncryptionContext=context)[
        "Plaintext"
    ]
    aad = json.dumps(context, sort_keys=True).encode()
    return AESGCM(data_key).decrypt(
        base64.b64decode(blob["nonce"]), base64.b64decode(blob["ct"]), aad
    )

"""API-key and webhook secrets: generated here, stored only KMS-encrypted.

HMAC verification needs the secret itself (a hash would not do), so secrets are
encrypted under the "secrets" KMS key with an encryption context naming their
owner. Decrypted secrets are cached briefly per warm Lambda to spare a KMS call
per request; revocation is still checked on every request.
"""

from __future__ import annotations

import base64
import secrets
import time

from shared import aws, config

_CACHE_TTL_S = 300.0
_cache: dict[tuple[str, str], tuple[float, str]] = {}


def new_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def encrypt(owner_id: str, secret: str) -> str:
    blob = aws.client("kms").encrypt(
        KeyId=config.aws().secrets_key_id,
        Plaintext=secret.encode(),
        EncryptionContext={"owner": owner_id},
    )["CiphertextBlob"]
    return base64.b64encode(blob).decode()


def decrypt(owner_id: str, ciphertext: str) -> str:
    key = (owner_id, ciphertext)
    hit = _cache.get(key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    plaintext = (
        aws.client("kms")
        .decrypt(
            CiphertextBlob=base64.b64decode(ciphertext), EncryptionContext={"owner": owner_id}
        )["Plaintext"]
        .decode()
    )
    _cache[key] = (time.monotonic() + _CACHE_TTL_S, plaintext)
    return plaintext

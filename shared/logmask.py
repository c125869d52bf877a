"""Secrets never reach the logs (issue 15 §4): one Powertools formatter masks them in
every record every function writes, whatever code logged them.

Every function's logger comes from :func:`logger` (child loggers in ``shared`` log
through it). Masked before a record is serialized:

- values under sensitive keys, at any depth (``secret``, ``password``, ``signature``,
  ``authorization``, ``*_token``, ``mnemonic``, ``private_key``, ... and the HTTP headers
  ``X-Signature``, ``Authorization``, ``X-Origin-Verify``, ``Cookie``): an incoming event
  logged whole keeps its shape, not its credentials;
- secrets recognised by their form anywhere in any string: API key and webhook secrets
  (``sk_…``, ``whsec_…``), JSON Web Tokens (Cognito ID/access tokens), BIP32 private
  extended keys (``xprv…``) and BIP39 mnemonics (twelve or more words of the English
  wordlist in a row).

A 32-byte hex value is only masked under a sensitive key: transaction and block hashes
have the same form and must stay readable.
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

MASK = "***"

_SENSITIVE_KEYS = frozenset(
    {
        "secret",
        "password",
        "signature",
        "authorization",
        "cookie",
        "set_cookie",
        "mnemonic",
        "seed",
        "private_key",
        "privatekey",
        "x_signature",
        "x_origin_verify",
        "x_kyc_signature",
        "bscpay_signature",
        "id_token",
        "access_token",
        "refresh_token",
        "session",
    }
)
_SENSITIVE_SUFFIXES = ("_secret", "_password", "_private_key", "_mnemonic", "_token")
_PATTERNS = (
    re.compile(r"\b(sk|whsec)_[A-Za-z0-9_-]{16,}"),  # API key / webhook signing secrets
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWT
    re.compile(r"\b[xt]prv[1-9A-HJ-NP-Za-km-z]{100,}"),  # BIP32 private extended keys
)
_WORD_RUN = re.compile(r"(?:\b[a-z]{3,8}\b[ ]+){11,}\b[a-z]{3,8}\b")
_MNEMONIC_WORDS = 12


def _sensitive(key: str) -> bool:
    name = key.lower().replace("-", "_")
    return name in _SENSITIVE_KEYS or name.endswith(_SENSITIVE_SUFFIXES)


@lru_cache(maxsize=1)
def _bip39_words() -> frozenset[str]:
    """The BIP39 English wordlist, read from eth-account's copy without importing it."""
    spec = importlib.util.find_spec("eth_account")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "hdaccount" / "wordlist" / "english.txt"
        if path.is_file():
            return frozenset(path.read_text().split())
    return frozenset()


def _mask_mnemonics(text: str) -> str:
    words = _bip39_words()

    def replace(match: re.Match[str]) -> str:
        run = match.group(0).split()
        hits = sum(word in words for word in run)
        return (
            MASK if words and hits >= _MNEMONIC_WORDS and hits >= len(run) * 0.9 else match.group(0)
        )

    return _WORD_RUN.sub(replace, text)


def mask_text(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    if text.count(" ") >= _MNEMONIC_WORDS - 1:
        text = _mask_mnemonics(text)
    return text


def mask(value: Any, key: str | None = None) -> Any:
    """``value`` with every secret replaced by ``***`` (a copy; the input is untouched)."""
    if key is not None and _sensitive(key) and value not in (None, "", [], {}):
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    return value


class MaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, masking the record just before it is written."""

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        return super().serialize(log=mask(log))


def logger(**kwargs: Any) -> Logger:
    """A function's root logger (``Logger()`` with the masking formatter)."""
    return Logger(logger_formatter=MaskingFormatter(), **kwargs)

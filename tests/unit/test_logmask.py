"""The masking formatter every function logs through (issue 15 §4)."""

from __future__ import annotations

import io
import json
import logging

from shared import logmask
from shared.custody import hd

SK = "sk_kEv1cn59jYLBnMcbQESBPltPY7ZHuEBsIUhMSmMZ_AE"
WHSEC = "whsec_3nS7yQ0bq5vO2cYz3aYxM8b3sF4nJq2v"
JWT = "eyJraWQiOiJrMSIsImFsZyI6IlJTMjU2In0.eyJzdWIiOiJ1MSIsImV4cCI6MX0.c2lnbmF0dXJlLXBhcnQ"
TX = "0x" + "ab" * 32  # a transaction hash: public, stays readable


def _logged(**extra: object) -> dict[str, object]:
    stream = io.StringIO()
    logger = logmask.logger(service="mask-test", logger_handler=logging.StreamHandler(stream))
    logger.info(f"key {SK} and token {JWT} for tx {TX}", extra=extra)
    return dict(json.loads(stream.getvalue()))


def test_secrets_are_masked_by_key_and_by_form_and_hashes_are_kept() -> None:
    mnemonic = hd.new_mnemonic()
    record = _logged(
        api_key_secret="anything-at-all",
        headers={"X-Signature": "f" * 64, "Authorization": JWT, "Content-Type": "json"},
        nested=[{"private_key": "0x" + "1" * 64}, {"note": f"seed was {mnemonic}"}],
        webhook=f"signed with {WHSEC}",
        tx_hash=TX,
    )
    text = json.dumps(record)
    for secret in (SK, JWT, WHSEC, "f" * 64, "1" * 64, mnemonic, "anything-at-all"):
        assert secret not in text, secret
    assert record["api_key_secret"] == "***"
    assert record["headers"] == {
        "X-Signature": "***",
        "Authorization": "***",
        "Content-Type": "json",
    }
    assert TX in record["message"] and record["tx_hash"] == TX  # type: ignore[operator]


def test_ordinary_words_and_ids_are_not_mistaken_for_secrets() -> None:
    text = (
        "payment pay_1a2b paid by key ak_1a2b on token 0x55d398326f99059fF775485246999027B3197955"
    )
    assert logmask.mask_text(text) == text
    sentence = "the scanner could not reach any of the configured endpoints before its deadline"
    assert logmask.mask_text(sentence) == sentence
    assert logmask.mask({"token_address": "0x55d3", "api_key_id": "ak_1"}) == {
        "token_address": "0x55d3",
        "api_key_id": "ak_1",
    }

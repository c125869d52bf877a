"""Where the custody material lives: the ``system`` item's name and the encryption
context its sealed mnemonic is bound to (shared by setup, backup and settlement)."""

from __future__ import annotations

CUSTODY_RECORD = "custody"
CONTEXT = {"purpose": "bscpay-custody-mnemonic"}

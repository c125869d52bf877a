"""Custody: envelope encryption, HD derivation, deposit addresses, and the keys and
signers derived from the deployment mnemonic (``signer``)."""

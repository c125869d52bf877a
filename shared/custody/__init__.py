"""Custody: envelope encryption, HD derivation, deposit addresses."""

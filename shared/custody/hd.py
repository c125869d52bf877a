"""HD derivation (BIP39/BIP32/BIP44) with hdwallet.

Deposit addresses come from the account-level xpub (m/44'/60'/0'), child 0/i,
so the API and scanner derive addresses without any private key.

hdwallet is imported on first use, not with this module: it loads every coin it knows
(~120 ms), and most requests of the functions that import this (reads, lists, the
scanner's matching) never derive an address (issue 15, cold start).
"""

from __future__ import annotations

ACCOUNT_PATH = "m/44'/60'/0'"


def new_mnemonic(words: int = 24) -> str:
    from hdwallet.mnemonics import BIP39Mnemonic

    return str(BIP39Mnemonic.from_words(words, "english"))


def account_xpub(mnemonic: str) -> str:
    from hdwallet import HDWallet
    from hdwallet.cryptocurrencies import Ethereum
    from hdwallet.derivations import CustomDerivation
    from hdwallet.hds import BIP32HD
    from hdwallet.mnemonics import BIP39Mnemonic

    wallet = HDWallet(cryptocurrency=Ethereum, hd=BIP32HD, network="mainnet")
    wallet.from_mnemonic(BIP39Mnemonic(mnemonic=mnemonic))
    wallet.from_derivation(CustomDerivation(path=ACCOUNT_PATH))
    xpub = wallet.xpublic_key()
    if not xpub:
        raise ValueError("could not derive the account xpub")
    return str(xpub)


def deposit_address(xpub: str, index: int) -> str:
    """Checksummed address at m/44'/60'/0'/0/index, derived from the xpub alone."""
    if not 0 <= index < 2**31:
        raise ValueError("derivation index out of range")
    from hdwallet import HDWallet
    from hdwallet.cryptocurrencies import Ethereum
    from hdwallet.derivations import CustomDerivation
    from hdwallet.hds import BIP32HD

    wallet = HDWallet(cryptocurrency=Ethereum, hd=BIP32HD, network="mainnet")
    wallet.from_xpublic_key(xpub)
    wallet.from_derivation(CustomDerivation(path=f"m/0/{index}"))
    return str(wallet.address())

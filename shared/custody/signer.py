"""Who signs settlement transactions: a small interface and a local-key implementation.

Settlement code asks a :class:`Signer` for signatures and never sees a private key, so a
KMS- or HSM-held key can replace :class:`LocalKeySigner` without touching the sweep
logic (moto's KMS cannot do secp256k1 DIGEST signing, TOOLCHAIN.md, so tests use local
keys derived from a throwaway mnemonic).

Keys come from the deployment mnemonic (DESIGN §5): deposit keys on the account branch
m/44'/60'/0'/0/i (the same addresses the API derives from the xpub), the hot wallet on a
separate account branch, m/44'/60'/1'/0/0, so the published xpub never covers it.

Nothing here logs, prints or serialises a key: ``repr``/``str`` show the address only,
and pickling a :class:`LocalKeySigner` is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol, runtime_checkable

from eth_account import Account
from eth_account.datastructures import SignedSetCodeAuthorization
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hdwallet import HDWallet
from hdwallet.cryptocurrencies import Ethereum
from hdwallet.derivations import CustomDerivation
from hdwallet.hds import BIP32HD
from hdwallet.mnemonics import BIP39Mnemonic

DEPOSIT_PATH = "m/44'/60'/0'/0/{index}"  # the xpub branch (shared.custody.hd.ACCOUNT_PATH)
HOT_WALLET_PATH = "m/44'/60'/1'/0/0"  # a separate account: not derivable from the xpub

_MAX_INDEX = 2**31  # non-hardened child indexes


@runtime_checkable
class Signer(Protocol):
    """Signs for one account. Implementations keep the key to themselves."""

    @property
    def address(self) -> ChecksumAddress:
        """The account's checksummed address."""
        ...

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        """Sign a complete transaction dict (eth-account field names, ``chainId`` set);
        return the raw signed transaction ready for ``eth_sendRawTransaction``."""
        ...

    def sign_authorization(
        self, *, chain_id: int, address: str, nonce: int
    ) -> SignedSetCodeAuthorization:
        """Sign an EIP-7702 authorization that delegates this account's code to
        ``address`` on ``chain_id`` (never 0: that would be valid on every chain), valid
        while the account's nonce is ``nonce``."""
        ...


class LocalKeySigner:
    """A :class:`Signer` over a private key held in this process's memory only."""

    __slots__ = ("_account",)

    def __init__(self, private_key: bytes | str) -> None:
        self._account: LocalAccount = Account.from_key(private_key)

    @property
    def address(self) -> ChecksumAddress:
        return self._account.address

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        return bytes(self._account.sign_transaction(tx).raw_transaction)

    def sign_authorization(
        self, *, chain_id: int, address: str, nonce: int
    ) -> SignedSetCodeAuthorization:
        if chain_id <= 0:
            # chainId 0 authorizations replay on every EVM chain, where `address` may be
            # anyone's code: never sign one.
            raise ValueError("refusing to sign an EIP-7702 authorization for chain id 0")
        if nonce < 0:
            raise ValueError("nonce must be >= 0")
        return Account.sign_authorization(
            {"chainId": chain_id, "address": address, "nonce": nonce}, self._account.key
        )

    def __repr__(self) -> str:
        return f"LocalKeySigner(address={self.address})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("LocalKeySigner holds a private key and cannot be pickled or copied")


@dataclass(frozen=True, repr=False)
class CustodyKeys:
    """Signers derived from the deployment mnemonic for one settlement run."""

    hot_wallet: LocalKeySigner
    deposits: dict[int, LocalKeySigner]

    def __repr__(self) -> str:
        return (
            f"CustodyKeys(hot_wallet={self.hot_wallet.address}, deposits={sorted(self.deposits)})"
        )


def keys_from_mnemonic(mnemonic: str, deposit_indexes: Iterable[int]) -> CustodyKeys:
    """Derive the hot wallet (m/44'/60'/1'/0/0) and the deposit keys m/44'/60'/0'/0/i.

    The seed is computed once; the derived keys live only in the returned signers.
    Raises ``ValueError`` on an index outside 0 <= i < 2**31 (before deriving anything).
    """
    indexes = sorted(set(deposit_indexes))
    for index in indexes:
        if not 0 <= index < _MAX_INDEX:
            raise ValueError(f"derivation index {index} out of range")
    wallet = HDWallet(cryptocurrency=Ethereum, hd=BIP32HD, network="mainnet")
    wallet.from_mnemonic(BIP39Mnemonic(mnemonic=mnemonic))
    try:
        hot = LocalKeySigner(_private_key_at(wallet, HOT_WALLET_PATH))
        deposits = {
            index: LocalKeySigner(_private_key_at(wallet, DEPOSIT_PATH.format(index=index)))
            for index in indexes
        }
    finally:
        del wallet
    return CustodyKeys(hot_wallet=hot, deposits=deposits)


def _private_key_at(wallet: HDWallet, path: str) -> bytes:
    wallet.from_derivation(CustomDerivation(path=path))
    try:
        key = wallet.private_key()
        if not key:
            raise ValueError(f"could not derive a private key at {path}")
        return bytes.fromhex(str(key))
    finally:
        wallet.clean_derivation()

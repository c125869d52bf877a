"""Where money may be sent: a checksummed address that is none of our own."""

from __future__ import annotations

from shared import config
from shared.dal import addresses as address_repo
from shared.errors import ValidationFailed

ZERO_ADDRESS = "0x" + "0" * 40


def checked_destination(value: str, param: str = "address") -> str:
    """A checksummed address money may be sent to; 422 otherwise. Our own addresses
    (deposit addresses, the hot wallet), the token contract and the zero address are
    refused: funds sent there are stuck or come back as a payment."""
    # Not on the API's import path at cold start.
    from eth_utils import is_address, is_checksum_address, to_checksum_address

    mixed_case = isinstance(value, str) and value[2:] not in (value[2:].lower(), value[2:].upper())
    if (
        not isinstance(value, str)
        or not value.startswith("0x")
        or not is_address(value)
        # eth_utils accepts any mixed case; a wrong one is a typo EIP-55 exists to catch
        or (mixed_case and not is_checksum_address(value))
    ):
        raise ValidationFailed(
            "address must be a 0x-prefixed 20-byte address (EIP-55 checksum if mixed case)",
            param,
        )
    address = str(to_checksum_address(value))
    own = {ZERO_ADDRESS, config.chain().token_address.lower()}
    for configured in (config.payouts().cold_address, config.payouts().sweeper_address):
        if configured:
            own.add(configured.lower())
    from shared.custody.setup import hot_wallet_address

    hot = hot_wallet_address()
    if hot:
        own.add(hot.lower())
    if address.lower() in own or address_repo.payment_for_address(address) is not None:
        raise ValidationFailed(f"{address} is not a valid destination for funds", param)
    return address

"""Decimal-string amounts <-> integer base units (USDT on BSC has 18 decimals)."""

from __future__ import annotations

import re

from shared.errors import ValidationFailed

# Plain positive decimal: digits, optional fraction. No sign, exponent, spaces or commas.
# At most 20 whole digits: with 18 decimals that is 38 digits, a DynamoDB number's limit.
_DECIMAL = re.compile(r"(0|[1-9][0-9]{0,19})(\.[0-9]{1,18})?")


def parse_amount(value: object, decimals: int = 18, param: str = "amount") -> int:
    """Parse a merchant-supplied decimal string into base units; reject anything else."""
    if not isinstance(value, str):
        raise ValidationFailed('amount must be a decimal string such as "12.50"', param)
    match = _DECIMAL.fullmatch(value)  # not match + "$": "$" also matches before "\n"
    if match is None:
        raise ValidationFailed(
            "amount must be a positive decimal string with at most 20 whole digits and "
            f"{decimals} decimal places",
            param,
        )
    whole, fraction = match.group(1), (match.group(2) or ".")[1:]
    if len(fraction) > decimals:
        raise ValidationFailed(f"amount has more than {decimals} decimal places", param)
    units = int(whole) * 10**decimals + int(fraction.ljust(decimals, "0") or "0")
    if units <= 0:
        raise ValidationFailed("amount must be greater than zero", param)
    return units


def parse_fee(value: object, decimals: int = 18, param: str = "amount") -> int:
    """Like :func:`parse_amount`, but zero ("0", "0.00") is allowed: a fee may be waived."""
    if isinstance(value, str) and re.fullmatch(r"0(\.0{1,18})?", value):
        return 0
    return parse_amount(value, decimals, param)


def format_amount(units: int, decimals: int = 18) -> str:
    """Base units to the shortest exact decimal string ("12.5", "0.000001", "3")."""
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), 10**decimals)
    frac = str(fraction).rjust(decimals, "0").rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"

"""Amounts are decimal strings with at most 18 places (DESIGN §3), parsed into
integer base units of BSC USDT (18 decimals) and formatted back exactly."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import ValidationFailed
from shared.models.amounts import format_amount, parse_amount

UNIT = 10**18


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("12.50", 12 * UNIT + 5 * 10**17),
        ("12.5", 12 * UNIT + 5 * 10**17),
        ("3", 3 * UNIT),
        ("0.1", 10**17),
        ("0.000000000000000001", 1),
        ("1.123456789012345678", 1_123456789012345678),
        # the largest accepted: 20 whole digits + 18 decimals = DynamoDB's 38 digits
        ("99999999999999999999.999999999999999999", 10**38 - 1),
    ],
)
def test_decimal_string_is_parsed_into_exact_base_units(text: str, units: int) -> None:
    # Given a merchant-supplied decimal string
    # When it is parsed
    parsed = parse_amount(text)

    # Then it is exactly that many 10**-18 units
    assert parsed == units


@pytest.mark.parametrize(
    "value",
    [12, 12.5, 0, True, None, Decimal("12.5"), b"12.5", ["12.5"], {"amount": "12.5"}],
    ids=repr,
)
def test_anything_but_a_string_is_rejected(value: object) -> None:
    # Given a JSON number or any other non-string
    # When it is parsed, Then it is a validation error on the amount field
    with pytest.raises(ValidationFailed) as raised:
        parse_amount(value)
    assert raised.value.status == 422
    assert raised.value.param == "amount"


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "0.0",
        "0.000000000000000000",
        "-1",
        "-0.5",
        "+1",
        "1.0000000000000000001",  # 19 decimal places
        "0.0000000000000000001",
        "1e3",
        "1E-2",
        "1.5e1",
        " 1",
        "1 ",
        "1\n",
        "12.50\n",
        "\t12.50",
        "1 000",
        "1,000",
        "1,5",
        "01",
        "00.5",
        "007",
        ".5",
        "5.",
        "",
        ".",
        "NaN",
        "Infinity",
        "0x10",
        "1_000",
        "\u0661\u0662",  # Arabic-Indic digits
        "\uff11\uff12",  # full-width digits
        "1" * 31,  # beyond any sane amount
        "9" * 1000,
    ],
)
def test_malformed_or_non_positive_strings_are_rejected(text: str) -> None:
    # Given a string that is not a plain positive decimal with <= 18 places
    # When it is parsed, Then it is refused rather than guessed at
    with pytest.raises(ValidationFailed) as raised:
        parse_amount(text)
    assert raised.value.status == 422


def test_fewer_token_decimals_reject_extra_places() -> None:
    # Given a 6-decimal token
    # When an amount has 7 places, Then it is refused; with 6 it is exact
    with pytest.raises(ValidationFailed):
        parse_amount("1.0000001", decimals=6)
    assert parse_amount("1.000001", decimals=6) == 1_000_001


@pytest.mark.parametrize(
    ("units", "text"),
    [
        (12 * UNIT + 5 * 10**17, "12.5"),
        (3 * UNIT, "3"),
        (1, "0.000000000000000001"),
        (0, "0"),
        (10**6, "0.000000000001"),
        (-(5 * 10**17), "-0.5"),
    ],
)
def test_base_units_are_formatted_as_the_shortest_exact_decimal(units: int, text: str) -> None:
    assert format_amount(units) == text


@given(st.integers(min_value=1, max_value=10**38 - 1))  # 20 whole digits + 18 places
def test_formatting_then_parsing_returns_the_same_units(units: int) -> None:
    # Given any positive amount in base units, When formatted and parsed back
    # Then nothing is lost or rounded
    assert parse_amount(format_amount(units)) == units


@given(
    whole=st.integers(min_value=0, max_value=10**12),
    fraction=st.text(alphabet="0123456789", min_size=0, max_size=18),
)
def test_any_valid_decimal_string_survives_parse_and_format(whole: int, fraction: str) -> None:
    # Given a well-formed decimal string with at most 18 places
    text = f"{whole}.{fraction}" if fraction else str(whole)
    expected = Decimal(text)
    if expected == 0:
        with pytest.raises(ValidationFailed):
            parse_amount(text)
        return

    # When parsed and formatted back
    formatted = format_amount(parse_amount(text))

    # Then the value is identical and the text is canonical (no trailing zeros)
    assert Decimal(formatted) == expected
    # normalize() rounds to the context precision (28 digits by default): widen it
    with localcontext() as ctx:
        ctx.prec = 60
        assert formatted == format(expected.normalize(), "f")


def test_amount_beyond_dynamodb_number_precision_is_refused() -> None:
    # 21 whole digits + 18 decimals would not fit a DynamoDB number (38 digits): a 422,
    # never a 500 from the database.
    with pytest.raises(ValidationFailed):
        parse_amount("123456789012345678901.123456789012345678")

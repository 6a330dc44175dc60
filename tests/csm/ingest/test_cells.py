"""Amounts as CRM exports write them, and a clear refusal (with the value) for what is not one."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from csm.ingest.cells import CellError, parse_decimal


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("84500", "84500"),
        ("$84,500.00", "84500.00"),
        ("84 500", "84500"),
        ("1'200", "1200"),
        ("1,234,567.89", "1234567.89"),
        ("12.345.678", "12345678"),  # dots grouping thousands
        ("45,5", "45.5"),  # a decimal comma
        ("USD 1200", "1200"),
        ("-300", "-300"),
    ],
)
def test_amounts_in_the_books_currency(text, amount):
    assert parse_decimal(text, currency="USD") == Decimal(amount)


def test_european_amounts_in_a_euro_book():
    assert parse_decimal("EUR 45.000", currency="EUR") == Decimal("45000")
    assert parse_decimal("45.000,50 €", currency="EUR") == Decimal("45000.50")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("EUR 45.000", "'EUR 45.000' is in EUR; this book is in USD"),
        ("£900", "'£900' is in GBP; this book is in USD"),
        ("abc", "not an amount: 'abc'"),
        ("12-4", "not an amount: '12-4'"),
        ("", "not an amount: ''"),
    ],
)
def test_what_is_not_an_amount_in_this_book_is_refused_showing_the_value(text, says):
    with pytest.raises(CellError, match=r"^" + re.escape(says)):
        parse_decimal(text, currency="USD")

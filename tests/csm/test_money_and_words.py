"""Money in the book's currency, and identifiers in words, the same way everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import pytest

from csm.money import format_money
from csm.wording import in_words, value_in_words


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (Decimal("298000.00"), "USD", "$298,000"),
        (Decimal("9900"), "EUR", "€9,900"),
        (Decimal("1234.5"), "GBP", "£1,235"),  # whole units, rounded half up
        (90000, "CHF", "CHF 90,000"),  # no symbol of its own: the code
        (-1500, "USD", "-$1,500"),
        (None, "USD", "—"),
        ("not a number", "USD", "—"),
        (float("nan"), "USD", "—"),
    ],
)
def test_format_money(amount, currency, text):
    assert format_money(amount, currency) == text


def test_cents_only_when_asked_for():
    assert format_money(Decimal("231.456"), "USD", cents=True) == "$231.46"


def test_identifiers_read_as_words():
    assert in_words("feature_adoption_rate") == "feature adoption"
    assert in_words("seat_utilization") == "seats in use"
    assert in_words("sharp_drop") == "sharp drop"
    assert in_words("something_new") == "something new"  # never an identifier with underscores
    assert value_in_words("seat_utilization", 0.9793) == "98%"
    assert value_in_words("module", "sharp_drop") == "sharp drop"
    assert value_in_words("integrations_connected", []) == "none"


def test_a_bad_currency_setting_is_refused_at_start(monkeypatch):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup()",
        ],
        env={**os.environ, "TEND_CURRENCY": "dollars"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "TEND_CURRENCY must be an ISO 4217 code" in result.stderr

"""Money as people read it: in the book's currency, whole units, thousands separated.

Plain functions, no Django: the template filter `money` and the alert texts
pass the currency (settings.TEND_CURRENCY) in.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# Written before the amount; any other ISO 4217 code is written as "CHF 1,200".
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "AUD": "A$", "CAD": "C$", "NZD": "NZ$"}


def format_money(amount, currency: str = "USD", *, cents: bool = False) -> str:
    """`amount` in `currency`: "$298,000", "€1,250", "CHF 90,000"; cents only when asked for.

    None (or a value that is not a number) is "—": a figure nobody has recorded.
    """
    if amount is None or amount == "":
        return "—"
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return "—"
    if not value.is_finite():
        return "—"
    places = Decimal("0.01") if cents else Decimal("1")
    value = value.quantize(places, ROUND_HALF_UP)
    digits = f"{abs(value):,.2f}" if cents else f"{abs(value):,.0f}"
    sign = "-" if value < 0 else ""
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{currency} {digits}"

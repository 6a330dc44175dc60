"""Template filters every page uses (built in to both template engines, see settings.TEMPLATES).

* `money`: an amount in the book's currency (TEND_CURRENCY), e.g. "$298,000".
* `in_words`: a signal, input, reason or evidence key as people say it.
"""

from __future__ import annotations

from django import template
from django.conf import settings

from csm.money import format_money
from csm.wording import PRICES, value_in_words
from csm.wording import in_words as _in_words

register = template.Library()


@register.filter
def money(amount) -> str:
    return format_money(amount, settings.TEND_CURRENCY)


@register.filter
def money_cents(amount) -> str:
    return format_money(amount, settings.TEND_CURRENCY, cents=True)


@register.filter
def in_words(name) -> str:
    return _in_words(name)


@register.simple_tag
def evidence_value(name, value) -> str:
    if name in PRICES:
        return format_money(value, settings.TEND_CURRENCY)
    return value_in_words(name, value)

"""Small pieces of display the admin pages share."""

from __future__ import annotations

from django.utils.html import format_html


def rag_badge(rag: str) -> str:
    """The RAG as a coloured label that also says its name (never colour alone)."""
    if not rag:
        return format_html('<span class="tend-muted">{}</span>', "Not scored")
    return format_html('<span class="tend-rag tend-rag-{}">{}</span>', rag.lower(), rag)


def money_column(field: str, description: str):
    """A list column showing `field` as money in the book's currency, sortable by the field."""
    from django.conf import settings
    from django.contrib import admin

    from csm.money import format_money

    @admin.display(description=description, ordering=field)
    def column(obj):
        return format_html(
            '<span class="tend-money">{}</span>', format_money(getattr(obj, field), settings.TEND_CURRENCY)
        )

    column.__name__ = f"{field}_money"
    return column

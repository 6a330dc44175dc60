"""Small pieces of display the admin pages share."""

from __future__ import annotations

from django.utils.html import format_html


def rag_badge(rag: str) -> str:
    """The RAG as a coloured label that also says its name (never colour alone)."""
    if not rag:
        return format_html('<span class="tend-muted">{}</span>', "Not scored")
    return format_html('<span class="tend-rag tend-rag-{}">{}</span>', rag.lower(), rag)

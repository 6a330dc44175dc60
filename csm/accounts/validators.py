"""Checks on what people type about an account, shared by the API and the admin."""

from __future__ import annotations

from django.core.validators import RegexValidator

# A Notion page id: a UUID, with or without its dashes (as Notion's URLs show it).
notion_page_id = RegexValidator(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$",
    "A Notion page id is 32 hexadecimal characters, with or without dashes (the end of the page's URL).",
)

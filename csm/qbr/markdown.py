"""A QBR as Markdown (for download, and as the text Notion publishing will start from).

The template is plain text (no HTML escaping); what people typed (account
and feature names, summaries, explanations) is Markdown-escaped instead, so
a "|" cannot break a table, a "<script>" stays text, and a line break
cannot start a new block.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from django.template.loader import render_to_string

from csm.models import QBR
from csm.wording import in_words

# What can turn a value mid-line into markup: emphasis, code, links, HTML, table cells.
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~])")


def escape_markdown(text: str) -> str:
    """`text` as one line of literal Markdown: specials backslash-escaped, line breaks folded."""
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return escape_markdown(value)
    if isinstance(value, dict):
        return {key: _escaped(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(item) for item in value]
    return value


def _in_words(sections: dict) -> dict:
    """The signal groups that moved, named in words (they are stored as identifiers)."""
    health = sections.get("health_summary")
    if not isinstance(health, dict) or not health.get("moved"):
        return sections
    moved = [[in_words(group), points] for group, points in health["moved"]]
    return {**sections, "health_summary": {**health, "moved": moved}}


def _brief(text: str) -> list[str]:
    """The account brief under the QBR's own headings: its title dropped, its headings one deeper.
    Its lines are already made safe by csm.timeline.brief (one line each, no HTML)."""
    lines = ["", "## Account brief", ""]
    for line in text.splitlines():
        if line.startswith("# "):
            continue
        lines.append("#" + line if line.startswith("## ") else line)
    return lines


def render_qbr_markdown(qbr: QBR) -> str:
    sections = {k: v for k, v in qbr.sections.items() if k != "account_brief"}
    view = SimpleNamespace(
        account=SimpleNamespace(name=escape_markdown(qbr.account.name)),
        quarter=escape_markdown(qbr.quarter),
        sections=_escaped(_in_words(sections)),
    )
    text = render_to_string("csm/qbr/qbr.md", {"qbr": view}, using="text")
    if isinstance(qbr.sections.get("account_brief"), str):
        text += "\n".join(_brief(qbr.sections["account_brief"]))
    # Templates leave blank runs where optional parts are empty; keep one blank line.
    lines, blank = [], False
    for line in text.splitlines():
        if line.strip() or not blank:
            lines.append(line.rstrip())
        blank = not line.strip()
    return "\n".join(lines).strip() + "\n"

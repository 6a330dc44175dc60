"""A QBR as Markdown (for download, and as the text Notion publishing will start from)."""

from django.template.loader import render_to_string

from csm.models import QBR


def render_qbr_markdown(qbr: QBR) -> str:
    text = render_to_string("csm/qbr/qbr.md", {"qbr": qbr})
    # Templates leave blank runs where optional parts are empty; keep one blank line.
    lines, blank = [], False
    for line in text.splitlines():
        if line.strip() or not blank:
            lines.append(line.rstrip())
        blank = not line.strip()
    return "\n".join(lines).strip() + "\n"

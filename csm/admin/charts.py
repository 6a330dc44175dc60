"""Pictures for the admin, drawn on the server as inline SVG.

No JavaScript, no CDN: a chart is a string of markup that works offline and
in any browser. Every chart carries its meaning in text as well (a title, a
description and visible labels), so colour is never the only signal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

RAG_COLOURS = {"GREEN": "#188038", "AMBER": "#b06000", "RED": "#c5221f"}
BAND_FILLS = {"GREEN": "#e6f4ea", "AMBER": "#fef7e0", "RED": "#fce8e6"}
LINE = "#1a73e8"
MUTED = "#5f6368"


def _svg(width: int, height: int, label: str, body: str, *, css_class: str = "tend-chart") -> SafeString:
    return mark_safe(
        f'<svg class="{css_class}" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>{body}</svg>'
    )


def health_trend(
    points: Sequence[tuple[date, float]],
    *,
    alerts: Sequence[tuple[date, str]] = (),
    green: float = 70.0,
    amber: float = 40.0,
    width: int = 720,
    height: int = 180,
) -> SafeString:
    """Score over time on the RAG bands, with a marker on each day an alert fired."""
    if not points:
        return mark_safe(
            '<p class="tend-empty">Not scored yet: the chart appears after the first daily scan.</p>'
        )
    left, right, top, bottom = 34, 8, 8, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    first, last = points[0][0], points[-1][0]
    span = max((last - first).days, 1)

    def x(day: date) -> float:
        return round(left + (day - first).days * plot_w / span, 1) if len(points) > 1 else left + plot_w / 2

    def y(score: float) -> float:
        return round(top + plot_h - max(0.0, min(score, 100.0)) * plot_h / 100, 1)

    bands = (("GREEN", 100, green), ("AMBER", green, amber), ("RED", amber, 0))
    parts = [
        f'<rect x="{left}" y="{y(upper)}" width="{plot_w}" height="{y(lower) - y(upper)}" '
        f'fill="{BAND_FILLS[name]}"/>'
        for name, upper, lower in bands
    ]
    for value in (100, green, amber, 0):
        parts.append(
            f'<text x="{left - 4}" y="{y(value) + 4}" font-size="10" text-anchor="end" fill="{MUTED}">'
            f"{value:g}</text>"
        )
    for name, upper, lower in bands:
        parts.append(
            f'<text x="{left + 4}" y="{round((y(upper) + y(lower)) / 2 + 4, 1)}" font-size="10" '
            f'fill="{RAG_COLOURS[name]}">{name}</text>'
        )
    for day, reason in alerts:
        if first <= day <= last:
            parts.append(
                f'<g class="tend-alert-marker">'
                f'<line x1="{x(day)}" x2="{x(day)}" y1="{top}" y2="{top + plot_h}" '
                f'stroke="{RAG_COLOURS["RED"]}" stroke-dasharray="3 2"/>'
                f'<text x="{x(day) + (2 if x(day) < width - 20 else -6)}" y="{top + 10}" font-size="10" '
                f'fill="{RAG_COLOURS["RED"]}">!</text>'
                f"<title>Alert on {day.isoformat()}: {escape(reason)}</title></g>"
            )
    coords = " ".join(f"{x(day)},{y(score)}" for day, score in points)
    parts.append(f'<polyline fill="none" stroke="{LINE}" stroke-width="2" points="{coords}"/>')
    last_day, last_score = points[-1]
    parts.append(f'<circle cx="{x(last_day)}" cy="{y(last_score)}" r="3" fill="{LINE}"/>')
    parts.append(
        f'<text x="{left}" y="{height - 6}" font-size="10" fill="{MUTED}">{first.isoformat()}</text>'
        f'<text x="{width - right}" y="{height - 6}" font-size="10" text-anchor="end" fill="{MUTED}">'
        f"{last.isoformat()}</text>"
    )
    label = (
        f"Health score from {first.isoformat()} to {last.isoformat()}: {points[0][1]:.1f} to {last_score:.1f}"
        f" ({len(points)} scores, {sum(1 for d, _ in alerts if first <= d <= last)} alerts)"
    )
    return _svg(width, height, label, "".join(parts))


def sparkline(scores: Sequence[float], *, rag: str = "", width: int = 96, height: int = 22) -> SafeString:
    """A small line of recent scores for a list row; the last point takes the RAG colour."""
    if not scores:
        return mark_safe('<span class="tend-muted">no history</span>')

    # Scaled to the scores' own range (at least 20 points tall), so a slide shows.
    low, high = min(scores), max(scores)
    if high - low < 20:
        middle = (high + low) / 2
        low, high = middle - 10, middle + 10

    def y(score: float) -> float:
        return round(2 + (height - 4) * (high - score) / (high - low), 1)

    step = (width - 4) / max(len(scores) - 1, 1)
    coords = " ".join(f"{round(2 + i * step, 1)},{y(s)}" for i, s in enumerate(scores))
    end_x = round(2 + (len(scores) - 1) * step, 1)
    body = (
        f'<polyline fill="none" stroke="{LINE}" stroke-width="1.5" points="{coords}"/>'
        f'<circle cx="{end_x}" cy="{y(scores[-1])}" r="2.5" fill="{RAG_COLOURS.get(rag, MUTED)}"/>'
    )
    label = f"Last {len(scores)} scores: {scores[0]:.0f} to {scores[-1]:.0f}"
    return _svg(width, height, label, body, css_class="tend-sparkline")


def bars(
    rows: Sequence[tuple[str, float, str]],
    *,
    label: str,
    value_format: str | Callable[[float], str] = "{:,.0f}",
    width: int = 420,
    row_height: int = 22,
) -> SafeString:
    """Horizontal bars, each with its label and value written beside it."""
    if not rows:
        return mark_safe(f'<p class="tend-empty">{escape(label)}: nothing to show yet.</p>')
    label_w, value_w = 110, 90
    bar_w = width - label_w - value_w
    top = max((value for _, value, _ in rows), default=0) or 1
    parts = []
    for i, (name, value, colour) in enumerate(rows):
        y = i * row_height
        length = round(bar_w * value / top, 1)
        parts.append(
            f'<text x="0" y="{y + 15}" font-size="12" fill="#202124">{escape(name)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{length}" height="{row_height - 8}" '
            f'fill="{colour}" rx="2"/>'
            f'<text x="{label_w + length + 6}" y="{y + 15}" font-size="12" fill="#202124">'
            f"{escape(value_format(value) if callable(value_format) else value_format.format(value))}</text>"
        )
    return _svg(width, row_height * len(rows), label, "".join(parts))


def roc(points: Sequence[tuple[float, float]], *, auc: float | None, size: int = 260) -> SafeString:
    """The ROC curve: how many churned accounts are caught (up) for how many false alarms (right)."""
    if not points:
        return mark_safe(
            '<p class="tend-empty">No curve: the backtest needs churned and retained accounts.</p>'
        )
    pad = 30
    side = size - 2 * pad

    def xy(fpr: float, tpr: float) -> str:
        return f"{round(pad + fpr * side, 1)},{round(pad + side - tpr * side, 1)}"

    coords = " ".join(xy(f, t) for f, t in points)
    body = (
        f'<rect x="{pad}" y="{pad}" width="{side}" height="{side}" fill="none" stroke="#dadce0"/>'
        f'<line x1="{pad}" y1="{pad + side}" x2="{pad + side}" y2="{pad}" stroke="#9aa0a6" '
        'stroke-dasharray="4 3"/>'
        f'<polyline fill="none" stroke="{LINE}" stroke-width="2" points="{coords}"/>'
        f'<text x="{pad + side / 2}" y="{size - 6}" font-size="11" text-anchor="middle" fill="{MUTED}">'
        "false alarms (retained accounts flagged)</text>"
        f'<text x="10" y="{pad + side / 2}" font-size="11" text-anchor="middle" fill="{MUTED}" '
        f'transform="rotate(-90 10 {pad + side / 2})">churned accounts caught</text>'
        f'<text x="{pad + side - 4}" y="{pad + side - 8}" font-size="12" text-anchor="end" fill="#202124">'
        f"AUC {auc:.2f}</text>"
    )
    label = f"ROC curve, AUC {auc:.2f}; the dashed diagonal is chance (0.50)"
    return _svg(size, size, label, body)

"""The webhooks of the two survey tools CS teams use most, read into one shape. Plain data, no Django.

**Delighted** (docs: delighted.com/docs/api/webhooks) posts `survey_response.created` when a person
picks a score and `survey_response.updated` when they add a comment or change it, signed with
`X-Delighted-Webhook-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with the API key>`.

| Delighted                          | Tend                |
| ---------------------------------- | ------------------- |
| `event_data.id`                    | external id         |
| `event_data.survey_type`           | kind (nps, csat; others are ignored) |
| `event_data.score`                 | score               |
| `event_data.comment`               | comment             |
| `event_data.person.email` / `name` | respondent          |
| `event_data.created_at` (Unix)     | responded at        |
| `event_data.person_properties["Survey"]`, else the survey type | survey |

**Typeform** (docs: typeform.com/developers/webhooks) posts `form_response` when a form is
submitted, signed with `Typeform-Signature: sha256=<base64 HMAC-SHA256 of the body, keyed with the
webhook's secret>`.

| Typeform                                        | Tend          |
| ----------------------------------------------- | ------------- |
| `form_response.token`                           | external id   |
| the first answer to an `nps` field              | NPS score     |
| else the first `opinion_scale` / `rating` answer on a 1-5 scale | CSAT score |
| the first `long_text` / `short_text` answer     | comment       |
| `hidden.email`, else the first `email` answer   | respondent    |
| `hidden.name`                                   | name          |
| `form_response.submitted_at`                    | responded at  |
| `definition.title`, else `form_id`              | survey        |
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class Unreadable(ValueError):
    """A body that is not the tool's format; the message says which part."""


@dataclass(frozen=True)
class Answer:
    external_id: str
    kind: str
    score: int
    responded_at: datetime
    email: str = ""
    name: str = ""
    comment: str = ""
    survey: str = ""


def _sign(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def delighted_signed(secret: str, body: bytes, header: str) -> bool:
    algorithm, _, digest = (header or "").strip().partition("=")
    if not secret or algorithm != "sha256" or not digest:
        return False
    return hmac.compare_digest(_sign(secret, body).hex(), digest.strip().lower())


def typeform_signed(secret: str, body: bytes, header: str) -> bool:
    algorithm, _, digest = (header or "").strip().partition("=")
    if not secret or algorithm != "sha256" or not digest:
        return False
    return hmac.compare_digest(base64.b64encode(_sign(secret, body)).decode(), digest.strip())


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _whole(value: Any, where: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise Unreadable(f"{where}: not a whole number: {value!r}")
    return int(value)


def delighted(body: dict[str, Any]) -> Answer | None:
    """The answer a Delighted webhook carries; None for the events Tend does not keep."""
    event = body.get("event_type")
    if event not in ("survey_response.created", "survey_response.updated"):
        return None
    data = body.get("event_data")
    if not isinstance(data, dict):
        raise Unreadable("event_data: missing")
    kind = data.get("survey_type")
    if kind not in ("nps", "csat"):
        return None  # CES, smileys, thumbs, eNPS: not surveys the score reads
    if not isinstance(data.get("id"), str | int) or isinstance(data.get("id"), bool) or data["id"] == "":
        raise Unreadable("event_data.id: missing")
    created = data.get("created_at")
    if isinstance(created, bool) or not isinstance(created, int | float):
        raise Unreadable(f"event_data.created_at: not a Unix time: {created!r}")
    try:
        responded_at = datetime.fromtimestamp(created, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise Unreadable(f"event_data.created_at: not a Unix time: {created!r}") from None
    person = data.get("person") if isinstance(data.get("person"), dict) else {}
    properties = data.get("person_properties") if isinstance(data.get("person_properties"), dict) else {}
    return Answer(
        external_id=str(data["id"])[:100],
        kind=kind,
        score=_whole(data.get("score"), "event_data.score"),
        responded_at=responded_at,
        email=_text(person.get("email"), 254),
        name=_text(person.get("name"), 200),
        comment=_text(data.get("comment"), 10_000),
        survey=_text(properties.get("Survey"), 200) or f"Delighted {kind.upper()}",
    )


def _field_type(answer: dict[str, Any]) -> str:
    field = answer.get("field")
    return field.get("type", "") if isinstance(field, dict) else ""


def typeform(body: dict[str, Any]) -> Answer | None:
    """The answer a Typeform webhook carries; None for a form with no NPS or 1-5 scale question."""
    if body.get("event_type") != "form_response":
        return None
    response = body.get("form_response")
    if not isinstance(response, dict):
        raise Unreadable("form_response: missing")
    token = response.get("token")
    if not isinstance(token, str) or not token:
        raise Unreadable("form_response.token: missing")
    try:
        responded_at = datetime.fromisoformat(str(response.get("submitted_at", "")).replace("Z", "+00:00"))
    except ValueError:
        raise Unreadable(
            f"form_response.submitted_at: not a time: {response.get('submitted_at')!r}"
        ) from None
    if responded_at.tzinfo is None:
        raise Unreadable("form_response.submitted_at: needs its time zone")
    answers = [a for a in response.get("answers") or [] if isinstance(a, dict)]
    scales = {}
    definition = response.get("definition") if isinstance(response.get("definition"), dict) else {}
    for field in definition.get("fields") or []:
        if isinstance(field, dict):
            properties = field.get("properties") if isinstance(field.get("properties"), dict) else {}
            scales[field.get("id")] = properties.get("steps")
    kind = score = None
    for answer in answers:
        if _field_type(answer) == "nps":
            kind, score = "nps", _whole(answer.get("number"), "nps answer")
            break
    if kind is None:
        for answer in answers:
            field_id = answer.get("field", {}).get("id") if isinstance(answer.get("field"), dict) else None
            steps = scales.get(field_id)
            if _field_type(answer) in ("opinion_scale", "rating") and steps in (None, 5):
                kind, score = "csat", _whole(answer.get("number"), f"{_field_type(answer)} answer")
                break
    if kind is None:
        return None
    comment = next(
        (_text(a.get("text"), 10_000) for a in answers if _field_type(a) in ("long_text", "short_text")), ""
    )
    hidden = response.get("hidden") if isinstance(response.get("hidden"), dict) else {}
    email = _text(hidden.get("email"), 254) or next(
        (_text(a.get("email"), 254) for a in answers if a.get("type") == "email"), ""
    )
    return Answer(
        external_id=token[:100],
        kind=kind,
        score=score,
        responded_at=responded_at,
        email=email,
        name=_text(hidden.get("name"), 200),
        comment=comment,
        survey=_text(definition.get("title"), 200) or _text(response.get("form_id"), 200),
    )

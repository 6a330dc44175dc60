"""The survey tools' webhooks: Delighted and Typeform bodies as their docs give them, signed the way
each signs (a forged, unsigned or re-signed-with-another-key body is refused and nothing is kept)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from csm.models import AccountSignals, SurveyResponse

pytestmark = pytest.mark.django_db

DELIGHTED_KEY = "dl-api-key-123"
TYPEFORM_SECRET = "tf-secret-456"


@pytest.fixture(autouse=True)
def secrets(settings):
    settings.DELIGHTED_API_KEY = DELIGHTED_KEY
    settings.TYPEFORM_WEBHOOK_SECRET = TYPEFORM_SECRET


def delighted_body(
    *,
    event="survey_response.created",
    rid="5435",
    email="wile@acme.test",
    score=9,
    comment="",
    survey_type="nps",
    minutes_ago=5,
):
    """The shape of Delighted's documented example."""
    created = int((timezone.now() - timedelta(minutes=minutes_ago)).timestamp())
    return json.dumps(
        {
            "event_type": event,
            "event_id": "b8d057c59327541d7ec2104c0a9a255ad1997fb00831b9c6bbf09561e6d5cbd0",
            "event_data": {
                "id": rid,
                "person": {"id": "5975", "email": email, "name": "Wile Coyote", "created_at": created - 60},
                "survey_type": survey_type,
                "score": score,
                "comment": comment or None,
                "permalink": "https://app.delighted.com/r/5pFDpmlyC8GUc5oxU6USto5VonSKAqOa",
                "created_at": created,
                "updated_at": created + 600,
                "person_properties": None,
                "notes": [],
                "tags": [],
                "additional_answers": [],
            },
        }
    ).encode()


def delighted_sign(body: bytes, key: str = DELIGHTED_KEY) -> str:
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def post_delighted(client, body: bytes, signature: str | None):
    headers = {"HTTP_X_DELIGHTED_WEBHOOK_SIGNATURE": signature} if signature is not None else {}
    return client.post("/webhooks/delighted", body, content_type="application/json", **headers)


def typeform_body(
    *,
    token="a3a12ec67a1365927098a606107fac15",
    nps=3,
    email="road@acme.test",
    with_nps=True,
    scale_steps=5,
    rating=None,
):
    """The shape of Typeform's form_response payload."""
    fields = [
        {"id": "nps1", "ref": "nps", "type": "nps", "title": "How likely are you to recommend us?"},
        {"id": "why1", "ref": "why", "type": "long_text", "title": "Why?"},
        {
            "id": "sat1",
            "ref": "sat",
            "type": "opinion_scale",
            "title": "How satisfied?",
            "properties": {"steps": scale_steps},
        },
    ]
    answers = []
    if with_nps:
        answers.append(
            {"type": "number", "number": nps, "field": {"id": "nps1", "type": "nps", "ref": "nps"}}
        )
    if rating is not None:
        answers.append(
            {
                "type": "number",
                "number": rating,
                "field": {"id": "sat1", "type": "opinion_scale", "ref": "sat"},
            }
        )
    answers.append(
        {
            "type": "text",
            "text": "Reports are slow and support is slower.",
            "field": {"id": "why1", "type": "long_text", "ref": "why"},
        }
    )
    submitted = (timezone.now() - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(
        {
            "event_id": "LtWXD3crgy",
            "event_type": "form_response",
            "form_response": {
                "form_id": "lT4Z3j",
                "token": token,
                "landed_at": submitted,
                "submitted_at": submitted,
                "hidden": {"email": email},
                "definition": {"id": "lT4Z3j", "title": "Q4 customer survey", "fields": fields},
                "answers": answers,
            },
        }
    ).encode()


def typeform_sign(body: bytes, secret: str = TYPEFORM_SECRET) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def post_typeform(client, body: bytes, signature: str | None):
    headers = {"HTTP_TYPEFORM_SIGNATURE": signature} if signature is not None else {}
    return client.post("/webhooks/typeform", body, content_type="application/json", **headers)


# --- Delighted -----------------------------------------------------------------------------------


def test_a_signed_delighted_answer_is_kept_on_the_contacts_account(client, acme):
    body = delighted_body(score=9)
    answer = post_delighted(client, body, delighted_sign(body))
    assert answer.status_code == 200, answer.content
    assert answer.json()["kept"] and answer.json()["placed"]
    row = SurveyResponse.objects.get()
    # Placed by the contact's email, whatever its case ("Wile@Acme.test" on the contact).
    assert (row.account, row.contact.name, row.kind, row.score) == (acme, "Wile Coyote", "nps", 9)
    assert (row.channel, row.external_id, row.survey) == ("delighted", "5435", "Delighted NPS")


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=", "sha256=deadbeef", "md5=abc", "FORGED"],
    ids=["missing", "empty", "no-digest", "wrong-digest", "other-algorithm", "garbage"],
)
def test_an_unsigned_or_forged_delighted_body_is_refused(client, acme, signature):
    answer = post_delighted(client, delighted_body(), signature)
    assert answer.status_code == 401
    assert not SurveyResponse.objects.exists()


def test_a_body_signed_with_another_key_or_changed_after_signing_is_refused(client, acme):
    body = delighted_body(score=9)
    assert post_delighted(client, body, delighted_sign(body, "someone-elses-key")).status_code == 401
    tampered = body.replace(b'"score": 9', b'"score": 0')
    assert tampered != body
    assert post_delighted(client, tampered, delighted_sign(body)).status_code == 401
    assert not SurveyResponse.objects.exists()


def test_the_update_with_the_comment_changes_the_same_answer(client, acme):
    first = delighted_body(score=4)
    assert post_delighted(client, first, delighted_sign(first)).status_code == 200
    later = delighted_body(event="survey_response.updated", score=5, comment="Support never answers.")
    assert post_delighted(client, later, delighted_sign(later)).status_code == 200
    again = delighted_body(event="survey_response.updated", score=5)  # a retry without the comment
    assert post_delighted(client, again, delighted_sign(again)).status_code == 200
    row = SurveyResponse.objects.get()
    assert (row.score, row.comment) == (5, "Support never answers.")


def test_events_and_survey_types_tend_does_not_keep_are_acknowledged(client, acme):
    for body in (
        json.dumps({"event_type": "unsubscribe.created", "event_data": {"person": {}}}).encode(),
        delighted_body(survey_type="ces"),
    ):
        answer = post_delighted(client, body, delighted_sign(body))
        assert answer.status_code == 200 and answer.json()["kept"] is False
    assert not SurveyResponse.objects.exists()


@pytest.mark.parametrize(
    "body, message",
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"event_type": "survey_response.created"}).encode(), "event_data"),
        (delighted_body(score=11), "score"),
        (delighted_body(score="9"), "score"),
        (
            json.dumps(
                {
                    "event_type": "survey_response.created",
                    "event_data": {"id": "1", "survey_type": "nps", "score": 3, "created_at": "yesterday"},
                }
            ).encode(),
            "created_at",
        ),
    ],
    ids=["not-json", "array", "no-data", "off-scale", "string-score", "bad-time"],
)
def test_a_signed_body_tend_cannot_read_gets_a_400_saying_why(client, acme, body, message):
    answer = post_delighted(client, body, delighted_sign(body))
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert not SurveyResponse.objects.exists()


def test_no_secret_set_means_no_webhook(client, acme, settings):
    settings.DELIGHTED_API_KEY = ""
    body = delighted_body()
    assert post_delighted(client, body, delighted_sign(body, "")).status_code == 404
    assert client.get("/webhooks/delighted").status_code == 405


def test_an_answer_no_one_matches_is_kept_unplaced(client, acme):
    body = delighted_body(email="stranger@elsewhere.test", score=2)
    answer = post_delighted(client, body, delighted_sign(body))
    assert answer.status_code == 200 and answer.json()["placed"] is False
    row = SurveyResponse.objects.get()
    assert row.account is None and row.email == "stranger@elsewhere.test"


def test_two_answers_set_the_accounts_nps_input(client, acme):
    for rid, email, score in (("1", "wile@acme.test", 9), ("2", "road@acme.test", 3)):
        body = delighted_body(rid=rid, email=email, score=score)
        assert post_delighted(client, body, delighted_sign(body)).status_code == 200
    signals = AccountSignals.objects.get(account=acme)
    assert signals.nps_score == 5  # (9 + 2 * 3) / 3
    assert signals.sources["nps_score"]["source"] == "surveys"


# --- Typeform ------------------------------------------------------------------------------------


def test_a_signed_typeform_answer_is_kept(client, acme):
    body = typeform_body(nps=3)
    answer = post_typeform(client, body, typeform_sign(body))
    assert answer.status_code == 200, answer.content
    row = SurveyResponse.objects.get()
    assert (row.account, row.contact.name, row.kind, row.score) == (acme, "Road Runner", "nps", 3)
    assert row.comment == "Reports are slow and support is slower."
    assert (row.survey, row.channel) == ("Q4 customer survey", "typeform")
    # Typeform sends a submission again when it gets no 2xx: still one answer.
    assert post_typeform(client, body, typeform_sign(body)).status_code == 200
    assert SurveyResponse.objects.count() == 1


@pytest.mark.parametrize("signature", [None, "sha256=", "sha256=AAAA", "sha1=abc"])
def test_an_unsigned_or_forged_typeform_body_is_refused(client, acme, signature):
    assert post_typeform(client, typeform_body(), signature).status_code == 401
    assert not SurveyResponse.objects.exists()


def test_a_typeform_body_signed_hex_like_delighted_is_refused(client, acme):
    body = typeform_body()
    hex_digest = "sha256=" + hmac.new(TYPEFORM_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert post_typeform(client, body, hex_digest).status_code == 401


def test_a_five_step_scale_is_csat_and_a_form_without_a_score_is_not_kept(client, acme):
    body = typeform_body(with_nps=False, rating=2, token="t-csat")
    assert post_typeform(client, body, typeform_sign(body)).status_code == 200
    assert SurveyResponse.objects.get().kind == "csat"
    ten_steps = typeform_body(with_nps=False, rating=2, scale_steps=10, token="t-ten")
    answer = post_typeform(client, ten_steps, typeform_sign(ten_steps))
    assert answer.status_code == 200 and answer.json()["kept"] is False
    assert SurveyResponse.objects.count() == 1


def test_a_typeform_time_without_a_zone_is_refused(client, acme):
    body = typeform_body().replace(b'Z", "submitted_at', b'", "submitted_at')
    body = json.loads(body)
    body["form_response"]["submitted_at"] = "2026-11-30T10:00:00"
    raw = json.dumps(body).encode()
    answer = post_typeform(client, raw, typeform_sign(raw))
    assert answer.status_code == 400 and "time zone" in answer.json()["error"]


@pytest.mark.parametrize("score", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_a_score_json_cannot_hold_is_a_400_not_a_500(client, acme, score):
    body = delighted_body(score=9).replace(b'"score": 9', b'"score": ' + score)
    assert score in body
    answer = post_delighted(client, body, delighted_sign(body))
    error = answer.json()["error"]
    assert answer.status_code == 400 and ("score" in error or "not JSON" in error), error
    assert not SurveyResponse.objects.exists()


def test_a_body_nested_beyond_reason_is_a_400(client, acme):
    body = b"[" * 100_000 + b"]" * 100_000
    answer = post_delighted(client, body, delighted_sign(body))
    assert answer.status_code == 400
    assert not SurveyResponse.objects.exists()


def test_text_a_database_cannot_store_is_cleaned_not_refused(client, acme):
    # JSON escapes of a NUL and a lone surrogate: PostgreSQL's text columns refuse both.
    body = delighted_body(score=3, comment="Slow").replace(b'"Slow"', b'"Sl\\u0000ow \\ud800!"')
    answer = post_delighted(client, body, delighted_sign(body))
    assert answer.status_code == 200, answer.content
    assert SurveyResponse.objects.get().comment == "Slow ?!"

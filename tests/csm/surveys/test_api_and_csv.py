"""Survey answers by the API and by CSV: placed, checked, never twice, and only on your accounts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from csm.models import AccountSignals, SurveyResponse
from csm.surveys.csv_import import import_responses

pytestmark = pytest.mark.django_db


def when(days_ago=1):
    return (timezone.now() - timedelta(days=days_ago)).isoformat()


def test_posting_answers_places_them_and_derives_the_input(api, maya, acme):
    client = api(maya)
    first = client.post(
        "/api/v1/survey-responses/",
        {
            "account": acme.pk,
            "score": 10,
            "responded_at": when(),
            "email": "wile@acme.test",
            "comment": "Love it",
        },
        format="json",
    )
    assert first.status_code == 201, first.content
    assert first.json()["category"] == "promoter" and first.json()["channel"] == "api"
    assert first.json()["contact"] is not None
    # Placed by email alone (a contact of an account of hers).
    second = client.post(
        "/api/v1/survey-responses/",
        {"email": "ROAD@acme.test", "score": 6, "responded_at": when(2)},
        format="json",
    )
    assert second.status_code == 201, second.content
    assert second.json()["account"] == acme.pk
    assert AccountSignals.objects.get(account=acme).nps_score == 7  # (10 + 2 * 6) / 3 = 7.33


def test_the_same_external_id_updates_instead_of_adding(api, maya, acme):
    client = api(maya)
    data = {"account": acme.pk, "score": 4, "responded_at": when(), "external_id": "sheet-17"}
    assert client.post("/api/v1/survey-responses/", data, format="json").status_code == 201
    again = client.post("/api/v1/survey-responses/", {**data, "score": 8}, format="json")
    assert again.status_code == 200
    assert SurveyResponse.objects.get().score == 8


@pytest.mark.parametrize(
    "change, field",
    [
        ({"score": 11}, "score"),
        ({"kind": "csat", "score": 7}, "score"),
        ({"score": "nine"}, "score"),
        ({"responded_at": "2999-01-01T00:00:00Z"}, "responded_at"),
        ({"responded_at": "yesterday"}, "responded_at"),
        ({"kind": "ces"}, "kind"),
        ({"colour": "red"}, "colour"),
        ({"account": None, "email": ""}, "account"),
    ],
)
def test_bad_answers_get_a_400_naming_the_field(api, maya, acme, change, field):
    data = {"account": acme.pk, "score": 5, "responded_at": when(), **change}
    answer = api(maya).post("/api/v1/survey-responses/", data, format="json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()
    assert not SurveyResponse.objects.exists()


def test_a_csm_neither_places_on_nor_sees_another_csms_accounts(api, maya, tom, acme, globex):
    client = api(maya)
    on_theirs = client.post(
        "/api/v1/survey-responses/", {"account": globex.pk, "score": 3, "responded_at": when()}, format="json"
    )
    assert on_theirs.status_code == 400 and "account" in on_theirs.json()
    by_their_email = client.post(
        "/api/v1/survey-responses/",
        {"email": "hank@globex.test", "score": 3, "responded_at": when()},
        format="json",
    )
    assert by_their_email.status_code == 400 and "email" in by_their_email.json()
    assert not SurveyResponse.objects.exists()
    assert (
        api(tom)
        .post(
            "/api/v1/survey-responses/",
            {"email": "hank@globex.test", "score": 3, "responded_at": when()},
            format="json",
        )
        .status_code
        == 201
    )
    assert api(maya).get("/api/v1/survey-responses/").json()["results"] == []
    theirs = SurveyResponse.objects.get()
    assert api(maya).get(f"/api/v1/survey-responses/{theirs.pk}/").status_code == 404
    assert len(api(tom).get("/api/v1/survey-responses/").json()["results"]) == 1


def test_reading_needs_authentication(api):
    assert api().get("/api/v1/survey-responses/").status_code in (401, 403)


CSV = """Email,NPS,Date,Comment,Response ID,Survey
wile@acme.test,9,{d1},Great,r-1,Q4
road@acme.test,2,{d2},"Slow, and buggy",r-2,Q4
nobody@nowhere.test,8,{d2},,r-3,Q4
"""


def test_a_csv_import_places_and_counts(acme):
    d1, d2 = (
        (timezone.localdate() - timedelta(days=3)).isoformat(),
        (timezone.localdate() - timedelta(days=40)),
    )
    content = CSV.format(d1=d1, d2=d2.strftime("%m/%d/%Y"))
    dry = import_responses(content, dry_run=True)
    assert not dry.problems and not dry.written and dry.rows == 3
    assert not SurveyResponse.objects.exists()
    report = import_responses(content)
    assert (report.rows, report.created, report.unplaced, report.written) == (3, 3, 1, True)
    assert AccountSignals.objects.get(account=acme).nps_score == 4  # (9 + 2 * 2) / 3 = 4.33
    assert SurveyResponse.objects.get(external_id="r-2").comment == "Slow, and buggy"
    # The same file again: the same three answers, updated.
    again = import_responses(content.replace(",2,", ",3,"))
    assert (again.created, again.updated) == (0, 3)
    assert SurveyResponse.objects.count() == 3 and SurveyResponse.objects.get(external_id="r-2").score == 3


def test_a_csv_with_any_bad_row_writes_nothing_and_lists_each(acme):
    content = """email,score,responded_at,kind,external_id
wile@acme.test,9,2026-11-01,nps,
road@acme.test,12,2026-11-02,nps,
,5,2026-11-02,nps,
road@acme.test,4,someday,csat,
road@acme.test,4,2026-11-02,poll,
road@acme.test,4,2026-11-02,nps,NO-SUCH
"""
    report = import_responses(content)
    problems = {(p.line, p.column) for p in report.problems}
    assert problems == {(3, "score"), (4, "email"), (5, "responded_at"), (6, "kind"), (7, "external_id")}
    assert not report.written and not SurveyResponse.objects.exists()


def test_a_csv_without_the_needed_columns_says_so():
    report = import_responses("name,comment\nWile,hi\n")
    assert {p.column for p in report.problems} == {"score", "responded_at", "email"}


def test_the_import_command(tmp_path, acme, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    good = tmp_path / "good.csv"
    good.write_text(f"email,score,responded_at\nwile@acme.test,10,{timezone.localdate().isoformat()}\n")
    call_command("import_survey_responses", str(good))
    assert "1 new" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("email,score,responded_at\nwile@acme.test,99,2026-01-01\n")
    with pytest.raises(CommandError):
        call_command("import_survey_responses", str(bad))
    assert SurveyResponse.objects.count() == 1


@pytest.mark.parametrize("hour", [0, 8, 11, 13, 23])
def test_an_answer_dated_today_is_kept_whatever_the_hour_of_the_import(acme, monkeypatch, hour):
    """A bare day reads as its noon; imported on that day before noon it was refused as in the future."""
    from datetime import datetime, time

    from csm.surveys import csv_import

    day = timezone.localdate()
    at = timezone.make_aware(datetime.combine(day, time(hour, 30)))
    monkeypatch.setattr(csv_import.timezone, "now", lambda: at)
    monkeypatch.setattr("csm.surveys.responses.timezone.now", lambda: at)
    tomorrow = (day + timedelta(days=1)).isoformat()
    refused = import_responses(f"email,score,responded_at\nwile@acme.test,9,{tomorrow}\n")
    assert [p.column for p in refused.problems] == ["responded_at"] and not SurveyResponse.objects.exists()
    report = import_responses(f"email,score,responded_at\nwile@acme.test,9,{day.isoformat()}\n")
    assert report.problems == []
    kept = SurveyResponse.objects.get()
    assert timezone.localdate(kept.responded_at) == day and kept.responded_at <= at

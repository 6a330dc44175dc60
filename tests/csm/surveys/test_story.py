"""Survey answers in the account's story: the timeline, the brief, the admin, and the daily sweep
that lets answers age out of the NPS input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from csm.models import AccountSignals, SurveyResponse
from csm.surveys import rules
from csm.surveys.formats import Answer
from csm.surveys.responses import refresh_aged, save_answers
from csm.timeline.brief import account_brief

pytestmark = pytest.mark.django_db


def answer(score, email, *, days_ago=1, rid="", comment=""):
    return Answer(
        external_id=rid,
        kind="nps",
        score=score,
        email=email,
        comment=comment,
        responded_at=timezone.now() - timedelta(days=days_ago),
        survey="Q4",
    )


def test_answers_are_on_the_timeline_and_filterable(api, maya, acme):
    save_answers([answer(9, "wile@acme.test", comment="Smooth quarter")], channel="api")
    page = api(maya).get(f"/api/v1/accounts/{acme.pk}/timeline/", {"kind": "survey"}).json()
    assert [i["kind"] for i in page["results"]] == ["survey"]
    item = page["results"][0]
    assert item["title"].startswith("NPS 9 (promoter)") and item["detail"] == "Smooth quarter"


def test_the_brief_tells_what_they_said(acme):
    save_answers(
        [answer(9, "wile@acme.test", comment="Smooth quarter"), answer(3, "road@acme.test")], channel="api"
    )
    brief = account_brief(acme)
    said = brief.split("## What they said", 1)[1].split("##", 1)[0]
    assert "NPS: 2 answer(s), net promoter score +0; the score reads 5" in said
    assert '9/10: "Smooth quarter"' in said


def test_the_daily_sweep_lets_an_answer_age_out(acme):
    window = rules.WINDOW_DAYS
    save_answers(
        [answer(2, "wile@acme.test", days_ago=window - 1), answer(10, "road@acme.test")], channel="api"
    )
    assert AccountSignals.objects.get(account=acme).nps_score == 5
    tomorrow = timezone.localdate() + timedelta(days=1)
    result = refresh_aged(today=tomorrow)
    assert result == {"accounts": 1, "changed": 1}
    # One voice left: too few, so the input the answers gave goes back to none.
    assert AccountSignals.objects.get(account=acme).nps_score is None


def test_a_typed_nps_stands_until_enough_people_answer(acme):
    assert AccountSignals.objects.get(account=acme).nps_score == 9  # typed in (the fixture's signals)
    save_answers([answer(2, "wile@acme.test")], channel="api")
    assert AccountSignals.objects.get(account=acme).nps_score == 9
    save_answers([answer(4, "road@acme.test")], channel="api")
    assert AccountSignals.objects.get(account=acme).nps_score == 3


@pytest.fixture
def manager(make_user):
    user = make_user("morgan", view_all=True)
    user.groups.add(Group.objects.get(name="Manager"))
    return user


def test_a_manager_places_an_unmatched_answer_and_the_input_follows(client, manager, acme):
    save_answers([answer(0, "wile@acme.test")], channel="api")
    stray = save_answers([answer(0, "cfo@acme.test", rid="x")], channel="delighted").responses[0]
    client.force_login(manager)
    listing = client.get(reverse("admin:csm_surveyresponse_changelist"), {"placed": "no"})
    assert listing.status_code == 200 and "cfo@acme.test" in listing.content.decode()
    url = reverse("admin:csm_surveyresponse_change", args=[stray.pk])
    page = client.get(url)
    assert page.status_code == 200
    saved = client.post(
        url,
        {
            "account": acme.pk,
            "email": "cfo@acme.test",
            "kind": "nps",
            "score": 0,
            "comment": "",
            "responded_at_0": stray.responded_at.date().isoformat(),
            "responded_at_1": "10:00:00",
            "survey": "Q4",
        },
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert SurveyResponse.objects.get(pk=stray.pk).account == acme
    assert AccountSignals.objects.get(account=acme).nps_score == 0


def test_the_admin_import_checks_then_imports(client, manager, acme):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(manager)
    url = reverse("admin:csm_surveyresponse_import")
    content = f"email,score,responded_at\nwile@acme.test,8,{timezone.localdate().isoformat()}\n".encode()
    dry = client.post(url, {"file": SimpleUploadedFile("s.csv", content), "dry_run": "on"})
    assert dry.status_code == 200 and "Dry run" in dry.content.decode()
    assert not SurveyResponse.objects.exists()
    done = client.post(url, {"file": SimpleUploadedFile("s.csv", content)})
    assert "Imported" in done.content.decode() and SurveyResponse.objects.count() == 1
    bad = client.post(
        url, {"file": SimpleUploadedFile("s.csv", b"email,score,responded_at\nx@y.z,50,2026-01-01\n")}
    )
    assert "Refused" in bad.content.decode() and SurveyResponse.objects.count() == 1


def test_a_csm_sees_only_their_accounts_answers_in_the_admin(client, maya, acme, globex):
    save_answers([answer(9, "wile@acme.test"), answer(1, "hank@globex.test")], channel="api")
    save_answers([answer(1, "nobody@x.test")], channel="api")
    client.force_login(maya)
    page = client.get(reverse("admin:csm_surveyresponse_changelist"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Acme" in text and "Globex" not in text and "nobody@x.test" not in text


def test_the_admin_filters_by_band(client, manager, acme):
    save_answers([answer(10, "wile@acme.test"), answer(7, "road@acme.test"), answer(2, "x@acme.test")],
                 channel="api")  # fmt: skip
    client.force_login(manager)
    url = reverse("admin:csm_surveyresponse_changelist")
    detractors = client.get(url, {"category": "detractor"}).content.decode()
    assert "x@acme.test" in detractors and "road@acme.test" not in detractors
    promoters = client.get(url, {"category": "promoter"}).content.decode()
    assert "Wile Coyote" in promoters and "x@acme.test" not in promoters


def test_a_csms_import_never_lands_an_answer_on_another_csms_account(client, maya, acme, globex):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(maya)  # a CSM: may import (add), sees only her accounts
    today = timezone.localdate().isoformat()
    content = f"email,score,responded_at\nwile@acme.test,9,{today}\nhank@globex.test,1,{today}\n".encode()
    page = client.post(
        reverse("admin:csm_surveyresponse_import"), {"file": SimpleUploadedFile("s.csv", content)}
    )
    assert "1 not placed" in page.content.decode()
    assert set(SurveyResponse.objects.values_list("email", "account__name")) == {
        ("wile@acme.test", "Acme"),
        ("hank@globex.test", None),
    }

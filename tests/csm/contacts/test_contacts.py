"""Contacts: roles, last activity from the usage stream, and a champion who leaves (removed in the
CRM, or quiet in the product) seen by the score, its explanation and its alerts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from csm.contacts.champions import activity_from_usage, refresh_champions, sweep_inactive
from csm.models import (
    AccountSignals,
    Contact,
    HealthScore,
    RescoreRequest,
    ScoringProfile,
    TrackedUser,
    TrackingSource,
)
from csm.scoring.scan import scan_health

pytestmark = pytest.mark.django_db


@pytest.fixture
def maya(make_user):
    return make_user("maya")


@pytest.fixture
def acme(make_account, maya):
    return make_account(name="Acme", owner=maya)


def test_the_shipped_profile_has_the_champion_rule_on_in_a_new_version():
    versions = list(ScoringProfile.objects.filter(segment="").order_by("version"))
    assert [(p.version, p.is_active, p.champion_left_engagement) for p in versions] == [
        (1, False, ""),
        (2, True, "low"),
    ]


def test_a_champion_removed_in_the_crm_lowers_engagement_and_says_why(acme):
    wile = Contact.objects.create(account=acme, name="Wile", email="wile@acme.test", role="champion")
    today = timezone.localdate()
    scan_health(today=today - timedelta(days=1))
    before = HealthScore.objects.get(account=acme, scored_on=today - timedelta(days=1))
    assert before.inputs["stakeholder_engagement"] == "high"
    Contact.objects.filter(pk=wile.pk).update(archived_at=timezone.now())
    assert refresh_champions([acme.pk]) == [acme.pk]
    assert AccountSignals.objects.get(account=acme).champion_left_on == today
    assert RescoreRequest.objects.filter(account=acme).exists()
    scan_health(today=today)
    after = HealthScore.objects.get(account=acme, scored_on=today)
    assert after.inputs["stakeholder_engagement"] == "low"
    assert after.breakdown["stakeholder_engagement"] < before.breakdown["stakeholder_engagement"]
    assert "champion left on" in after.explanation


def test_an_older_profile_version_keeps_the_rule_off(acme):
    Contact.objects.create(account=acme, name="Wile", role="champion", archived_at=timezone.now())
    refresh_champions([acme.pk])
    ScoringProfile.objects.filter(is_active=True).update(champion_left_engagement="")
    scan_health(today=timezone.localdate())
    score = HealthScore.objects.get(account=acme)
    assert score.inputs["stakeholder_engagement"] == "high" and "champion" not in score.explanation


def test_naming_a_new_champion_clears_it(api, maya, acme):
    Contact.objects.create(account=acme, name="Wile", role="champion", archived_at=timezone.now())
    refresh_champions([acme.pk])
    assert AccountSignals.objects.get(account=acme).champion_left_on is not None
    answer = api(maya).post("/api/v1/contacts/", {"account": acme.pk, "name": "Road Runner",
                                                  "role": "champion"}, format="json")  # fmt: skip
    assert answer.status_code == 201, answer.content
    assert answer.json()["source"] == "manual"
    assert AccountSignals.objects.get(account=acme).champion_left_on is None


def test_last_activity_comes_from_the_usage_stream_and_silence_is_a_champion_leaving(acme, settings):
    settings.TEND_CHAMPION_INACTIVE_DAYS = 30
    wile = Contact.objects.create(account=acme, name="Wile", email="Wile@Acme.test", role="champion")
    source = TrackingSource.objects.create(name="web")
    seen = timezone.now() - timedelta(days=31)
    TrackedUser.objects.create(
        source=source, user_id="u1", account=acme, email="wile@acme.test", last_seen_at=seen
    )
    assert activity_from_usage([acme.pk]) == 1
    wile.refresh_from_db()
    assert wile.last_active_at == seen
    # The daily sweep finds the champion whose silence crossed the line.
    assert sweep_inactive(today=timezone.localdate()) == {"accounts": 1, "changed": 1}
    assert AccountSignals.objects.get(account=acme).champion_left_on is not None
    # They come back: the next rollup moves their activity, and the champion is current again.
    TrackedUser.objects.filter(user_id="u1").update(last_seen_at=timezone.now())
    activity_from_usage([acme.pk])
    refresh_champions([acme.pk])
    assert AccountSignals.objects.get(account=acme).champion_left_on is None


def test_product_users_become_contacts_only_when_asked(acme, settings):
    source = TrackingSource.objects.create(name="web")
    TrackedUser.objects.create(source=source, user_id="u9", account=acme, email="new@acme.test",
                               last_seen_at=timezone.now())  # fmt: skip
    settings.TEND_CONTACTS_FROM_USAGE = False
    activity_from_usage([acme.pk])
    assert not Contact.objects.filter(account=acme).exists()
    settings.TEND_CONTACTS_FROM_USAGE = True
    activity_from_usage([acme.pk])
    activity_from_usage([acme.pk])  # once, however often the rollup runs
    made = Contact.objects.get(account=acme)
    assert (made.email, made.role, made.source) == ("new@acme.test", "user", "usage")


def test_a_crm_buying_role_names_the_role():
    from csm.crm.pull import crm_role

    assert crm_role("END_USER;CHAMPION") == "champion"
    assert crm_role("BUDGET_HOLDER") == "decision_maker"
    assert crm_role("INFLUENCER") == "" and crm_role(None) == ""


def test_contacts_api_shows_only_your_accounts(api, maya, make_user, make_account, acme):
    tom = make_user("tom")
    globex = make_account(name="Globex", owner=tom)
    Contact.objects.create(account=acme, name="Wile")
    Contact.objects.create(account=globex, name="Hank")
    names = [c["name"] for c in api(maya).get("/api/v1/contacts/").json()["results"]]
    assert names == ["Wile"]
    on_theirs = api(maya).post("/api/v1/contacts/", {"account": globex.pk, "name": "X"}, format="json")
    assert on_theirs.status_code == 400
    bad_role = api(maya).post(
        "/api/v1/contacts/", {"account": acme.pk, "name": "Y", "role": "boss"}, format="json"
    )
    assert bad_role.status_code == 400 and "role" in bad_role.json()


def test_the_admin_contact_page_names_a_champion(client, maya, acme):
    contact = Contact.objects.create(account=acme, name="Wile", role="champion", archived_at=timezone.now())
    client.force_login(maya)
    url = reverse("admin:csm_contact_change", args=[contact.pk])
    assert client.get(url).status_code == 200
    refresh_champions([acme.pk])
    road = Contact.objects.create(account=acme, name="Road")
    form = {"account": acme.pk, "name": "Road", "email": "", "title": "", "role": "champion"}
    answer = client.post(reverse("admin:csm_contact_change", args=[road.pk]), form)
    assert answer.status_code == 302, answer.content.decode()[:1500]
    assert AccountSignals.objects.get(account=acme).champion_left_on is None


def test_the_brief_names_roles_activity_and_the_champion_who_left(acme):
    from csm.timeline.brief import account_brief

    now = timezone.now()
    Contact.objects.create(account=acme, name="Road", role="champion", is_primary=True, last_active_at=now)
    Contact.objects.create(account=acme, name="Wile", role="champion", archived_at=now)
    people = account_brief(acme).split("## People", 1)[1].split("##", 1)[0]
    assert f"- Road (primary, champion); last in the product {timezone.localdate(now).isoformat()}" in people
    assert "- Wile (champion) left: removed in the CRM on" in people


def test_the_alerts_see_a_champion_who_left(acme, django_capture_on_commit_callbacks):
    from csm.models import ChurnAlert

    today = timezone.localdate()
    Contact.objects.create(account=acme, name="Wile", role="champion")
    scan_health(today=today - timedelta(days=1))
    Contact.objects.filter(account=acme).update(archived_at=timezone.now())
    refresh_champions([acme.pk])
    scan_health(today=today)
    alert = ChurnAlert.objects.get(account=acme)
    assert alert.reason == "champion_left"
    assert alert.explanation.startswith("The account's champion left.")
    assert "stakeholder engagement counts as low" in alert.explanation
    # The next day, the same state raises nothing: it was news once.
    ChurnAlert.objects.all().delete()
    scan_health(today=today + timedelta(days=2))
    assert not ChurnAlert.objects.exists()

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agents_core.models import AgentRun
from csm.models import HealthScore, ScoringProfile
from csm.scoring import engine
from csm.scoring.scan import scan_health

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:csm_account_changelist")


@pytest.fixture
def book(make_user, make_account):
    maya, tom = make_user("maya"), make_user("tom")
    manager = make_user("morgan", view_all=True)
    accounts = {
        "maya": [make_account(name=f"Maya Co {i}", owner=maya) for i in range(3)],
        "tom": [make_account(name=f"Tom Co {i}", owner=tom) for i in range(2)],
    }
    return {"maya": maya, "tom": tom, "manager": manager, "accounts": accounts}


def names_in_list(response) -> set[str]:
    return {str(obj) for obj in response.context["cl"].result_list}


def test_each_csm_sees_only_their_own_accounts(client, book):
    client.force_login(book["maya"])
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert names_in_list(response) == {"Maya Co 0", "Maya Co 1", "Maya Co 2"}

    client.force_login(book["tom"])
    assert names_in_list(client.get(CHANGELIST)) == {"Tom Co 0", "Tom Co 1"}


def test_a_csm_cannot_open_another_csms_account(client, book):
    client.force_login(book["tom"])
    theirs = book["accounts"]["maya"][0]
    response = client.get(reverse("admin:csm_account_change", args=[theirs.pk]))
    # The admin answers "doesn't exist" (a redirect with a message), never the page.
    assert response.status_code == 302
    assert theirs.name not in client.get(response.url).content.decode()


def test_managers_and_superusers_see_every_account(client, book, admin_user):
    for user in (book["manager"], admin_user):
        client.force_login(user)
        assert len(names_in_list(client.get(CHANGELIST))) == 5


def test_a_csm_cannot_reassign_the_owner(client, book):
    client.force_login(book["maya"])
    account = book["accounts"]["maya"][0]
    response = client.get(reverse("admin:csm_account_change", args=[account.pk]))
    assert response.status_code == 200
    assert 'name="owner"' not in response.content.decode()
    client.force_login(book["manager"])
    response = client.get(reverse("admin:csm_account_change", args=[account.pk]))
    assert 'name="owner"' in response.content.decode()


def test_filters_search_and_sorting(client, book, make_account):
    client.force_login(book["manager"])
    soon = book["accounts"]["tom"][0]
    soon.renewal_date = timezone.localdate() + timedelta(days=20)
    soon.save()
    scan_health()
    response = client.get(CHANGELIST, {"renewal_within": "30"})
    assert names_in_list(response) == {"Tom Co 0"}
    response = client.get(CHANGELIST, {"q": '"Maya Co 1"'})
    assert names_in_list(response) == {"Maya Co 1"}
    response = client.get(CHANGELIST, {"rag__exact": "GREEN"})
    assert len(names_in_list(response)) == 5
    response = client.get(CHANGELIST, {"owner__id__exact": book["tom"].pk})
    assert names_in_list(response) == {"Tom Co 0", "Tom Co 1"}
    response = client.get(CHANGELIST, {"o": "-4"})  # by score
    assert response.status_code == 200


def test_the_owner_filter_offers_the_owners_of_visible_accounts_only(client, book, make_user):
    make_user("nobody")  # owns no account: not offered
    client.force_login(book["manager"])
    offered = {choice["display"] for choice in owner_choices(client.get(CHANGELIST))}
    assert offered == {"All", "maya", "tom", "-"}  # "-": accounts nobody owns
    client.force_login(book["maya"])
    assert {choice["display"] for choice in owner_choices(client.get(CHANGELIST))} == {"All", "maya", "-"}


def owner_choices(response) -> list[dict]:
    spec = next(s for s in response.context["cl"].filter_specs if getattr(s, "field_path", "") == "owner")
    return list(spec.choices(response.context["cl"]))


def test_the_account_page_shows_history_and_what_moved_the_score(client, book):
    account = book["accounts"]["maya"][0]
    today = timezone.localdate()
    scan_health(today=today - timedelta(days=1))
    account.signals.usage_trend = "declining"
    account.signals.nps_score = 5
    account.signals.save()
    scan_health(today=today)

    client.force_login(book["maya"])
    page = client.get(reverse("admin:csm_account_change", args=[account.pk])).content.decode()
    assert "Health history" in page
    assert page.count("<td>v2</td>") == 2  # the shipped default is version 2 (migration 0045)
    # usage_trend -12, nps_score -2: biggest first, in points
    assert page.index("usage_trend") < page.index("nps_score")
    assert "-12.00" in page and "-2.00" in page
    assert 'name="signals-0-usage_trend"' in page  # the signals inline


def test_changelist_query_count_stays_flat_as_the_book_grows(
    client, book, make_account, django_assert_max_num_queries
):
    client.force_login(book["manager"])
    scan_health()

    def count():
        with django_assert_max_num_queries(40) as ctx:
            assert client.get(CHANGELIST).status_code == 200
        return len(ctx.captured_queries)

    before = count()
    for i in range(30):
        make_account(name=f"More {i}", owner=book["tom"])
    scan_health()
    assert count() == before


def test_editing_a_profile_saves_a_new_version_and_keeps_the_old(client, admin_user, make_account):
    account = make_account()
    scan_health(today=timezone.localdate() - timedelta(days=1))
    v1 = ScoringProfile.objects.get(segment="", is_active=True)
    client.force_login(admin_user)
    url = reverse("admin:csm_scoringprofile_change", args=[v1.pk])
    form = client.get(url).context["adminform"].form
    data = {name: field.initial if field.initial is not None else "" for name, field in form.fields.items()}
    for name in ("tam_multipliers", "rules", "no_data_defaults"):
        data[name] = form[name].value()
    data.update({"green_threshold": 99, "notes": "stricter"})
    data = {k: v for k, v in data.items() if v is not None}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors

    v1.refresh_from_db()
    v2 = ScoringProfile.objects.get(segment="", is_active=True)
    assert (v1.version, v1.is_active, v1.green_threshold) == (2, False, 70)
    assert (v2.version, v2.green_threshold, v2.created_by) == (3, 99, admin_user)
    scan_health()
    assert HealthScore.objects.filter(account=account).order_by("scored_on").first().profile_version == 2
    assert HealthScore.objects.filter(account=account).order_by("scored_on").last().profile_version == 3


def test_an_unusable_profile_is_refused_with_a_clear_error(client, admin_user):
    v1 = ScoringProfile.objects.get(segment="", is_active=True)
    client.force_login(admin_user)
    url = reverse("admin:csm_scoringprofile_change", args=[v1.pk])
    form = client.get(url).context["adminform"].form
    data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
    for name in ("tam_multipliers", "rules", "no_data_defaults"):
        data[name] = form[name].value()
    data.update({"green_threshold": 30, "amber_threshold": 40, "notes": ""})
    response = client.post(url, data)
    assert response.status_code == 200
    assert "amber_threshold" in str(response.context["adminform"].form.non_field_errors())
    assert ScoringProfile.objects.count() == 2  # the shipped two versions, nothing new


def test_rescore_action_queues_a_scan_of_the_selected_accounts(
    client, book, django_capture_on_commit_callbacks
):
    client.force_login(book["maya"])
    chosen = book["accounts"]["maya"][:2]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CHANGELIST, {"action": "rescore", "_selected_action": [a.pk for a in chosen]})
    assert response.status_code == 302
    run = AgentRun.objects.get()
    assert (run.trigger, run.requested_by, run.status) == ("admin", book["maya"], "succeeded")
    assert run.payload == {"account_ids": sorted(a.pk for a in chosen)}
    assert HealthScore.objects.count() == 2


def test_agent_runs_are_read_only_and_scoped(client, book):
    AgentRun.objects.create(agent="csm", task_type="health_scan", trigger="schedule", status="succeeded")
    mine = AgentRun.objects.create(
        agent="csm", task_type="health_scan", trigger="admin", requested_by=book["maya"]
    )
    AgentRun.objects.create(agent="csm", task_type="health_scan", trigger="admin", requested_by=book["tom"])
    client.force_login(book["maya"])
    response = client.get(reverse("admin:agents_core_agentrun_changelist"))
    assert response.status_code == 200
    shown = {r.pk for r in response.context["cl"].result_list}
    assert mine.pk in shown and len(shown) == 2
    page = client.get(reverse("admin:agents_core_agentrun_change", args=[mine.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    client.force_login(book["manager"])
    assert len(client.get(reverse("admin:agents_core_agentrun_changelist")).context["cl"].result_list) == 3


def test_health_scores_admin_is_scoped_to_own_accounts(client, book):
    scan_health()
    client.force_login(book["tom"])
    response = client.get(reverse("admin:csm_healthscore_changelist"))
    owners = {s.account.owner_id for s in response.context["cl"].result_list}
    assert owners == {book["tom"].pk}
    score = HealthScore.objects.filter(account__owner=book["tom"]).first()
    page = client.get(reverse("admin:csm_healthscore_change", args=[score.pk])).content.decode()
    for group in engine.GROUPS:
        assert group in page


def test_editing_signals_in_the_admin_records_where_they_came_from(client, book):
    account = book["accounts"]["maya"][0]
    client.force_login(book["maya"])
    url = reverse("admin:csm_account_change", args=[account.pk])
    form = client.get(url).context["adminform"].form
    assert "notion_page_id" not in form.fields  # a manager's to set, read-only for the CSM
    data = {
        name: form[name].value()
        for name in (
            "name",
            "external_id",
            "segment",
            "plan",
            "status",
            "arr",
            "seats_purchased",
            "seats_used",
            "contract_start",
            "renewal_date",
            "primary_contact_email",
            "tam_health_rag",
        )
    }
    data = {k: ("" if v is None else v) for k, v in data.items()}
    inline = client.get(url).context["inline_admin_formsets"][0].formset
    for field_name in inline.forms[0].fields:
        value = inline.forms[0][field_name].value()
        data[f"signals-0-{field_name}"] = "" if value is None else value
    data.update(
        {
            "signals-TOTAL_FORMS": "1",
            "signals-INITIAL_FORMS": "1",
            "signals-MIN_NUM_FORMS": "0",
            "signals-MAX_NUM_FORMS": "1",
            "signals-0-account": account.pk,
            "signals-0-usage_trend": "declining",
            # The contacts inline, empty.
            "contacts-TOTAL_FORMS": "0",
            "contacts-INITIAL_FORMS": "0",
            # The outcome goals inline, empty.
            "goals-TOTAL_FORMS": "0",
            "goals-INITIAL_FORMS": "0",
            "goals-MIN_NUM_FORMS": "0",
            "goals-MAX_NUM_FORMS": "1000",
            # The renewal outcomes inline, empty.
            "outcomes-TOTAL_FORMS": "0",
            "outcomes-INITIAL_FORMS": "0",
            "outcomes-MIN_NUM_FORMS": "0",
            "outcomes-MAX_NUM_FORMS": "1000",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors,
        [f.errors for f in response.context["inline_admin_formsets"][0].formset.forms],
        response.context["inline_admin_formsets"][0].formset.non_form_errors(),
    )
    account.signals.refresh_from_db()
    assert account.signals.usage_trend == "declining"
    entry = account.signals.sources["usage_trend"]
    assert entry["source"] == "admin" and entry["by"] == "maya"
    assert "nps_score" not in account.signals.sources


def test_a_csm_sees_the_owner_as_a_name_not_a_link_she_may_not_open(client, book):
    account = book["accounts"]["maya"][0]
    book["maya"].first_name, book["maya"].email = "Maya", "maya@example.com"
    book["maya"].save()
    client.force_login(book["maya"])
    page = client.get(reverse("admin:csm_account_change", args=[account.pk])).content.decode()
    assert 'Maya (<a href="mailto:maya@example.com">' in page
    assert reverse("admin:auth_user_change", args=[book["maya"].pk]) not in page
    client.force_login(book["manager"])
    page = client.get(reverse("admin:csm_account_change", args=[account.pk])).content.decode()
    assert 'name="owner"' in page  # a manager can hand the account to someone else

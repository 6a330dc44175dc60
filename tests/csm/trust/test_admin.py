"""The backtest page and the what-if preview in the admin."""

import pytest
from django.urls import reverse

from csm.models import Account, ScoringProfile

pytestmark = pytest.mark.django_db


def profile_form_data(client, url, **changes):
    form = client.get(url).context["adminform"].form
    data = {name: field.initial if field.initial is not None else "" for name, field in form.fields.items()}
    for name in ("tam_multipliers", "rules", "no_data_defaults"):
        data[name] = form[name].value()
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def worked_out(client, capture, url, data=None):
    """Ask for a preview or backtest (POST, or GET for today's), let the worker run it, open its page."""
    with capture(execute=True):
        asked = client.post(url, data or {}) if data is not None else client.get(url)
    assert asked.status_code == 302, asked.content.decode()[:500]
    return client.get(asked["Location"])


def test_the_preview_changes_nothing_until_saved(
    client, admin_user, book_with_history, django_capture_on_commit_callbacks
):
    v1 = ScoringProfile.objects.get(segment="", is_active=True)
    before = {a.pk: (a.health_score, a.rag) for a in Account.objects.all()}
    client.force_login(admin_user)
    url = reverse("admin:csm_scoringprofile_change", args=[v1.pk])
    data = profile_form_data(client, url, green_threshold=95, amber_threshold=80, notes="much stricter")

    page = worked_out(client, django_capture_on_commit_callbacks, url, {**data, "_preview": "1"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Nothing is saved yet" in html and "would change RAG" in html
    effect = page.context["effect"]
    assert effect.accounts == Account.objects.scannable().count() and effect.rag_changed > 0
    assert all(c.rag_after in ("AMBER", "RED") for c in effect.changes)  # stricter: nobody gets healthier
    assert page.context["reports"]["new"].source == "the new settings re-scored"
    # Nothing moved: still one version, the same settings, the same health on every account.
    assert list(ScoringProfile.objects.values_list("version", "green_threshold")) == [(2, 70.0), (1, 70.0)]
    assert {a.pk: (a.health_score, a.rag) for a in Account.objects.all()} == before

    # The result page's Save button posts the same settings back to the profile.
    assert f'action="{url}"' in html
    saved = client.post(url, {**dict(page.context["fields"]), "_save": "Save"})
    assert saved.status_code == 302
    assert ScoringProfile.objects.get(is_active=True).green_threshold == 95


def test_an_invalid_preview_shows_the_errors_and_saves_nothing(client, admin_user):
    v1 = ScoringProfile.objects.get(segment="", is_active=True)
    client.force_login(admin_user)
    url = reverse("admin:csm_scoringprofile_change", args=[v1.pk])
    data = profile_form_data(client, url, green_threshold=30, amber_threshold=60)
    page = client.post(url, {**data, "_preview": "1"})
    assert page.status_code == 200 and "cannot score" in page.content.decode()
    assert ScoringProfile.objects.count() == 2  # the shipped two versions, nothing new


def test_the_backtest_page_draws_the_roc_and_calibration(
    client, make_user, book_with_history, django_capture_on_commit_callbacks
):
    manager = make_user("morgan", view_all=True)
    client.force_login(manager)
    start = client.get(reverse("admin:csm_scoringprofile_backtest") + "?horizon=60")
    assert start.status_code == 200 and "Run the backtest" in start.content.decode()
    page = worked_out(
        client,
        django_capture_on_commit_callbacks,
        reverse("admin:csm_scoringprofile_backtest"),
        {"horizon": 60},
    )
    html = page.content.decode()
    assert page.status_code == 200 and page.context["report"].sufficient
    assert "ROC curve, AUC" in html and "Churn rate by score band:" in html
    assert "synthetic (demo data)" in html
    v1 = ScoringProfile.objects.get(is_active=True)
    assert page.context["report"].horizon == 60
    rescored = worked_out(
        client,
        django_capture_on_commit_callbacks,
        reverse("admin:csm_scoringprofile_backtest_version", args=[v1.pk]),
        {},
    )
    assert "re-scored" in rescored.context["report"].source
    # Asked again today, the kept result opens at once: nothing is worked out twice.
    again = client.get(reverse("admin:csm_scoringprofile_backtest") + "?horizon=60")
    assert again.status_code == 302 and again["Location"].endswith(
        f"/{page.context['evaluation'].pk}/change/"
    )


def test_the_backtest_refuses_to_claim_anything_on_too_few_outcomes(
    client, make_user, django_capture_on_commit_callbacks
):
    client.force_login(make_user("morgan", view_all=True))
    url = reverse("admin:csm_scoringprofile_backtest")
    html = worked_out(client, django_capture_on_commit_callbacks, url, {}).content.decode()
    assert "Too few outcomes to judge" in html and "ROC curve" not in html


def test_a_csm_cannot_see_the_book_wide_backtest(client, make_user):
    client.force_login(make_user("maya"))
    assert client.get(reverse("admin:csm_scoringprofile_backtest")).status_code == 403
    assert client.post(reverse("admin:csm_scoringprofile_backtest")).status_code == 403


def test_a_new_segments_profile_can_be_previewed_before_it_exists(
    client, admin_user, make_account, django_capture_on_commit_callbacks
):
    make_account(segment="enterprise")
    client.force_login(admin_user)
    url = reverse("admin:csm_scoringprofile_add")
    data = profile_form_data(client, url, segment="enterprise", green_threshold=80, notes="for big customers")
    page = worked_out(client, django_capture_on_commit_callbacks, url, {**data, "_preview": "1"})
    assert page.status_code == 200 and page.context["effect"].segment == "enterprise"
    assert page.context["current"] is None  # nothing to compare with yet
    assert not ScoringProfile.objects.filter(segment="enterprise").exists()

"""The manager role: the whole book plus the scoring profiles (edit, preview, backtest), explained."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from agents_core.visibility import sees_everything
from csm.models import Account, ScoringProfile
from tests.csm.trust.test_admin import profile_form_data, worked_out

pytestmark = pytest.mark.django_db


@pytest.fixture
def morgan(make_user):
    user = make_user("morgan")
    user.groups.add(Group.objects.get(name="Manager"))
    return user


@pytest.fixture
def default_url():
    return reverse(
        "admin:csm_scoringprofile_change", args=[ScoringProfile.objects.get(segment="", is_active=True).pk]
    )


def test_a_manager_sees_everything_and_can_edit_and_preview_a_profile(
    client, morgan, default_url, django_capture_on_commit_callbacks
):
    assert sees_everything(morgan)
    client.force_login(morgan)
    page = client.get(default_url)
    html = page.content.decode()
    assert page.context["has_change_permission"] and "Preview the effect first" in html
    assert 'name="weight_feature_adoption_rate"' in html  # editable
    data = profile_form_data(client, default_url, notes="tuned by morgan")
    preview = worked_out(client, django_capture_on_commit_callbacks, default_url, {**data, "_preview": "1"})
    assert preview.status_code == 200 and "Nothing is saved yet" in preview.content.decode()
    saved = client.post(default_url, {**data, "_save": "Save"})
    assert saved.status_code == 302
    assert ScoringProfile.objects.get(segment="", is_active=True).created_by == morgan


def test_a_read_only_profile_shows_its_weights_as_values_and_shares(client, make_user, default_url):
    from django.contrib.auth.models import Permission

    reader = make_user("reader")
    reader.user_permissions.add(Permission.objects.get(codename="view_scoringprofile"))
    client.force_login(reader)
    page = client.get(default_url)
    html = page.content.decode()
    assert not page.context["has_change_permission"]
    assert "Preview the effect first" not in html
    assert "Weights as shares of the score" in html and "Feature adoption" in html
    assert ">None<" not in html
    profile = ScoringProfile.objects.get(segment="", is_active=True)
    biggest = max(profile.weights.values())
    assert f"{biggest / sum(profile.weights.values()):.0%}" in html


def test_weights_that_cannot_reach_green_are_refused_and_an_odd_total_is_said(client, morgan, default_url):
    client.force_login(morgan)
    low = profile_form_data(client, default_url, weight_feature_adoption_rate=0, weight_usage_trend=0,
                            weight_support=0, weight_nps_score=0)  # fmt: skip
    page = client.post(default_url, {**low, "_save": "Save"})
    assert page.status_code == 200 and "so no account could reach GREEN" in page.content.decode()
    near = profile_form_data(client, default_url, weight_nps_score=0)
    saved = client.post(default_url, {**near, "_save": "Save"}, follow=True)
    assert "not 100: no account can score above it." in saved.content.decode()


def test_the_backtest_explains_what_it_measured(client, morgan, django_capture_on_commit_callbacks):
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from csm.demo.history import lay_down_history
    from csm.scoring.scan import scan_health

    today = timezone.localdate()
    accounts = [
        Account.objects.create(
            name=f"A{i}", external_id=f"A{i}", arr=Decimal(1000 * (i + 1)), seats_purchased=10, seats_used=8,
            renewal_date=today + timedelta(days=20 + i),
        )
        for i in range(40)
    ]  # fmt: skip
    lay_down_history(accounts, days=460, today=today, seed=3)
    scan_health(today=today)
    client.force_login(morgan)
    url = reverse("admin:csm_scoringprofile_backtest")
    page = worked_out(client, django_capture_on_commit_callbacks, url, {"horizon": 90}).content.decode()
    assert "The stored scores: what Tend said at the time" in page
    assert "outside the churn window" in page

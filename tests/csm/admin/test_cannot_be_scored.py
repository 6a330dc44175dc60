"""An account the scan cannot score says so (page, list, My book today), and Re-score now says how it went."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from csm.models import Account

pytestmark = pytest.mark.django_db


@pytest.fixture
def maya(make_user):
    return make_user("maya")


@pytest.fixture
def broken(make_account, maya):
    """Seats the scan refuses, written past the edge's checks (an old row, a raw SQL fix)."""
    account = make_account(name="Overbooked", owner=maya)
    Account.objects.filter(pk=account.pk).update(
        seats_purchased=50, seats_used=5000, created_at=timezone.now() - timedelta(hours=1)
    )
    return account


def _rescore(client, account):
    page = reverse("admin:csm_account_change", args=[account.pk])
    response = client.post(reverse("admin:csm_account_do", args=[account.pk, "rescan"]), {"next": page})
    return response, [str(m) for m in get_messages(response.wsgi_request)]


def test_re_score_now_reports_the_new_score(client, maya, make_account):
    account = make_account(owner=maya)
    client.force_login(maya)
    response, said = _rescore(client, account)
    assert response.status_code == 302
    account.refresh_from_db()
    assert said == [
        f"Scored {account}: {account.health_score:.1f} ({account.rag}), churn risk {account.churn_risk}."
    ]


def test_re_score_now_says_why_an_account_cannot_be_scored(client, maya, broken):
    client.force_login(maya)
    _response, said = _rescore(client, broken)
    assert len(said) == 1 and said[0].startswith("Could not score")
    assert "5000 seats used of 50 purchased" in said[0]


def test_the_account_page_shows_the_reason_instead_of_not_scored_yet(client, maya, broken):
    client.force_login(maya)
    page = client.get(reverse("admin:csm_account_change", args=[broken.pk])).content.decode()
    assert "Cannot be scored:" in page and "5000 seats used of 50 purchased" in page


def test_my_book_today_lists_it_with_the_reason_and_the_list_filter_finds_it(
    client, maya, broken, make_account
):
    make_account(owner=maya)  # just added: scored within seconds, not a problem yet
    client.force_login(maya)
    index = client.get("/admin/")
    entry = next(e for e in index.context["book"].attention if e.account.pk == broken.pk)
    assert any(r.startswith("Cannot be scored: 5000 seats used") for r in entry.reasons)
    assert index.context["book"].counts["not_scored"] == 1
    listed = client.get(reverse("admin:csm_account_changelist") + "?book=current&health=unscored")
    assert [a.pk for a in listed.context["cl"].queryset] == [broken.pk]

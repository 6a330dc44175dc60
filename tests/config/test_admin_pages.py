"""Every admin page: a flat query count as the book grows, and no data for those who may not see it."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db import connection
from django.test.client import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents_core.schedules import ensure_schedules
from tests.book import add_accounts

pytestmark = pytest.mark.django_db

SMALL, LARGE = 10, 1000


def admin_pages(user) -> dict[str, str]:
    """The index, every changelist and, where the user can see one, a change page, plus the extra views."""
    request = RequestFactory().get("/admin/")
    request.user = user
    pages = {"index": reverse("admin:index")}
    for model, model_admin in admin.site._registry.items():
        info = model._meta.app_label, model._meta.model_name
        label = "{}.{}".format(*info)
        if not model_admin.has_view_or_change_permission(request):
            continue
        pages[f"{label} list"] = reverse("admin:{}_{}_changelist".format(*info))
        obj = model_admin.get_queryset(request).order_by("pk").first()
        if obj is not None:
            pages[f"{label} change"] = reverse("admin:{}_{}_change".format(*info), args=[quote(obj.pk)])
    qbr = admin.site._registry[__import__("csm.models", fromlist=["QBR"]).QBR]
    first_qbr = qbr.get_queryset(request).order_by("pk").first()
    if first_qbr is not None:
        pages["qbr markdown"] = reverse("admin:csm_qbr_markdown", args=[first_qbr.pk])
    return pages


def query_counts(client, pages: dict[str, str]) -> dict[str, int]:
    counts = {}
    for name, url in pages.items():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, f"{name} ({url}) answered {response.status_code}"
        counts[name] = len(queries)
    return counts


@pytest.mark.parametrize("who", ["csm", "manager", "superuser"])
def test_every_admin_page_keeps_its_query_count_from_10_to_1000_accounts(
    who, client, make_user, django_user_model
):
    ensure_schedules()
    maya = make_user("maya", email="maya@example.com")
    tom = make_user("tom")
    users = {
        "csm": maya,
        "manager": make_user("morgan", view_all=True),
        "superuser": django_user_model.objects.create_superuser("root", "root@example.com", "pw-123-secret"),
    }
    user = users[who]
    client.force_login(user)
    add_accounts(maya, SMALL, prefix="Maya")
    add_accounts(tom, SMALL, prefix="Tom")
    pages = admin_pages(user)
    assert "csm.account change" in pages and "sales.outreachdraft change" in pages
    query_counts(client, pages)  # warms the caches (content types, sessions) out of the measure
    small = query_counts(client, pages)

    add_accounts(maya, LARGE - SMALL, prefix="Maya more")
    add_accounts(tom, LARGE - SMALL, prefix="Tom more")
    large = query_counts(client, pages)

    grew = {name: (small[name], large[name]) for name in pages if large[name] != small[name]}
    assert not grew, f"query count changed with the book's size (10 -> 1000 accounts): {grew}"


def test_the_csms_pages_show_only_their_own_book(client, make_user):
    maya, tom = make_user("maya"), make_user("tom")
    add_accounts(maya, 3, prefix="Maya")
    toms = add_accounts(tom, 3, prefix="Tom")
    client.force_login(maya)
    for name, url in admin_pages(maya).items():
        if "django_q" in name or "auth." in name:
            continue
        body = client.get(url).content.decode()
        assert "Tom 0000" not in body, f"{name} shows another CSM's account"
    # And another CSM's objects are not reachable by address.
    for url in (
        reverse("admin:csm_account_change", args=[toms[0].pk]),
        reverse("admin:csm_churnalert_change", args=[toms[0].alerts.get().pk]),
        reverse("admin:sales_outreachdraft_change", args=[toms[0].opportunities.get().draft.pk]),
    ):
        response = client.get(url, follow=True)
        assert "Tom 0000" not in response.content.decode()
        assert response.redirect_chain and response.redirect_chain[-1][0] == reverse("admin:index")
    markdown = reverse("admin:csm_qbr_markdown", args=[toms[0].qbrs.get().pk])
    assert client.get(markdown).status_code == 403


def every_admin_url(objects) -> list[str]:
    urls = [reverse("admin:index"), reverse("admin:csm_account_import")]
    for model in admin.site._registry:
        info = model._meta.app_label, model._meta.model_name
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
        obj = objects.get(model)
        if obj is not None:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[quote(obj.pk)]))
    urls.append(reverse("admin:csm_qbr_markdown", args=[objects["qbr"].pk]))
    return urls


@pytest.fixture
def one_of_everything(make_user):
    from csm.models import QBR, Account, AlertDelivery, ChurnAlert, ExpansionOpportunity, HealthScore, QBRDue
    from sales.models import OutreachDraft

    owner = make_user("maya")
    (account,) = add_accounts(owner, 1, prefix="Secret")
    opportunity = account.opportunities.get()
    return {
        Account: account,
        ChurnAlert: account.alerts.get(),
        AlertDelivery: AlertDelivery.objects.filter(alert__account=account).first(),
        ExpansionOpportunity: opportunity,
        OutreachDraft: opportunity.draft,
        HealthScore: account.health_scores.first(),
        QBR: account.qbrs.get(),
        QBRDue: account.qbrs_due.get(),
        "qbr": account.qbrs.get(),
    }


def test_anonymous_users_get_the_login_page_from_every_admin_page(client, one_of_everything):
    for url in every_admin_url(one_of_everything):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
        assert b"Secret" not in response.content


def test_staff_without_permissions_see_no_data(client, django_user_model, one_of_everything):
    nobody = django_user_model.objects.create_user("nobody", password="pw-123-secret", is_staff=True)
    client.force_login(nobody)
    for url in every_admin_url(one_of_everything):
        response = client.get(url)
        assert b"Secret" not in response.content, url
        if url != reverse("admin:index"):
            assert response.status_code in (403, 302), f"{url} answered {response.status_code}"
    index = client.get(reverse("admin:index")).content.decode()
    assert "Needs your attention first" not in index
    # The one-click actions refuse them too.
    alert = one_of_everything["qbr"].account.alerts.get()
    response = client.post(reverse("admin:csm_churnalert_do", args=[alert.pk, "acknowledge"]))
    assert response.status_code in (403, 404)
    alert.refresh_from_db()
    assert alert.acknowledged_at is None

"""Every figure on My book today equals the list it opens, for a CSM and for a manager.

The book holds what makes figures drift apart: a churned account (with its
alert, draft and QBR due), an active account whose renewal date has passed,
a renewed one, a QBR due months away, and another CSM's accounts.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from csm.models import Account, QBRDue, Task
from csm.playbooks.tasks import create_task
from tests.book import add_accounts

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(make_user):
    maya, tom = make_user("maya"), make_user("tom")
    manager = make_user("morgan", view_all=True)
    mayas = add_accounts(maya, 6, prefix="Maya")
    toms = add_accounts(tom, 3, prefix="Tom")
    today = timezone.localdate()
    Account.objects.filter(pk=mayas[0].pk).update(status=Account.Status.CHURNED)
    Account.objects.filter(pk=mayas[1].pk).update(renewal_date=today - timedelta(days=20))  # overdue
    Account.objects.filter(pk=mayas[2].pk).update(status=Account.Status.RENEWED)
    Account.objects.filter(pk=mayas[3].pk).update(rag="GREEN", churn_risk="low", arr=Decimal("99000"))
    QBRDue.objects.create(
        account=mayas[4], contract_end=today + timedelta(days=300), due_on=today + timedelta(days=200)
    )
    # Tasks due: today and late count; later, done, and another person's do not.
    for owner, account, days, status in [
        (maya, mayas[3], 0, "open"), (maya, mayas[4], -3, "open"), (maya, mayas[4], 5, "open"),
        (maya, mayas[5], -1, "done"), (tom, toms[0], -1, "open"), (manager, toms[1], -2, "open"),
    ]:  # fmt: skip
        task = create_task(
            account=account, owner=owner, title="Follow up", due_on=today + timedelta(days=days)
        )
        Task.objects.filter(pk=task.pk).update(status=status)
    return {"maya": maya, "manager": manager}


def _figures(page) -> dict[str, object]:
    tiles = {tile["key"]: tile for tile in page.context["tiles"]}
    return {
        "accounts": (page.context["book"].totals["accounts"], page.context["links"]["accounts"]),
        **{key: (tile["figure"], tile["url"]) for key, tile in tiles.items()},
    }


@pytest.mark.parametrize("who", ["maya", "manager"])
def test_each_tile_counts_exactly_the_rows_of_the_list_it_opens(client, book, who):
    client.force_login(book[who])
    page = client.get("/admin/")
    figures = _figures(page)
    assert set(figures) == {
        "accounts", "red", "open_alerts", "renewals", "overdue_renewals", "drafts", "qbrs_due", "arr_at_risk",
        "tasks_due",
    }  # fmt: skip
    assert figures["tasks_due"][0] == (2 if who == "maya" else 1)
    assert figures["overdue_renewals"][0] == 1  # the one whose renewal date passed
    for key, (figure, url) in figures.items():
        listed = client.get(url)
        assert listed.status_code == 200, (key, url)
        rows = listed.context["cl"].queryset
        if key == "arr_at_risk":
            assert rows.aggregate(arr=Sum("arr"))["arr"] == figure, (key, url)
        else:
            assert rows.count() == figure, (key, url, figure)
        assert figure, f"the book is built so that {key} is not zero"


def test_the_attention_list_says_a_renewal_date_passed(client, book):
    client.force_login(book["maya"])
    page = client.get("/admin/").content.decode()
    assert "Renewal date passed on" in page and "renewed or lost?" in page


def test_amounts_are_in_the_books_currency(client, book, settings):
    settings.TEND_CURRENCY = "EUR"
    client.force_login(book["maya"])
    page = client.get("/admin/").content.decode()
    assert "€99,000" in page and "$" not in page.split('id="book-today"')[1].split("</section>")[0]
    listed = client.get("/admin/csm/account/?book=current").content.decode()
    assert "€99,000" in listed and "99000.00" not in listed

"""Tasks in the admin and on My book today: a CSM's own first, Done in one click, Skip with a reason,
comments kept as said, the team's open and overdue tasks per CSM for a manager."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from csm.models import Task, TaskComment
from csm.playbooks.tasks import create_task

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:csm_task_changelist")


def _task(account, owner, *, days=0, title="Call the champion"):
    return create_task(
        account=account, owner=owner, title=title, due_on=timezone.localdate() + timedelta(days=days)
    )


def test_a_csm_adds_a_task_for_themselves_only(client, api_book):
    maya = api_book["maya"]
    client.force_login(maya)
    form = client.get(reverse("admin:csm_task_add")).content.decode()
    assert f'value="{maya.pk}"' in form and f'value="{api_book["tom"].pk}"' not in form
    due = (timezone.localdate() + timedelta(days=2)).isoformat()
    data = {"account": api_book["maya_accounts"][0].pk, "owner": maya.pk, "title": "Send the deck",
            "due_on": due, "priority": "high", "notes": "", **_no_comments()}  # fmt: skip
    response = client.post(reverse("admin:csm_task_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    task = Task.objects.get()
    assert (task.owner, task.created_by, task.priority, task.status) == (maya, maya, "high", "open")
    # Someone else's account is not offered (the autocomplete reads the visible accounts) nor taken.
    data["account"] = api_book["tom_accounts"][0].pk
    refused = client.post(reverse("admin:csm_task_add"), data)
    assert refused.status_code == 200 and Task.objects.count() == 1


def _no_comments(total=0):
    return {"comments-TOTAL_FORMS": str(total), "comments-INITIAL_FORMS": "0", "comments-MIN_NUM_FORMS": "0",
            "comments-MAX_NUM_FORMS": "1000"}  # fmt: skip


def test_my_open_tasks_are_the_default_list_and_done_is_one_click(client, api_book):
    maya = api_book["maya"]
    mine = _task(api_book["maya_accounts"][0], maya, days=-1, title="Late one")
    _task(api_book["tom_accounts"][0], api_book["tom"], title="Toms")
    client.force_login(maya)
    page = client.get(CHANGELIST).content.decode()
    assert "Late one" in page and "Toms" not in page and "(overdue)" in page
    client.post(reverse("admin:csm_task_do", args=[mine.pk, "done"]))
    mine.refresh_from_db()
    assert mine.status == "done" and mine.closed_by == maya
    # Another CSM's task cannot be closed by URL.
    theirs = Task.objects.get(title="Toms")
    assert client.post(reverse("admin:csm_task_do", args=[theirs.pk, "done"])).status_code == 404


def test_skip_needs_the_reason_written_on_the_task(client, api_book):
    maya = api_book["maya"]
    task = _task(api_book["maya_accounts"][0], maya)
    client.force_login(maya)
    client.post(reverse("admin:csm_task_do", args=[task.pk, "skip"]))  # from the list: no reason
    task.refresh_from_db()
    assert task.status == "open"
    client.post(reverse("admin:csm_task_do", args=[task.pk, "skip"]), {"skip_reason": "Customer on leave"})
    task.refresh_from_db()
    assert (task.status, task.skip_reason) == ("skipped", "Customer on leave")
    client.post(reverse("admin:csm_task_do", args=[task.pk, "reopen"]))
    task.refresh_from_db()
    assert (task.status, task.skip_reason, task.closed_at) == ("open", "", None)


def test_a_comment_is_signed_by_its_author(client, api_book):
    maya = api_book["maya"]
    task = _task(api_book["maya_accounts"][0], maya)
    client.force_login(maya)
    data = {"account": task.account_id, "owner": maya.pk, "title": task.title,
            "due_on": task.due_on.isoformat(), "priority": "normal", "notes": "", "skip_reason": "",
            **_no_comments(1),
            "comments-0-body": "Left a voicemail"}  # fmt: skip
    response = client.post(reverse("admin:csm_task_change", args=[task.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    comment = TaskComment.objects.get()
    assert (comment.task, comment.author, comment.body) == (task, maya, "Left a voicemail")


def test_my_book_today_lists_my_tasks_due_first_and_the_team_view_counts_them(client, api_book):
    maya, manager = api_book["maya"], api_book["manager"]
    _task(api_book["maya_accounts"][0], maya, days=-2, title="Overdue call")
    _task(api_book["maya_accounts"][1], maya, title="Call today")
    _task(api_book["maya_accounts"][1], maya, days=4, title="Next week")
    client.force_login(maya)
    page = client.get("/admin/").content.decode()
    tasks = page.split('id="tasks-title"')[1].split("</section>")[0]
    assert tasks.index("Overdue call") < tasks.index("Call today") and "Next week" not in tasks
    assert page.index('id="tasks-title"') < page.index('id="attention-title"')
    assert 'data-action="done"' in tasks

    client.force_login(manager)
    team = client.get("/admin/").context["book"].team
    row = next(r for r in team if r["owner_id"] == maya.pk)
    assert (row["open_tasks"], row["overdue_tasks"]) == (3, 1)


def test_the_task_list_stays_flat_in_queries(client, api_book, django_assert_max_num_queries):
    manager = api_book["manager"]
    client.force_login(manager)
    for account in api_book["maya_accounts"]:
        _task(account, api_book["maya"])

    def count():
        with django_assert_max_num_queries(30) as ctx:
            assert client.get(CHANGELIST + "?status__exact=open").status_code == 200
        return len(ctx.captured_queries)

    before = count()
    for account in api_book["tom_accounts"] * 10:
        _task(account, api_book["tom"])
    assert count() == before

"""Tasks through the API: each CSM sees the tasks of their own accounts; a CSM gives tasks to
themselves, a manager to anyone who can see the account; done, skip (with a reason), reopen,
comment; filters for mine, overdue and due."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from csm.models import Task
from csm.playbooks.tasks import create_task

pytestmark = pytest.mark.django_db


def _task(account, owner, *, days=0, **extra):
    return create_task(account=account, owner=owner, title="Call the champion",
                       due_on=timezone.localdate() + timedelta(days=days), **extra)  # fmt: skip


def test_each_csm_sees_only_the_tasks_on_their_own_accounts(api, api_book):
    maya, tom = api_book["maya"], api_book["tom"]
    mine = _task(api_book["maya_accounts"][0], maya)
    theirs = _task(api_book["tom_accounts"][0], tom)

    listed = api(maya).get("/api/v1/tasks/").json()["results"]
    assert [t["id"] for t in listed] == [mine.pk]
    assert api(maya).get(f"/api/v1/tasks/{theirs.pk}/").status_code == 404
    assert api(maya).post(f"/api/v1/tasks/{theirs.pk}/done/").status_code == 404
    manager_sees = {t["id"] for t in api(api_book["manager"]).get("/api/v1/tasks/").json()["results"]}
    assert manager_sees == {mine.pk, theirs.pk}


def test_a_csm_gives_tasks_to_themselves_and_a_manager_to_anyone_who_sees_the_account(api, api_book):
    maya, tom, manager = api_book["maya"], api_book["tom"], api_book["manager"]
    account = api_book["maya_accounts"][0]
    due = (timezone.localdate() + timedelta(days=3)).isoformat()

    made = api(maya).post("/api/v1/tasks/", {"account": account.pk, "title": "Send the deck", "due_on": due},
                          format="json")  # fmt: skip
    assert made.status_code == 201, made.content
    assert made.json()["owner"] == "maya" and made.json()["created_by"] == "maya"
    assert made.json()["status"] == "open" and made.json()["origin"] == "manual"

    to_tom = api(maya).post("/api/v1/tasks/", {"account": account.pk, "title": "x", "due_on": due,
                                               "owner": "tom"}, format="json")  # fmt: skip
    assert to_tom.status_code == 400 and "cannot see" in to_tom.json()["owner"][0]
    on_toms = api(maya).post("/api/v1/tasks/", {"account": api_book["tom_accounts"][0].pk, "title": "x",
                                                "due_on": due}, format="json")  # fmt: skip
    assert on_toms.status_code == 400 and "account" in on_toms.json()

    to_maya = {"account": account.pk, "title": "Escalate", "due_on": due, "owner": "maya"}
    by_manager = api(manager).post("/api/v1/tasks/", to_maya, format="json")
    assert by_manager.status_code == 201 and by_manager.json()["owner"] == "maya"
    # Reassigning to someone who cannot see the account is refused, and nothing changes.
    moved = api(manager).patch(f"/api/v1/tasks/{by_manager.json()['id']}/", {"owner": "tom", "title": "New"},
                               format="json")  # fmt: skip
    assert moved.status_code == 400
    assert Task.objects.get(pk=by_manager.json()["id"]).title == "Escalate"
    assert api(maya).post("/api/v1/tasks/", {"account": account.pk, "title": "", "due_on": due},
                          format="json").status_code == 400  # fmt: skip
    assert api(maya).post("/api/v1/tasks/", {"account": account.pk, "title": "x", "due_on": "someday",
                                             "colour": "red"}, format="json").status_code == 400  # fmt: skip
    assert tom.tasks.count() == 0


def test_done_skip_reopen_and_comments(api, api_book):
    maya = api_book["maya"]
    task = _task(api_book["maya_accounts"][0], maya)
    client = api(maya)

    skipped = client.post(f"/api/v1/tasks/{task.pk}/skip/", {}, format="json")
    assert skipped.status_code == 400 and "reason" in skipped.json()
    skipped = client.post(f"/api/v1/tasks/{task.pk}/skip/", {"reason": "They renewed early"}, format="json")
    assert skipped.json()["status"] == "skipped" and skipped.json()["skip_reason"] == "They renewed early"
    assert client.post(f"/api/v1/tasks/{task.pk}/done/").status_code == 400  # reopen first
    assert client.post(f"/api/v1/tasks/{task.pk}/reopen/").json()["status"] == "open"
    done = client.post(f"/api/v1/tasks/{task.pk}/done/").json()
    assert done["status"] == "done" and done["closed_by"] == "maya" and done["closed_at"]
    assert client.post(f"/api/v1/tasks/{task.pk}/done/").json()["closed_at"] == done["closed_at"]  # once

    said = client.post(f"/api/v1/tasks/{task.pk}/comments/", {"body": "Left a voicemail"}, format="json")
    assert said.status_code == 201 and said.json()["author"] == "maya"
    assert client.post(f"/api/v1/tasks/{task.pk}/comments/", {"body": " "}, format="json").status_code == 400
    assert [c["body"] for c in client.get(f"/api/v1/tasks/{task.pk}/").json()["comments"]] == [
        "Left a voicemail"
    ]


def test_filters_for_mine_overdue_and_due(api, api_book):
    maya, manager = api_book["maya"], api_book["manager"]
    account = api_book["maya_accounts"][0]
    late = _task(account, maya, days=-2)
    today = _task(account, maya)
    later = _task(account, maya, days=10)
    managers = _task(account, manager, days=-1)

    def ids(client, query):
        return {t["id"] for t in client.get(f"/api/v1/tasks/?{query}").json()["results"]}

    assert ids(api(maya), "overdue=true") == {late.pk, managers.pk}
    assert ids(api(maya), f"due_before={timezone.localdate().isoformat()}") == {
        late.pk,
        today.pk,
        managers.pk,
    }
    assert ids(api(manager), "mine=true") == {managers.pk}
    assert ids(api(maya), "owner=maya&overdue=false") == {today.pk, later.pk}
    assert api(maya).get("/api/v1/tasks/?due_before=yesterday").status_code == 400


def test_the_same_cause_makes_one_task(api_book):
    account, maya = api_book["maya_accounts"][0], api_book["maya"]
    first = _task(account, maya, origin=Task.Origin.ALERT, origin_key="alert:7")
    again = _task(account, maya, origin=Task.Origin.ALERT, origin_key="alert:7")
    assert first.pk == again.pk and Task.objects.count() == 1

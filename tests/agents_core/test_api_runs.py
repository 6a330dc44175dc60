from __future__ import annotations

import pytest

from agents_core.models import AgentRun
from csm.models import HealthScore

pytestmark = pytest.mark.django_db


def test_agents_lists_the_registry(api, api_book):
    body = api(api_book["maya"]).get("/api/v1/agents/").json()
    csm = next(a for a in body["results"] if a["id"] == "csm")
    assert csm["name"] == "Customer Success agent"
    assert "health_scan" in {t["name"] for t in csm["task_types"]}


def test_post_enqueues_through_the_entry_point_and_answers_202(
    api, api_book, django_capture_on_commit_callbacks
):
    mine = [a.pk for a in api_book["maya_accounts"][:2]]
    with django_capture_on_commit_callbacks(execute=True):
        response = api(api_book["maya"]).post(
            "/api/v1/agents/csm/runs/",
            {"task_type": "health_scan", "payload": {"account_ids": mine}},
            format="json",
        )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["agent"], body["task_type"], body["trigger"]) == ("csm", "health_scan", "api")
    run = AgentRun.objects.get(pk=body["id"])
    assert run.requested_by == api_book["maya"] and run.status == "succeeded"
    assert set(HealthScore.objects.values_list("account_id", flat=True)) == set(mine)

    detail = api(api_book["maya"]).get(f"/api/v1/runs/{run.pk}/").json()
    assert detail["status"] == "succeeded" and detail["result"]["scored"] == 2 and detail["error"] == ""


def test_a_csms_whole_book_run_covers_only_their_accounts(api, api_book, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(api_book["tom"]).post(
            "/api/v1/agents/csm/runs/", {"task_type": "health_scan"}, format="json"
        )
    assert response.status_code == 202
    assert response.json()["payload"] == {"account_ids": sorted(a.pk for a in api_book["tom_accounts"])}
    assert HealthScore.objects.count() == 2


def test_unknown_agent_is_404_and_unknown_task_type_400(api, api_book):
    client = api(api_book["manager"])
    assert client.post("/api/v1/agents/nobody/runs/", {"task_type": "x"}, format="json").status_code == 404
    assert client.get("/api/v1/agents/nobody/runs/").status_code == 404
    response = client.post("/api/v1/agents/csm/runs/", {"task_type": "fly"}, format="json")
    assert response.status_code == 400 and "task_type" in response.json()
    response = client.post(
        "/api/v1/agents/csm/runs/", {"task_type": "health_scan", "payload": {"x": 1}}, format="json"
    )
    assert response.status_code == 400 and "payload" in response.json()
    response = client.post(
        "/api/v1/agents/csm/runs/", {"task_type": "health_scan", "extra": 1}, format="json"
    )
    assert response.status_code == 400 and "extra" in response.json()
    assert not AgentRun.objects.exists()


def test_account_ids_the_caller_cannot_see_are_404(api, api_book):
    theirs = api_book["tom_accounts"][0].pk
    response = api(api_book["maya"]).post(
        "/api/v1/agents/csm/runs/",
        {"task_type": "health_scan", "payload": {"account_ids": [api_book["maya_accounts"][0].pk, theirs]}},
        format="json",
    )
    assert response.status_code == 404 and str(theirs) in response.json()["detail"]
    assert not AgentRun.objects.exists()


def test_runs_are_visible_to_who_started_them_and_to_managers(api, api_book):
    mine = AgentRun.objects.create(
        agent="csm", task_type="health_scan", trigger="api", requested_by=api_book["maya"]
    )
    toms = AgentRun.objects.create(
        agent="csm", task_type="health_scan", trigger="api", requested_by=api_book["tom"]
    )
    scheduled = AgentRun.objects.create(agent="csm", task_type="health_scan", trigger="schedule")
    maya = api(api_book["maya"])
    listed = {r["id"] for r in maya.get("/api/v1/agents/csm/runs/").json()["results"]}
    assert listed == {mine.pk, scheduled.pk}
    assert maya.get(f"/api/v1/runs/{toms.pk}/").status_code == 404
    assert api(api_book["manager"]).get(f"/api/v1/runs/{toms.pk}/").status_code == 200
    filtered = maya.get("/api/v1/agents/csm/runs/", {"status": "queued", "trigger": "schedule"}).json()
    assert [r["id"] for r in filtered["results"]] == [scheduled.pk]

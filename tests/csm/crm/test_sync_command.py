"""`manage.py sync_crm` and the schedules run the sync through the one entry point; a dry run reads
and reports and writes nothing; a bad payload is refused before anything runs."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from agents_core.agents import InvalidPayload, registry
from agents_core.models import AgentRun
from csm.models import Account, CrmSyncRun

pytestmark = pytest.mark.django_db


def test_the_command_pulls_then_pushes_through_the_entry_point(hubspot):
    hubspot.add(name="Acme")
    out = io.StringIO()
    call_command("sync_crm", "hubspot", stdout=out)
    assert "csm.sync_crm succeeded" in out.getvalue()
    run = AgentRun.objects.get(task_type="sync_crm")
    assert run.trigger == "command" and run.payload["system"] == "hubspot"
    assert Account.objects.filter(name="Acme").exists()
    assert set(CrmSyncRun.objects.values_list("kind", flat=True)) == {"pull", "push"}
    assert all(r.agent_run_id == run.pk for r in CrmSyncRun.objects.all())


def test_a_dry_run_writes_nothing(hubspot):
    hubspot.add(name="Acme")
    out = io.StringIO()
    call_command("sync_crm", "hubspot", "--dry-run", "--full", stdout=out)
    assert not Account.objects.exists() and '"created": 1' in out.getvalue()
    assert CrmSyncRun.objects.filter(dry_run=True).count() == 2


def test_pull_only_and_push_only(hubspot):
    call_command("sync_crm", "hubspot", "--pull-only", stdout=io.StringIO())
    assert list(CrmSyncRun.objects.values_list("kind", flat=True)) == ["pull"]
    with pytest.raises(CommandError):
        call_command("sync_crm", "hubspot", "--push-only", "--full", stdout=io.StringIO())


def test_not_configured_is_skipped_with_the_reason(settings):
    settings.HUBSPOT_ACCESS_TOKEN = ""
    out = io.StringIO()
    call_command("sync_crm", "hubspot", stdout=out)
    assert "HUBSPOT_ACCESS_TOKEN" in out.getvalue() and not CrmSyncRun.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [{"system": "pipedrive"}, {"pull": "yes"}, {"pull": False, "push": False}, {"full": True, "pull": False},
     {"since": "2026-01-01"}],
)  # fmt: skip
def test_a_bad_payload_is_refused(payload):
    with pytest.raises(InvalidPayload):
        registry.get("csm").clean_payload("sync_crm", payload)


def test_the_schedules_pull_every_15_minutes_and_reconcile_weekly():
    schedules = {s.name: s for s in registry.get("csm").schedules}
    assert (schedules["csm.crm_pull"].cron, schedules["csm.crm_pull"].payload) == (
        "*/15 * * * *",
        {"push": False},
    )
    assert schedules["csm.crm_reconcile"].payload == {"full": True}


def test_the_scan_pushes_health_after_it_when_a_crm_is_configured(hubspot, make_account):
    make_account()
    from agents_core.dispatch import enqueue

    scan = enqueue("csm", "health_scan", {}, trigger=AgentRun.Trigger.ADMIN, sync=True)
    scan.refresh_from_db()
    follow = AgentRun.objects.get(pk=scan.result["followed_by"]["sync_crm"])
    assert follow.payload == {"pull": False, "push": True, "full": False, "dry_run": False}

"""A CRM sync run: pull (incremental from the cursor, or a full reconcile), then push what changed,
each with its report (CrmSyncRun) in the admin. A CRM that fails or runs out of allowance stops its
own run, recorded as failed with the reason; the cursor keeps what was done, so the next run
resumes there."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.utils import timezone

from agents_core.integrations.crm import CrmError
from agents_core.integrations.hubspot import hubspot_configured, hubspot_gateway
from agents_core.integrations.salesforce import salesforce_configured, salesforce_gateway
from csm.crm.models import CrmSyncRun, CrmSystem
from csm.crm.pull import pull_accounts, pull_contacts, pull_engagements
from csm.crm.push import push_health
from csm.crm.report import SyncReport

CONNECTORS: dict[str, Callable[[], Any]] = {
    CrmSystem.HUBSPOT: hubspot_gateway,
    CrmSystem.SALESFORCE: salesforce_gateway,
}
NOT_CONFIGURED = {
    CrmSystem.HUBSPOT: "HubSpot is not configured: set HUBSPOT_ACCESS_TOKEN.",
    CrmSystem.SALESFORCE: "Salesforce is not configured: set SALESFORCE_INSTANCE_URL and "
    "SALESFORCE_ACCESS_TOKEN, or the JWT settings (SALESFORCE_USERNAME, SALESFORCE_CONSUMER_KEY, "
    "SALESFORCE_PRIVATE_KEY).",
}


CONFIGURED: dict[str, Callable[[], bool]] = {
    CrmSystem.HUBSPOT: hubspot_configured,
    CrmSystem.SALESFORCE: salesforce_configured,
}


def configured() -> list[str]:
    """The CRMs whose settings are set (nothing is called: a scan asks this every day)."""
    return [system for system, is_set in CONFIGURED.items() if is_set()]


def sync_crm(
    system: str,
    *,
    pull: bool = True,
    push: bool = True,
    full: bool = False,
    dry_run: bool = False,
    agent_run=None,
    connector: Any = None,
) -> dict[str, Any]:
    if connector is None and system in CONNECTORS:
        try:
            connector = CONNECTORS[system]()
        except CrmError as exc:  # a login refused (the JWT flow): a failed run with the reason
            run = _run(system, CrmSyncRun.Kind.PULL if pull else CrmSyncRun.Kind.PUSH, dry_run, agent_run)
            run.status, run.error, run.finished_at = CrmSyncRun.Status.FAILED, str(exc)[:2000], timezone.now()
            run.save(update_fields=["status", "error", "finished_at"])
            return {"system": system, "error": run.error, "run": run.pk}
    if connector is None:
        return {"skipped": True, "reason": NOT_CONFIGURED.get(system, f"unknown CRM {system!r}")}
    result: dict[str, Any] = {"system": system}
    if pull:
        kind = CrmSyncRun.Kind.RECONCILE if full else CrmSyncRun.Kind.PULL
        report = SyncReport()
        run = _run(system, kind, dry_run, agent_run)
        result["pull"] = _finish(run, connector, report, lambda: (
            pull_accounts(connector, run=run, report=report, full=full, now=run.started_at, dry_run=dry_run),
            pull_contacts(connector, report=report, now=run.started_at, dry_run=dry_run, full=full),
            pull_engagements(connector, report=report, now=run.started_at, dry_run=dry_run, full=full),
        ))  # fmt: skip
        result["rescored"] = len(report.changed_accounts)
        if run.status == CrmSyncRun.Status.FAILED:
            return result  # push on a half-read book waits for the next run
    if push:
        report = SyncReport()
        run = _run(system, CrmSyncRun.Kind.PUSH, dry_run, agent_run)
        result["push"] = _finish(
            run, connector, report,
            lambda: push_health(connector, report=report, now=run.started_at, dry_run=dry_run, run=run),
        )  # fmt: skip
    return result


STALE_AFTER = timedelta(hours=2)


def _run(system: str, kind: str, dry_run: bool, agent_run) -> CrmSyncRun:
    now = timezone.now()
    run = CrmSyncRun.objects.create(
        system=system, kind=kind, dry_run=dry_run, started_at=now, agent_run=agent_run
    )
    # A run whose worker died (SIGKILL, a lost machine) stays "running": say so, and who resumed it.
    stale = CrmSyncRun.objects.filter(
        system=system, status=CrmSyncRun.Status.RUNNING, started_at__lt=now - STALE_AFTER
    )
    why = f"Its worker stopped before it finished; run {run.pk} resumed from the cursor."
    stale.update(status=CrmSyncRun.Status.FAILED, finished_at=now, error=why)
    return run


def _finish(run: CrmSyncRun, connector, report, work: Callable[[], Any]) -> dict[str, Any]:
    calls_before = connector.calls
    unexpected = None
    try:
        work()
        run.status = CrmSyncRun.Status.PARTIAL if report.refused else CrmSyncRun.Status.DONE
    except CrmError as exc:
        run.status, run.error = CrmSyncRun.Status.FAILED, str(exc)[:2000]
    except Exception as exc:  # a bug or the database: recorded on the report, then the run fails
        run.status, run.error, unexpected = (
            CrmSyncRun.Status.FAILED,
            f"{type(exc).__name__}: {exc}"[:2000],
            exc,
        )
    run.api_calls = connector.calls - calls_before
    run.finished_at = timezone.now()
    for name in ("read", "created", "updated", "unchanged", "archived", "refused", "conflicts", "contacts"):
        setattr(run, name, getattr(report, name))
    run.refusals, run.notes = report.refusals, report.notes
    run.save()
    summary = {"run": run.pk, "status": str(run.status), "api_calls": run.api_calls}
    counts = ("read", "created", "updated", "unchanged", "archived", "refused", "conflicts", "contacts")
    summary.update({name: getattr(run, name) for name in counts})
    if run.error:
        summary["error"] = run.error
    if unexpected is not None:
        raise unexpected
    return summary

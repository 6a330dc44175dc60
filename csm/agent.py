"""The Customer Success agent: its task types and schedules."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from agents_core.agents import (
    Agent,
    InvalidPayload,
    NotVisible,
    Schedule,
    TaskType,
    for_managers_only,
    registry,
)
from agents_core.dispatch import follow_up
from agents_core.integrations.notion import NotionGateway, notion_client
from agents_core.models import AgentRun
from agents_core.visibility import sees_everything
from csm.accounts import figures as book_figures
from csm.adoption.tracking import track_adoption
from csm.alerts.contract_check import contract_check
from csm.alerts.delivery import deliver_due
from csm.contacts.champions import sweep_inactive
from csm.crm import sync as crm_sync
from csm.crm.models import CrmSystem
from csm.expansion.opportunities import check_expansion
from csm.ingest.notion import sync_accounts
from csm.models import Account
from csm.playbooks.escalation import escalate
from csm.playbooks.notices import deliver_due as deliver_notices
from csm.playbooks.notices import queue_digests
from csm.playbooks.runner import run_playbooks
from csm.qbr import quarters
from csm.qbr.build import generate as generate_qbrs
from csm.qbr.build import qbr_batch
from csm.qbr.notion import publish_pending
from csm.scoring.on_change import rescore_pending
from csm.scoring.scan import last_daily_scan_start, scan_batch, scan_health
from csm.surveys.followup import follow_up_detractors
from csm.surveys.responses import refresh_aged
from csm.trust import evaluations
from csm.usage.rollup import rollup_pending
from csm.usage.store import prune_events

logger = logging.getLogger(__name__)


def clean_account_ids(payload: dict[str, Any]) -> dict[str, Any]:
    """`{}` means every eligible account; `{"account_ids": [...]}` limits the task."""
    unknown = sorted(set(payload) - {"account_ids"})
    if unknown:
        raise InvalidPayload(f"unknown payload keys: {', '.join(unknown)}")
    if "account_ids" not in payload:
        return {}
    ids = payload["account_ids"]
    if (
        not isinstance(ids, list)
        or not ids
        or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids)
    ):
        raise InvalidPayload("account_ids must be a non-empty list of positive account ids")
    return {"account_ids": sorted(set(ids))}


def scope_to_visible_accounts(payload: dict[str, Any], user) -> dict[str, Any]:
    """A person works on the accounts they can see: named ids must all be
    visible (else NotVisible, a 404 over the API), and "every account"
    means every account of theirs unless they see everything."""
    visible = Account.objects.visible_to(user)
    if "account_ids" in payload:
        ids = payload["account_ids"]
        found = set(visible.filter(pk__in=ids).values_list("pk", flat=True))
        missing = sorted(set(ids) - found)
        if missing:
            raise NotVisible(f"No such account(s): {', '.join(map(str, missing))}")
        return payload
    if sees_everything(user):
        return payload
    ids = sorted(visible.scannable().values_list("pk", flat=True))
    if not ids:
        raise InvalidPayload("You have no accounts to run this task on.")
    return {**payload, "account_ids": ids}


def health_scan(payload: dict[str, Any], run) -> dict[str, Any]:
    result = scan_health(account_ids=payload.get("account_ids"), run=run)
    if "account_ids" not in payload:
        # The whole book was scored: take its figures for the index of a very long book (a by-product:
        # if it fails, the index shows the ones taken before, dated, and the follow-ups still run),
        try:
            figures = book_figures.keep(
                today=date.fromisoformat(result["scored_on"]), last_scan=_scan_start(run)
            )
            result["book_figures_taken_at"] = figures.taken_at.isoformat()
        except DatabaseError as exc:
            logger.exception("The book's figures could not be kept")
            result["book_figures_error"] = str(exc)[:500]
        # and look for expansion on today's health.
        expansion = follow_up(run, "csm", "check_expansion", {})
        result["followed_by"] = {"check_expansion": expansion.pk}
        if crm_sync.configured():  # and today's health into the CRM
            result["followed_by"]["sync_crm"] = follow_up(run, "csm", "sync_crm", {"pull": False}).pk
    return result


def _scan_start(run):
    """When the daily scan that counts started: this one if it is the scheduled one."""
    if run.trigger == AgentRun.Trigger.SCHEDULE and run.started_at:
        return run.started_at
    return last_daily_scan_start()


def rescore_changed(payload: dict[str, Any], run) -> dict[str, Any]:
    return rescore_pending(run)


def rollup_usage(payload: dict[str, Any], run) -> dict[str, Any]:
    return rollup_pending(run)


def prune_usage(payload: dict[str, Any], run) -> dict[str, Any]:
    return prune_events()


def prune_evaluations(payload: dict[str, Any], run) -> dict[str, Any]:
    return evaluations.prune()


def playbooks(payload: dict[str, Any], run) -> dict[str, Any]:
    return run_playbooks()


def escalations(payload: dict[str, Any], run) -> dict[str, Any]:
    return escalate()


def notices_due(payload: dict[str, Any], run) -> dict[str, Any]:
    return deliver_notices()


def digests(payload: dict[str, Any], run) -> dict[str, Any]:
    return {"queued": queue_digests()}


def clean_alert_ids(payload: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(payload) - {"alert_ids"})
    if unknown:
        raise InvalidPayload(f"unknown payload keys: {', '.join(unknown)}")
    ids = payload.get("alert_ids")
    if ids is not None and (
        not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    ):
        raise InvalidPayload("alert_ids must be a list of alert ids")
    return payload


def deliver_alerts(payload: dict[str, Any], run) -> dict[str, Any]:
    return deliver_due(payload.get("alert_ids"))


QBR_TRIGGERS = ("quarterly", "contract", "manual")


def clean_qbr_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """`{}`, `account_ids`, `quarter` ("Q3 2026", or "previous": the quarter before today's,
    which is what the quarterly schedule asks for) and `trigger`."""
    extra = {k: payload.pop(k) for k in ("quarter", "trigger") if k in payload}
    clean = clean_account_ids(payload)
    quarter = extra.get("quarter")
    if quarter is not None and quarter != "previous":
        try:
            quarters.bounds(quarter)
        except ValueError as exc:
            raise InvalidPayload(str(exc)) from None
    if extra.get("trigger", "manual") not in QBR_TRIGGERS:
        raise InvalidPayload(f"trigger must be one of {', '.join(QBR_TRIGGERS)}")
    return {**clean, **extra}


def qbrs(payload: dict[str, Any], run) -> dict[str, Any]:
    today = timezone.localdate()
    quarter = payload.get("quarter") or quarters.quarter_of(today)
    if quarter == "previous":
        quarter = quarters.previous(today)
    return generate_qbrs(
        quarter=quarter,
        trigger=payload.get("trigger", "manual"),
        account_ids=payload.get("account_ids"),
        run=run,
    )


def clean_qbr_ids(payload: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(payload) - {"qbr_ids"})
    if unknown:
        raise InvalidPayload(f"unknown payload keys: {', '.join(unknown)}")
    ids = payload.get("qbr_ids")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)):
        raise InvalidPayload("qbr_ids must be a list of QBR ids")
    return payload


def publish_qbrs(payload: dict[str, Any], run) -> dict[str, Any]:
    return publish_pending(payload.get("qbr_ids"))


def feature_adoption(payload: dict[str, Any], run) -> dict[str, Any]:
    return track_adoption(account_ids=payload.get("account_ids"))


def contract(payload: dict[str, Any], run) -> dict[str, Any]:
    return contract_check(account_ids=payload.get("account_ids"), run=run)


def expansion(payload: dict[str, Any], run) -> dict[str, Any]:
    return check_expansion(payload.get("account_ids"), run=run)


CRM_FLAGS = ("pull", "push", "full", "dry_run")


def clean_crm_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """`{}`: every configured CRM, pull then push. `system` ("hubspot" or "salesforce") names one;
    `pull` and `push` (default true) pick the halves, `full` a reconcile, `dry_run` writes nothing."""
    unknown = sorted(set(payload) - {"system", *CRM_FLAGS})
    if unknown:
        raise InvalidPayload(f"unknown payload keys: {', '.join(unknown)}")
    system = payload.get("system")
    if system is not None and system not in CrmSystem.values:
        raise InvalidPayload(f"system must be one of {', '.join(CrmSystem.values)}")
    flags = {name: payload.get(name, name in ("pull", "push")) for name in CRM_FLAGS}
    if not all(isinstance(value, bool) for value in flags.values()):
        raise InvalidPayload(f"{', '.join(CRM_FLAGS)} must be true or false")
    if not flags["pull"] and not flags["push"]:
        raise InvalidPayload("nothing to do: pull and push are both false")
    if flags["full"] and not flags["pull"]:
        raise InvalidPayload("a full reconcile is a pull: full needs pull")
    return {**({"system": system} if system else {}), **flags}


def sync_crm(payload: dict[str, Any], run) -> dict[str, Any]:
    systems = [payload["system"]] if "system" in payload else crm_sync.configured()
    if not systems:
        return {"skipped": True, "reason": "No CRM is configured (docs/integrations.md#crm-sync)."}
    flags = {name: payload[name] for name in CRM_FLAGS}
    return {system: crm_sync.sync_crm(system, agent_run=run, **flags) for system in systems}


def survey_followup(payload: dict[str, Any], run) -> dict[str, Any]:
    return follow_up_detractors(run=run)


def derived_inputs(payload: dict[str, Any], run) -> dict[str, Any]:
    return {"surveys": refresh_aged(), "champions": sweep_inactive()}


def sync_notion(payload: dict[str, Any], run) -> dict[str, Any]:
    client = notion_client()
    if client is None or not settings.NOTION_ACCOUNTS_DATABASE_ID:
        return {
            "skipped": True,
            "reason": "Notion is not configured: set NOTION_TOKEN and NOTION_ACCOUNTS_DATABASE_ID.",
        }
    return sync_accounts(
        NotionGateway(client),
        database_id=settings.NOTION_ACCOUNTS_DATABASE_ID,
        today=timezone.localdate(),
        at=timezone.now(),
    )


agent = registry.register(
    Agent(
        id="csm",
        name="Customer Success agent",
        tasks={
            "health_scan": TaskType(
                health_scan,
                clean_payload=clean_account_ids,
                scope_payload=scope_to_visible_accounts,
                batch=scan_batch,
                description="Score every active account's health for today.",
            ),
            "rescore_changed": TaskType(
                rescore_changed,
                scope_payload=for_managers_only,
                batch=scan_batch,
                description="Score again the accounts changed since their last score (queued by the change).",
            ),
            "rollup_usage": TaskType(
                rollup_usage,
                scope_payload=for_managers_only,
                description="Roll the usage events that came in up into days and derive the signals.",
            ),
            "run_playbooks": TaskType(
                playbooks,
                scope_payload=for_managers_only,
                description="Start the playbooks whose trigger fired, make their steps' tasks, "
                "close the runs whose cause went away.",
            ),
            "escalate": TaskType(
                escalations,
                scope_payload=for_managers_only,
                description="Hand late tasks and unacknowledged alerts to the owner's manager, once.",
            ),
            "deliver_notices": TaskType(
                notices_due,
                scope_payload=for_managers_only,
                description="Send people's Slack notices (tasks given to them, digests) that are due.",
            ),
            "send_digests": TaskType(
                digests,
                scope_payload=for_managers_only,
                description="Queue each person's morning digest on Slack: tasks due, open alerts.",
            ),
            "prune_usage_events": TaskType(
                prune_usage,
                scope_payload=for_managers_only,
                description="Delete usage events older than the retention window (the daily rollups stay).",
            ),
            "check_expansion": TaskType(
                expansion,
                clean_payload=clean_account_ids,
                scope_payload=scope_to_visible_accounts,
                description="Find seat, module and integration opportunities (at most 5 new per run).",
            ),
            "generate_qbr": TaskType(
                qbrs,
                clean_payload=clean_qbr_payload,
                scope_payload=scope_to_visible_accounts,
                batch=qbr_batch,
                description="Write (or rewrite) each account's QBR for a quarter (default: the current one).",
            ),
            "publish_qbrs": TaskType(
                publish_qbrs,
                clean_payload=clean_qbr_ids,
                scope_payload=for_managers_only,
                description="Publish QBRs not yet in Notion (or whose publish failed) to the QBR database.",
            ),
            "track_feature_adoption": TaskType(
                feature_adoption,
                clean_payload=clean_account_ids,
                scope_payload=scope_to_visible_accounts,
                description="Derive each tracked account's adoption rate from its feature usage.",
            ),
            "contract_check": TaskType(
                contract,
                clean_payload=clean_account_ids,
                scope_payload=scope_to_visible_accounts,
                description="Alert on renewals near with weak health; record QBRs due before contract end.",
            ),
            "deliver_alerts": TaskType(
                deliver_alerts,
                clean_payload=clean_alert_ids,
                scope_payload=for_managers_only,
                description="Deliver churn alerts on every channel; retries failed deliveries when due.",
            ),
            "sync_crm": TaskType(
                sync_crm,
                clean_payload=clean_crm_payload,
                scope_payload=for_managers_only,
                description="Pull accounts, owners and contacts from the CRM (HubSpot, Salesforce), "
                "then push health.",
            ),
            "survey_followup": TaskType(
                survey_followup,
                scope_payload=for_managers_only,
                description="Raise a churn alert and start the detractor playbooks for each new "
                "detractor survey answer (queued when one comes in).",
            ),
            "refresh_derived_inputs": TaskType(
                derived_inputs,
                scope_payload=for_managers_only,
                description="Derive again the inputs that age without news: the NPS of accounts whose "
                "survey answers left the window, the champions gone quiet in the product.",
            ),
            "prune_evaluations": TaskType(
                prune_evaluations,
                scope_payload=for_managers_only,
                description="Delete previews and backtests older than their retention window.",
            ),
            "evaluate_profile": TaskType(
                evaluations.run_evaluation,
                clean_payload=evaluations.clean_payload,
                scope_payload=evaluations.scope_payload,
                description="Work out a what-if preview or a backtest asked for in the admin, "
                "writing its progress and keeping its result.",
            ),
            "sync_notion": TaskType(
                sync_notion,
                scope_payload=for_managers_only,
                description="Upsert accounts and inputs from the Notion accounts database.",
            ),
        },
        schedules=[
            # Adoption first, so that the 07:00 scan scores today's usage.
            Schedule(
                name="csm.daily_feature_adoption", task_type="track_feature_adoption", cron="45 6 * * *"
            ),
            # Inputs that age without news (survey answers, quiet champions), before the scan.
            Schedule(name="csm.daily_derived_inputs", task_type="refresh_derived_inputs", cron="40 6 * * *"),
            Schedule(name="csm.daily_health_scan", task_type="health_scan", cron="0 7 * * *"),
            # A safety net for a lost queueing: the follow-up of detractors is queued as they arrive.
            Schedule(name="csm.survey_followup", task_type="survey_followup", cron="*/10 * * * *"),
            Schedule(name="csm.daily_contract_check", task_type="contract_check", cron="0 8 * * *"),
            # After the scan (alerts, RAG) and the contract check (QBRs due).
            Schedule(name="csm.daily_playbooks", task_type="run_playbooks", cron="15 8 * * *"),
            # Working days, at the start of the day (business days are Monday to Friday in TIME_ZONE).
            Schedule(name="csm.escalations", task_type="escalate", cron="30 9 * * 1-5"),
            Schedule(name="csm.morning_digests", task_type="send_digests", cron="30 8 * * 1-5"),
            Schedule(name="csm.deliver_notices", task_type="deliver_notices", cron="*/5 * * * *"),
            Schedule(name="csm.publish_qbrs", task_type="publish_qbrs", cron="20 * * * *"),
            # The quarter just ended, reviewed on the first day of the next.
            Schedule(
                name="csm.quarterly_qbrs",
                task_type="generate_qbr",
                cron="0 4 1 1,4,7,10 *",
                payload={"quarter": "previous", "trigger": "quarterly"},
            ),
            Schedule(name="csm.retry_alert_deliveries", task_type="deliver_alerts", cron="*/5 * * * *"),
            # Ingest queues a run as events arrive; this one takes whatever a lost queueing left.
            Schedule(name="csm.usage_sweep", task_type="rollup_usage", cron="*/5 * * * *"),
            Schedule(name="csm.prune_usage_events", task_type="prune_usage_events", cron="30 3 * * *"),
            Schedule(name="csm.prune_evaluations", task_type="prune_evaluations", cron="40 3 * * *"),
            # The CRM: what changed every 15 minutes (the scan pushes health after it), every
            # record on Sunday morning (deletions, and anything an incremental pull missed).
            Schedule(name="csm.crm_pull", task_type="sync_crm", cron="*/15 * * * *", payload={"push": False}),
            Schedule(
                name="csm.crm_reconcile", task_type="sync_crm", cron="0 5 * * 0", payload={"full": True}
            ),
        ],
    )
)

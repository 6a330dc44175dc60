"""Benchmark the CRM sync against a loopback HubSpot (the tests' stand-in, which checks what HubSpot
checks): `--records` companies pulled into an empty book, then the health of every one pushed.

Each is measured against a floor in the same run: the pull against the same pages fetched through
the same gateway and hubspot-api-client with nothing done with them; the push against the same
batch updates sent with their rows already made. The stand-in's own time answering (`busy`) is
subtracted from each, so "Tend's own time" is what Tend spends per record. Pacing is off (HubSpot
would hold a private app to 4 searches a second: 100,000 records are 500 searches, at least 125 s).
Use a database of its own (`make bench-crm` uses var/bench-crm.sqlite3).
"""

from __future__ import annotations

import resource
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from agents_core.integrations.hubspot import hubspot_gateway
from bench.measure import QueryCounter, analyze
from csm.crm.sync import sync_crm
from csm.models import Account, Contact, CrmConflict, CrmRecord, CrmSyncRun, CrmSyncState, RescoreRequest
from tests.fakes.hubspot import TEND_PROPERTIES, TOKEN, HubSpot

CUSTOM = TEND_PROPERTIES


def _peak_rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB (Linux reports KiB)


class Command(BaseCommand):
    help = "Pull --records companies from a loopback HubSpot and push their health back, against floors."

    def add_arguments(self, parser):
        parser.add_argument("--records", type=int, default=100_000)

    def handle(self, *args, records, **options):
        for model in (CrmConflict, CrmRecord, CrmSyncRun, CrmSyncState, Contact, RescoreRequest):
            model.objects.all().delete()
        Account.objects.all().delete()
        hubspot = HubSpot(daily_allowance=10_000_000)
        # The re-score a pull asks for runs on its own (the rescore_changed task): not timed here.
        with override_settings(
            HUBSPOT_ACCESS_TOKEN=TOKEN, HUBSPOT_BASE_URL=hubspot.url, TEND_RESCORE_ON_CHANGE=False
        ):
            try:
                self.run(hubspot, records)
            finally:
                hubspot.close()

    def gateway(self):
        return hubspot_gateway(per_ten_seconds=10**9, searches_per_second=10**9)

    def run(self, hubspot, records):
        for name, kind in CUSTOM.items():
            hubspot.add_property(name, kind)
        users = get_user_model()
        for n in range(20):  # the CSMs, in Tend and in HubSpot
            users.objects.get_or_create(
                username=f"bench-owner{n}", defaults={"email": f"owner{n}@example.com"}
            )
        owners = [hubspot.add_owner(f"owner{n}@example.com") for n in range(20)]
        plans, segments = ("Starter", "Growth", "Scale"), ("SMB", "Mid-market", "Enterprise")
        for n in range(records):
            hubspot.add(name=f"Company {n}", hubspot_owner_id=owners[n % 20], arr=str(1000 + n % 90_000),
                        renewal_date=f"2027-{1 + n % 12:02d}-15", seats_purchased=str(5 + n % 200),
                        plan=plans[n % 3], segment=segments[n % 3])  # fmt: skip
        self.stdout.write(f"Loopback HubSpot: {records:,} companies. Database: {connection.vendor}.")

        # Pull floor: the same pages, fetched and thrown away.
        floor_gateway, busy = self.gateway(), hubspot.busy
        started = time.perf_counter()
        fetched = sum(
            len(page) for page in floor_gateway.changed_accounts(None, [*sorted(CUSTOM), "hubspot_owner_id"])
        )
        floor_s = time.perf_counter() - started
        floor_own = floor_s - (hubspot.busy - busy)
        assert fetched == records, fetched

        gateway, busy, counter = self.gateway(), hubspot.busy, QueryCounter()
        started = time.perf_counter()
        with connection.execute_wrapper(counter):
            pulled = sync_crm("hubspot", push=False, connector=gateway)["pull"]
        pull_s = time.perf_counter() - started
        pull_peak = _peak_rss()
        pull_own = pull_s - (hubspot.busy - busy)
        assert pulled["created"] == records, pulled
        analyze("csm_account", "csm_crmrecord")

        # Health for every account, as a scan leaves it.
        now = timezone.now()
        health = {"health_score": 64.5, "rag": "AMBER", "churn_risk": "medium", "churn_trigger": "usage_drop"}
        Account.objects.update(**health, scored_at=now)
        gateway, busy, updates, counter_push = (
            self.gateway(),
            hubspot.busy,
            hubspot.batch_updates,
            QueryCounter(),
        )
        started = time.perf_counter()
        with connection.execute_wrapper(counter_push):
            pushed = sync_crm("hubspot", pull=False, connector=gateway)["push"]
        push_s = time.perf_counter() - started
        push_peak = _peak_rss()
        push_own = push_s - (hubspot.busy - busy)
        push_calls, batches = pushed["api_calls"], hubspot.batch_updates - updates
        assert pushed["updated"] == records, pushed

        # Push floor: the same batch updates, their rows made beforehand.
        rows = [(crm_id, {"tend_health_score": "63", "tend_health_rag": "RED"}) for crm_id in
                CrmRecord.objects.values_list("crm_id", flat=True)]  # fmt: skip
        floor_gateway, busy = self.gateway(), hubspot.busy
        started = time.perf_counter()
        floor_gateway.update_accounts(rows)
        push_floor_s = time.perf_counter() - started
        push_floor_own = push_floor_s - (hubspot.busy - busy)

        again_gateway = self.gateway()
        started = time.perf_counter()
        again = sync_crm("hubspot", pull=False, connector=again_gateway)["push"]
        again_s = time.perf_counter() - started

        per = 1_000_000 / records
        self.stdout.write("\n".join([
            "",
            f"{'':34}{'wall s':>9}{'own s':>9}{'own us/record':>15}{'calls':>8}{'queries':>9}",
            f"{'Pull (Tend)':34}{pull_s:>9.2f}{pull_own:>9.2f}{pull_own * per:>15.0f}"
            f"{pulled['api_calls']:>8,}{counter.count:>9,}",
            f"{'Pull floor (fetch only)':34}{floor_s:>9.2f}{floor_own:>9.2f}{floor_own * per:>15.0f}",
            f"{'Push (Tend)':34}{push_s:>9.2f}{push_own:>9.2f}{push_own * per:>15.0f}{push_calls:>8,}"
            f"{counter_push.count:>9,}",
            f"{'Push floor (send only)':34}{push_floor_s:>9.2f}{push_floor_own:>9.2f}"
            f"{push_floor_own * per:>15.0f}",
            f"Pull against its floor: {pull_own / floor_own:.2f}x Tend's own time; "
            f"push against its floor: {push_own / push_floor_own:.2f}x",
            f"Push: {batches:,} batch updates for {records:,} changed records "
            f"({batches / records * 100:.2f} per 100; bar: at most 1), {push_calls - batches} set-up calls",
            f"Push again with nothing changed: {again['updated']} written, {again['api_calls']} call(s), "
            f"{again_s:.2f} s",
            f"Peak RSS of the process (the stand-in's records included): after the pull {pull_peak:.0f} MB, "
            f"after the push {push_peak:.0f} MB",
            f"The stand-in answering: {hubspot.busy:.1f} s in all (not Tend's)",
        ]))  # fmt: skip

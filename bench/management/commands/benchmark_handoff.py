"""Measure the hand-off: opportunity saved -> outreach draft written, with a real q-cluster.

Starts `manage.py qcluster` on the configured database and broker, saves
opportunities one at a time (each in its own committed transaction, as the
expansion check does), and times until each one's draft is finished.
Without Gmail configured the drafts are local, so the figure is Tend's own
path (signal, queue, worker, templates, database); Gmail's API time comes
on top. Use a database of its own: `make bench-handoff`.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from csm.models import Account, ExpansionOpportunity
from sales.models import OutreachDraft

DONE = (OutreachDraft.Status.CREATED, OutreachDraft.Status.LOCAL, OutreachDraft.Status.FAILED)


class Command(BaseCommand):
    help = "Time opportunity saved -> draft written, through a running q-cluster."

    def add_arguments(self, parser):
        parser.add_argument("--opportunities", type=int, default=20)
        parser.add_argument("--timeout", type=float, default=60.0)

    def handle(self, *args, opportunities, timeout, **options):
        if Account.objects.count() < opportunities:
            call_command("seed_demo", accounts=opportunities, verbosity=0)
        free = list(
            Account.objects.exclude(
                opportunities__kind="seats", opportunities__status__in=["open", "drafted"]
            )
            .select_related("owner")
            .order_by("pk")[:opportunities]
        )
        if len(free) < opportunities:
            raise CommandError("Not enough accounts without an open seats opportunity; use a fresh database.")
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=Path(settings.BASE_DIR),
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            time.sleep(5)  # let the cluster start its workers
            if cluster.poll() is not None:
                raise CommandError("The q-cluster did not start.")
            latencies = []
            for account in free:
                with transaction.atomic():
                    opportunity = ExpansionOpportunity.objects.create(
                        account=account,
                        kind="seats",
                        created_by="benchmark",
                        evidence={
                            "seats_used": 50,
                            "seats_purchased": 50,
                            "usage_trend": "growing",
                            "suggested_additional_seats": 10,
                            "seat_price": "300.00",
                            "seat_utilization": 1.0,
                        },
                    )
                saved = time.monotonic()
                while time.monotonic() - saved < timeout:
                    draft = OutreachDraft.objects.filter(opportunity=opportunity, status__in=DONE).first()
                    if draft:
                        latencies.append(time.monotonic() - saved)
                        break
                    time.sleep(0.02)
                else:
                    raise CommandError(f"No draft for opportunity {opportunity.pk} after {timeout}s")
        finally:
            os.killpg(cluster.pid, signal.SIGINT)  # as Ctrl-C would
            try:
                cluster.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)
                cluster.wait()
        latencies.sort()
        broker = "Redis" if settings.REDIS_URL else "ORM"
        self.stdout.write(
            f"Hand-off latency, opportunity saved -> draft written ({len(latencies)} opportunities, "
            f"{broker} broker, Gmail {'on' if settings.GMAIL_SERVICE_ACCOUNT_JSON else 'off'}): "
            f"median {statistics.median(latencies) * 1000:,.0f} ms, "
            f"p95 {latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] * 1000:,.0f} ms, "
            f"max {latencies[-1] * 1000:,.0f} ms"
        )

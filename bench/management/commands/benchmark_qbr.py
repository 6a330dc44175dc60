"""QBRs per second over the book (without Notion), and what publishing it all to Notion would take."""

from __future__ import annotations

import math
import statistics
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from bench.measure import QueryCounter
from csm.models import QBR, Account, HealthScore
from csm.qbr import quarters
from csm.qbr.build import generate
from csm.qbr.notion import MAX_CHILDREN, blocks
from csm.scoring.scan import scan_health

NOTION_REQUESTS_PER_SECOND = 3


class Command(BaseCommand):
    help = "Benchmark QBR generation (QBRs/s) and estimate a Notion publish of the whole book."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=10_000)

    def handle(self, *args, accounts, **options):
        with override_settings(DEBUG=False):
            have = Account.objects.count()
            if have < accounts:
                call_command("seed_demo", accounts=accounts - have, verbosity=0)
            today = timezone.localdate()
            if not HealthScore.objects.filter(scored_on=today).exists():
                scan_health()
            quarter = quarters.quarter_of(today)
            counter = QueryCounter()
            with connection.execute_wrapper(counter):
                started = time.perf_counter()
                result = generate(quarter=quarter, trigger="manual")
                seconds = time.perf_counter() - started
            made = result["created"] + result["updated"]
            sample = list(QBR.objects.filter(quarter=quarter).select_related("account")[:200])
            sizes = [len(blocks(q)) for q in sample]
            # Per QBR: find the page (1), create it (1), erase (1), then the blocks in batches of 100.
            per_qbr = 3 + math.ceil(statistics.mean(sizes) / MAX_CHILDREN)
            publish_seconds = made * per_qbr / NOTION_REQUESTS_PER_SECOND
        self.stdout.write(
            f"QBRs for {quarter}: {made:,} in {seconds:.1f} s = {made / seconds:,.0f} QBRs/s, "
            f"{counter.count / made:.1f} queries per QBR\n"
            f"Notion: about {statistics.mean(sizes):.0f} blocks per QBR = {per_qbr} requests; "
            f"publishing all {made:,} at {NOTION_REQUESTS_PER_SECOND} requests/s takes about "
            f"{publish_seconds / 3600:.1f} hours"
        )

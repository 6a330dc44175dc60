"""Benchmark the account timeline: the first page (and a page deep in the story) of an account with
`--years` of daily scores and `--events` other things that happened (interactions, tasks, alerts),
against a floor measured in the same run: the same number of newest rows read by the driver from
one table through its index, with no merging. Use a database of its own (`make bench-timeline`).
"""

from __future__ import annotations

import statistics
import time
from contextlib import nullcontext
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection
from django.utils import timezone

from bench.measure import QueryCounter, analyze
from csm.models import Account, ChurnAlert, HealthScore, ScoringProfile, Task
from csm.surveys.models import SurveyResponse
from csm.timeline import selectors
from csm.timeline.models import Interaction


class Command(BaseCommand):
    help = "Time an account's timeline pages (5 years of scores, 10,000 events) against a raw floor."

    def add_arguments(self, parser):
        parser.add_argument("--years", type=int, default=5)
        parser.add_argument("--events", type=int, default=10_000)
        parser.add_argument("--repeat", type=int, default=30)

    def handle(self, *args, years, events, repeat, **options):
        account = self.seed(years, events)
        analyze("csm_healthscore", "csm_interaction", "csm_task", "csm_churnalert")
        selectors.timeline(account.pk)  # warm
        first = []
        counter = QueryCounter()
        for n in range(repeat):
            started = time.perf_counter()
            with connection.execute_wrapper(counter) if n == 0 else nullcontext():
                page = selectors.timeline(account.pk)
            first.append(time.perf_counter() - started)
        queries = counter.count
        cursor = page.next
        for _ in range(20):  # 20 pages into the story
            cursor = selectors.timeline(account.pk, before=cursor).next
        deep = []
        for _ in range(repeat):
            started = time.perf_counter()
            selectors.timeline(account.pk, before=cursor)
            deep.append(time.perf_counter() - started)
        floor = []
        with connection.cursor() as raw:
            for _ in range(repeat):
                started = time.perf_counter()
                raw.execute(
                    "SELECT id, occurred_on, kind, title FROM csm_interaction WHERE account_id = %s "
                    "ORDER BY occurred_on DESC, id DESC LIMIT 31",
                    [account.pk],
                )
                raw.fetchall()
                floor.append(time.perf_counter() - started)
        median = statistics.median
        self.stdout.write(
            "\n".join(
                [
                    f"Database: {connection.vendor}; one account with {years} years of daily scores and "
                    f"{events:,} events",
                    f"First page (30 items, {len(selectors.KINDS)} kinds): "
                    f"median {median(first) * 1000:.1f} ms, max {max(first) * 1000:.1f} ms, "
                    f"{queries} queries (bar: under 100 ms)",
                    f"20 pages in: median {median(deep) * 1000:.1f} ms",
                    f"Floor (31 newest rows of one kind, raw SQL): median {median(floor) * 1000:.2f} ms; "
                    f"the first page is {median(first) / median(floor):.1f}x it",
                ]
            )
        )

    def seed(self, years: int, events: int) -> Account:
        owner, _ = get_user_model().objects.get_or_create(username="bench-timeline")
        account, made = Account.objects.get_or_create(
            external_id="BENCH-TIMELINE", defaults={"name": "Storied Co", "owner": owner}
        )
        if not made:
            return account
        profile = ScoringProfile.objects.filter(is_active=True).first()
        today, now = timezone.localdate(), timezone.now()
        days = years * 365
        scores = []
        for back in range(days, 0, -1):
            score = 45.0 + (back * 37 % 50)
            rag = "GREEN" if score >= 70 else "AMBER" if score >= 40 else "RED"
            scores.append(
                HealthScore(
                    account=account,
                    scored_on=today - timedelta(days=back),
                    score=score,
                    rag=rag,
                    churn_risk="low",
                    breakdown={},
                    inputs={},
                    defaulted_inputs=[],
                    profile=profile,
                    profile_version=profile.version,
                    computed_at=now,
                    explanation="Seeded.",
                )
            )
        HealthScore.objects.bulk_create(scores, batch_size=1000)
        alerts = min(events // 6, days)  # at most one a day
        surveys = events // 10
        third = (events - alerts - surveys) // 2
        Interaction.objects.bulk_create(
            [
                Interaction(
                    account=account,
                    kind="note",
                    occurred_on=today - timedelta(days=n % days),
                    title=f"Note {n}",
                )
                for n in range(third)
            ],
            batch_size=1000,
        )
        Task.objects.bulk_create(
            [
                Task(account=account, owner=owner, title=f"Task {n}", due_on=today, origin_key=f"bench:{n}")
                for n in range(events - alerts - surveys - third)
            ],
            batch_size=1000,
        )
        SurveyResponse.objects.bulk_create(
            [
                SurveyResponse(
                    account=account,
                    kind="nps",
                    score=n % 11,
                    email=f"p{n % 40}@storied.test",
                    responded_at=now - timedelta(days=n % days, hours=3),
                    survey="NPS",
                )
                for n in range(surveys)
            ],
            batch_size=1000,
        )
        ChurnAlert.objects.bulk_create(
            [
                ChurnAlert(
                    account=account,
                    raised_on=today - timedelta(days=n),
                    raised_at=now - timedelta(days=n),
                    reason="score_drop",
                    reasons=["score_drop"],
                    explanation="Seeded.",
                    score=40.0,
                    rag="AMBER",
                    churn_risk="high",
                )
                for n in range(1, alerts + 1)
            ],
            batch_size=1000,
        )
        return account

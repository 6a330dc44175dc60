from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command

from csm.models import Account, HealthScore


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_benchmark_scores_with_both_paths_and_reports_the_figures(monkeypatch):
    from csm.expansion import opportunities
    from csm.models import AccountSignals

    monkeypatch.setattr(opportunities, "BATCH_SIZE", 20)  # the expansion check in several batches too
    call_command("seed_demo", accounts=60, verbosity=0)
    before = sorted(AccountSignals.objects.values_list("account_id", "usage_trend", "avg_ticket_sentiment"))
    out = io.StringIO()
    call_command("benchmark_scan", accounts=60, batch_size=25, alerts=True, cycle=True, naive=20, stdout=out)
    # The alerts comparison worsens a tenth of the book for its day 2, then puts it back.
    assert (
        sorted(AccountSignals.objects.values_list("account_id", "usage_trend", "avg_ticket_sentiment"))
        == before
    )
    report = out.getvalue()
    scannable = Account.objects.scannable().count()
    assert Account.objects.count() == 60
    # Both paths wrote today's rows: still one per account (the alerts comparison adds yesterday's).
    from django.utils import timezone

    assert HealthScore.objects.filter(scored_on=timezone.localdate()).count() == scannable
    assert f"Accounts scored:        {scannable} (floor {scannable}, essential {scannable})" in report
    # The scan's comparison in rounds too (three by default), each way's best counted.
    rounds = re.search(r"Rounds: +Tend ([\d., ]+) s; raw floor ([\d., ]+) s; essential ([\d., ]+) s", report)
    assert rounds, report
    assert [len(way.split(", ")) for way in rounds.groups()] == [3, 3, 3]
    assert "Ratio to floor:" in report and "per batch" in report and "Peak traced memory" in report
    # The queries reported add up: the ids and the profiles once per scan, the rest per batch.
    queries = re.search(r"Queries: +(\d+) in (\d+) batches = ([\d.]+) per batch \+ 2 per scan", report)
    assert queries, report
    total, batches, per_batch = int(queries[1]), int(queries[2]), float(queries[3])
    assert batches == 3 and round((total - 2) / batches, 1) == per_batch
    assert "Ratio to essential:" in report and "Essential floor" in report
    # The machine's busy CPU in Tend's best round (Linux: /proc/stat), the database's included.
    assert re.search(r"CPU, Tend's best round: [\d.]+ CPU-seconds, [\d.]+ of \d+ cores busy", report), report
    assert "scan without alerts" in report and "alerts raised" in report
    assert "Playbooks after the scan:" in report and "of the scan and expansion" in report
    from csm.models import PlaybookRun

    assert not PlaybookRun.objects.exists()  # what the rounds started was put back
    assert "Naive per-account loop:  20 accounts in" in report and "x faster" in report
    # The cycle's floor does the same work as Tend: the same alerts and expansion candidates.
    alerts = re.search(
        r"Alerts raised: Tend (\d+), floor (\d+); expansion candidates: Tend (\d+), floor (\d+)", report
    )
    assert alerts, report
    tend_alerts, floor_alerts, tend_found, floor_found = map(int, alerts.groups())
    assert tend_alerts == floor_alerts > 0 and tend_found == floor_found > 0
    assert "Naive ORM loop (20 acc.)" in report and "against the naive loop" in report
    # Three rounds by default, the best of each way compared.
    assert "round 1: Tend" in report and "round 3: Tend" in report and "Best of 3 rounds:" in report


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("first_scan", [True, False])
def test_the_scan_benchmark_times_the_days_first_scan_or_a_rescan(monkeypatch, first_scan):
    """--first-scan: every timed pass, Tend's and the floor's, finds none of the day's scores (it
    inserts them all, as at 07:00); without it, every pass but the very first finds them all."""
    from django.utils import timezone

    from bench.management.commands import benchmark_scan
    from csm.scoring.scan import scan_health

    call_command("seed_demo", accounts=30, verbosity=0)
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    scan_health(today=yesterday, raise_alerts=False)
    kept = sorted(HealthScore.objects.filter(scored_on=yesterday).values_list("account_id", "score"))
    assert kept
    found = []  # the day's scores in place as each timed pass starts, in order

    def counting(way):
        def run(*args, **kwargs):
            found.append(HealthScore.objects.filter(scored_on=today).count())
            return way(*args, **kwargs)

        return run

    for name in ("scan_health", "raw_cycle"):
        monkeypatch.setattr(benchmark_scan, name, counting(getattr(benchmark_scan, name)))
    out = io.StringIO()
    call_command(
        "benchmark_scan", accounts=30, batch_size=10, naive=0, repeat=2, skip_memory=True,
        first_scan=first_scan, stdout=out,
    )  # fmt: skip
    scannable = Account.objects.scannable().count()
    assert len(found) == 4  # two rounds: the raw floor, then Tend
    if first_scan:
        assert found == [0, 0, 0, 0]
        assert "The day's first scan (every score inserted)" in out.getvalue()
    else:
        assert found[1:] == [scannable] * 3
        assert "A rescan of the day (every score updated)" in out.getvalue()
    # Either way the book ends scored once for the day, every other day's scores untouched.
    assert HealthScore.objects.filter(scored_on=today).count() == scannable
    assert sorted(HealthScore.objects.filter(scored_on=yesterday).values_list("account_id", "score")) == kept


@pytest.mark.django_db
def test_api_benchmark_runs_bulk_and_list_requests():
    out = io.StringIO()
    call_command("benchmark_api", accounts=40, rows_per_request=15, requests=2, repeat=2, stdout=out)
    report = out.getvalue()
    assert "Bulk signals: 30 rows in 2 requests of 15" in report
    assert "accounts, RED by score" in report and "failed" not in report
    from csm.models import AccountSignals

    assert AccountSignals.objects.filter(sources__usage_trend__source="api").count() == 30


@pytest.mark.django_db
def test_the_admin_benchmark_keeps_the_figures_as_the_daily_scan_does_and_times_every_page():
    from csm.models import BookFigures

    out = io.StringIO()
    call_command("benchmark_admin", accounts=30, history_days=1, repeat=1, stdout=out)
    report = out.getvalue()
    assert "Kept the book's figures" in report and BookFigures.objects.count() == 1
    assert report.count("index (my book today)") == 2  # as the CSM and as the manager


@pytest.mark.django_db
def test_qbr_benchmark_reports_rate_and_the_notion_estimate():
    out = io.StringIO()
    call_command("benchmark_qbr", accounts=30, stdout=out)
    report = out.getvalue()
    from csm.models import QBR

    made = QBR.objects.count()
    assert made == Account.objects.scannable().count() and "QBRs for " in report
    assert f": {made:,} in " in report and "requests/s takes about" in report


@pytest.mark.django_db
def test_usage_benchmark_ingests_rolls_up_and_reports_against_its_floors():
    from csm.models import IngestBatch, RollupRequest, UsageDay, UsageEvent

    out = io.StringIO()
    call_command("benchmark_usage", events=600, accounts=20, batch=50, days=5, stdout=out)
    report = out.getvalue()
    assert "Ingest (one web worker):" in report and "12 requests of 50" in report and "x the floor" in report
    assert "Worker (one q-cluster worker):" in report and "Peak memory" in report
    # What it measured happened: each event stored once, each account-day rolled up, no floor rows left.
    assert (
        UsageEvent.objects.count() == 600
        and not UsageEvent.objects.filter(message_id__startswith="f-").exists()
    )
    assert not RollupRequest.objects.exists() and not IngestBatch.objects.exists()
    # One message in fifty is a group call (not activity): the days count the other 588.
    assert sum(UsageDay.objects.values_list("events", flat=True)) == 588


def test_the_crm_benchmark_pulls_and_pushes_every_record_within_a_call_per_100(db):
    out = io.StringIO()
    call_command("benchmark_crm", records=300, stdout=out)
    report = out.getvalue()
    assert "Pull against its floor:" in report and "push against its floor:" in report
    assert "Push: 3 batch updates for 300 changed records (1.00 per 100; bar: at most 1)" in report
    assert "Push again with nothing changed: 0 written, 1 call(s)" in report
    assert Account.objects.count() == 300


def test_the_timeline_benchmark_reads_pages_in_one_query_per_kind(db):
    out = io.StringIO()
    call_command("benchmark_timeline", years=1, events=600, repeat=3, stdout=out)
    report = out.getvalue()
    assert "First page (30 items, 10 kinds)" in report and "10 queries" in report and "Floor" in report


@pytest.mark.django_db
def test_the_whatif_benchmark_seeds_times_and_compares_the_queued_result():
    out = io.StringIO()
    call_command("benchmark_whatif", accounts=40, history_days=400, repeat=2, stdout=out)
    report = out.getvalue()
    assert Account.objects.count() == 40 and HealthScore.objects.count() > 40 * 300
    for line in ("floor", "preview", "backtest, stored scores", "queued: preview and both backtests"):
        assert f"  {line} " in report
    assert "queued result equals the in-request one: yes" in report
    assert "peak traced memory of the queued run" in report
    assert "queued, 2 more runs: median" in report

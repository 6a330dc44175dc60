"""Two q-clusters on one PostgreSQL and one Redis: a due schedule runs once, not once per cluster.

Runs where the suite runs on PostgreSQL with Redis (the second half of
.ci/run); on the embedded defaults it skips, since several clusters are a
PostgreSQL + Redis deployment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from agents_core.models import AgentRun
from agents_core.schedules import START_FUNC
from tests.paths import ROOT

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not settings.REDIS_URL,
        reason="several clusters need PostgreSQL and Redis (set DATABASE_URL and REDIS_URL)",
    ),
]


def _cluster(name: str) -> subprocess.Popen:
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host}:{port}/{db['NAME']}"
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL,
        "Q_CLUSTER_NAME": name,
        "Q_WORKERS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


def _stop_all(processes: list[subprocess.Popen]) -> list[str]:
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
    logs = []
    for process in processes:
        try:
            _out, err = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            _out, err = process.communicate()
        logs.append(err)
    return logs


def test_a_due_schedule_runs_once_with_two_clusters_running():
    name = f"tend-two-{os.getpid()}"
    schedule = Schedule.objects.create(
        name="two-cluster probe",
        func=START_FUNC,
        args=repr(("csm", "contract_check", {})),
        schedule_type=Schedule.MINUTES,
        minutes=60,
        repeats=-1,
        next_run=timezone.now() - timedelta(seconds=1),
    )
    # Both start together, so both schedulers look at the due row at the same moment
    # (django-q2's scheduler runs every 30 s from the cluster's start).
    clusters = [_cluster(name), _cluster(name)]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = AgentRun.objects.filter(task_type="contract_check", trigger=AgentRun.Trigger.SCHEDULE)
            if runs.filter(status=AgentRun.Status.SUCCEEDED).exists():
                break
            time.sleep(0.5)
        time.sleep(5)  # room for a second, duplicate run to show up
    finally:
        logs = _stop_all(clusters)
    runs = list(AgentRun.objects.filter(task_type="contract_check", trigger=AgentRun.Trigger.SCHEDULE))
    assert len(runs) == 1, (runs, logs)
    assert runs[0].status == AgentRun.Status.SUCCEEDED, (runs[0].error, logs)
    schedule.refresh_from_db()
    assert schedule.next_run > timezone.now() + timedelta(minutes=50)  # moved on, once

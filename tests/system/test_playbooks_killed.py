"""A playbook run killed half-way (SIGKILL, no goodbye) and run again starts each playbook once per
account and occurrence, and makes each step's task once: no run is left with only some of its ready
steps.

The killed run is a real process on the test database, so this runs where the suite runs on
PostgreSQL (the second half of .ci/run) and skips on the embedded SQLite, whose test database lives
in the suite's own process.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from csm.models import Account, ChurnAlert, Playbook, PlaybookRun, Task
from csm.playbooks.runner import run_playbooks
from tests.paths import ROOT
from tests.system.test_faults import _env, _kill, _wait_for

ACCOUNTS = 1_500

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a second process on the test database"),
]

# The child: the daily run, slowed to a chunk of 100 runs every 0.3 s so the kill lands mid-way.
SLOW_RUN = """
import time
from csm.playbooks import runner
runner.CHUNK = 100
advance = runner.advance
def slow(*args, **kwargs):
    made = advance(*args, **kwargs)
    time.sleep(0.3)
    return made
runner.advance = slow
runner.run_playbooks()
"""


@pytest.fixture
def book():
    today = timezone.localdate()
    owner = get_user_model().objects.create_user("maya", password="pw-123-secret", is_staff=True)
    Account.objects.bulk_create(
        Account(name=f"Account {n}", external_id=f"K-{n}", owner=owner, arr=Decimal("12000"), rag="RED",
                renewal_date=today + timedelta(days=60), contract_start=today - timedelta(days=300))
        for n in range(ACCOUNTS)
    )  # fmt: skip
    alerted = list(Account.objects.order_by("pk").values_list("pk", flat=True)[: ACCOUNTS // 2])
    ChurnAlert.objects.bulk_create(
        ChurnAlert(account_id=pk, raised_on=today, raised_at=timezone.now(), reason="entered_red",
                   reasons=["entered_red"], explanation="Health fell.", score=35.0, rag="RED",
                   churn_risk="high", arr=Decimal("12000"))
        for pk in alerted
    )  # fmt: skip
    Playbook.objects.exclude(name__in=["Churn save", "Renewal prep"]).update(is_active=False)
    return len(alerted)


def test_a_run_killed_half_way_and_run_again_makes_each_run_and_task_once(book):
    alerted = book
    child = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", SLOW_RUN],
        cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: Task.objects.count() >= 300, 120, "the killed run to make some tasks")
        _kill(child)
    finally:
        if child.poll() is None:
            _kill(child)
    churn_save, renewal = Playbook.objects.get(name="Churn save"), Playbook.objects.get(name="Renewal prep")
    made_before = Task.objects.count()
    assert 0 < made_before < alerted + 3 * ACCOUNTS, "the kill landed before or after the run"

    run_playbooks()  # the next run (a retry, tomorrow's, the sweep's) ...
    again = run_playbooks()  # ... and another: nothing left to do
    assert (again["started"], again["tasks"]) == (0, 0)

    runs = PlaybookRun.objects.values("playbook").annotate(n=Count("id"))
    assert {row["playbook"]: row["n"] for row in runs} == {churn_save.pk: alerted, renewal.pk: ACCOUNTS}
    # Every run has its ready steps, each once: the churn save's first (the rest wait for it), all
    # three of the renewal prep's.
    per_run = PlaybookRun.objects.annotate(n=Count("tasks")).values_list("playbook", "n")
    assert {(playbook, n) for playbook, n in per_run} == {(churn_save.pk, 1), (renewal.pk, 3)}
    assert Task.objects.count() == alerted + 3 * ACCOUNTS
    doubled = Task.objects.values("account", "origin_key").annotate(n=Count("id")).filter(n__gt=1)
    assert not doubled.exists()

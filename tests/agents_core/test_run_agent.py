from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from agents_core.models import AgentRun

# The command runs outside any transaction, as it does for real: the queue
# hand-off happens on commit. serialized_rollback restores the migrations'
# data (default profile, CSM group) that the flush after each test removes.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def run_agent():
    def run(*args):
        out = io.StringIO()
        call_command("run_agent", *args, stdout=out)
        return out.getvalue()

    return run


def test_a_successful_run_prints_its_outcome(run_agent, make_account):
    make_account()
    out = run_agent("csm", "health_scan")
    run = AgentRun.objects.get(task_type="health_scan")
    assert run.status == "succeeded" and run.trigger == "command"
    assert f"Run {run.pk}: csm.health_scan succeeded" in out
    assert '"scored": 1' in out
    # A whole-book scan is followed by the expansion check, through the same entry point.
    follow_up = AgentRun.objects.get(pk=run.result["followed_by"]["check_expansion"])
    assert (follow_up.task_type, follow_up.status, follow_up.trigger) == (
        "check_expansion",
        "succeeded",
        "command",
    )


def test_account_ids_payload_is_passed_through(run_agent, make_account):
    a = make_account()
    make_account()
    out = run_agent("csm", "health_scan", "--payload", f'{{"account_ids": [{a.pk}]}}')
    assert '"scored": 1' in out
    assert AgentRun.objects.get().payload == {"account_ids": [a.pk]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nobody", "health_scan"), "Unknown agent 'nobody'"),
        (("csm", "fly"), "no task type 'fly'"),
        (("csm", "health_scan", "--payload", "{nope"), "not valid JSON"),
        (("csm", "health_scan", "--payload", '{"account_ids": "all"}'), "account_ids must be"),
    ],
)
def test_bad_requests_exit_2_with_a_clear_message(run_agent, args, message):
    with pytest.raises(CommandError, match=message) as exc:
        run_agent(*args)
    assert exc.value.returncode == 2
    assert not AgentRun.objects.exists()


def test_a_failed_run_exits_1(run_agent, make_account):
    from csm.models import ScoringProfile

    make_account()
    # No active default profile: the scan cannot score and the run fails.
    ScoringProfile.objects.update(is_active=False)
    with pytest.raises(CommandError, match="No active default scoring profile") as exc:
        run_agent("csm", "health_scan")
    assert exc.value.returncode == 1
    assert AgentRun.objects.get().status == "failed"

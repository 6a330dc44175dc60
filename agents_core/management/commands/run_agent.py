import json

from django.core.management.base import BaseCommand, CommandError

from agents_core.agents import AgentError
from agents_core.dispatch import enqueue
from agents_core.models import AgentRun


class Command(BaseCommand):
    help = (
        "Run one agent task now, in the foreground, through the same entry point "
        "as the schedules. Exits 1 when the run fails, 2 on a bad request."
    )

    def add_arguments(self, parser):
        parser.add_argument("agent", help="agent id, e.g. csm")
        parser.add_argument("task_type", help="task type, e.g. health_scan")
        parser.add_argument("--payload", default="{}", help="JSON object, e.g. '{\"account_ids\": [1, 2]}'")

    def handle(self, *args, agent, task_type, payload, **options):
        try:
            data = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--payload is not valid JSON: {exc}", returncode=2) from exc
        try:
            run = enqueue(agent, task_type, data, trigger=AgentRun.Trigger.COMMAND, sync=True)
        except AgentError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        run.refresh_from_db()
        self.stdout.write(f"Run {run.pk}: {run.agent}.{run.task_type} {run.status}")
        if run.duration_seconds is not None:
            self.stdout.write(f"Duration: {run.duration_seconds:.2f}s")
        if run.result:
            self.stdout.write("Result: " + json.dumps(run.result, indent=2, sort_keys=True, default=str))
        if run.status != AgentRun.Status.SUCCEEDED:
            raise CommandError(run.error or f"run ended {run.status}", returncode=1)

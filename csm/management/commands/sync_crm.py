import json

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from csm.crm.models import CrmSystem


class Command(BaseCommand):
    help = (
        "Sync one CRM now, in the foreground: pull what changed (or everything with --full), then push "
        "Tend's health (the CS agent's sync_crm task, through the same entry point as the schedules)."
    )

    def add_arguments(self, parser):
        parser.add_argument("system", choices=CrmSystem.values)
        parser.add_argument("--dry-run", action="store_true", help="Read and report; write nothing anywhere.")
        parser.add_argument(
            "--full", action="store_true", help="Reconcile every record, not only the changed."
        )
        halves = parser.add_mutually_exclusive_group()
        halves.add_argument("--pull-only", action="store_true")
        halves.add_argument("--push-only", action="store_true")

    def handle(self, *args, system, dry_run, full, pull_only, push_only, **options):
        if full and push_only:
            raise CommandError("--full is a pull: it cannot go with --push-only", returncode=2)
        payload = {
            "system": system,
            "dry_run": dry_run,
            "full": full,
            "pull": not push_only,
            "push": not pull_only,
        }
        call_command("run_agent", "csm", "sync_crm", payload=json.dumps(payload), stdout=self.stdout)

import os
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from csm.models import Account


class Command(BaseCommand):
    help = (
        "First-run setup after migrate (safe to re-run): the admin login, the demo "
        "book if there are no accounts yet, scored once, and the agent schedules."
    )

    def add_arguments(self, parser):
        parser.add_argument("--demo-accounts", type=int, default=500)
        parser.add_argument("--no-demo", action="store_true")
        parser.add_argument(
            "--demo-history-days",
            type=int,
            default=365,
            help="Days of synthetic daily history and renewal outcomes for the demo (0: none).",
        )

    def handle(self, *args, demo_accounts, no_demo, demo_history_days, **options):
        call_command("ensure_admin", stdout=self.stdout)
        if not no_demo and not Account.objects.exists():
            # The demo CSMs (maya, tom, ... and morgan, their manager) share the
            # admin's password, so a new user can see what each role sees.
            password_file = Path(settings.VAR_DIR) / "admin-password"
            password = (
                os.environ.get("TEND_DEMO_PASSWORD")
                or os.environ.get("TEND_ADMIN_PASSWORD")
                or (password_file.read_text().strip() if password_file.exists() else "")
            )
            call_command(
                "seed_demo",
                accounts=demo_accounts,
                password=password,
                history_days=demo_history_days,
                stdout=self.stdout,
            )
            # Score the new book once so the admin shows health straight away.
            call_command("run_agent", "csm", "health_scan", stdout=self.stdout)
            # And start the playbooks its alerts and renewals call for: a CSM's first morning has tasks.
            call_command("run_agent", "csm", "run_playbooks", stdout=self.stdout)
        call_command("ensure_schedules", stdout=self.stdout)

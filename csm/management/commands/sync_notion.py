from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Sync accounts from the Notion accounts database now (the CS agent's sync_notion task)."

    def handle(self, *args, **options):
        # The same entry point as every other run; exits non-zero if it fails.
        call_command("run_agent", "csm", "sync_notion", stdout=self.stdout)

import os

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from csm.demo import build_demo_book
from csm.models import Account


class Command(BaseCommand):
    help = "Build a realistic, deterministic demo book of accounts, CSMs and signals."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=500)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--if-empty", action="store_true", help="Do nothing if any account exists.")
        parser.add_argument(
            "--password",
            default=os.environ.get("TEND_DEMO_PASSWORD", ""),
            help="Password for the demo CSM logins (default: TEND_DEMO_PASSWORD; "
            "none means they cannot log in).",
        )

    def handle(self, *args, accounts, seed, if_empty, password, **options):
        if accounts < 1:
            raise CommandError("--accounts must be at least 1")
        if if_empty and Account.objects.exists():
            self.stdout.write("Accounts exist already; demo book not loaded.")
            return
        with tqdm(total=accounts, unit="acct", desc="Seeding", disable=options["verbosity"] < 1) as bar:
            book = build_demo_book(
                accounts,
                seed=seed,
                today=timezone.localdate(),
                password=password or None,
                progress=bar.update,
            )
        self.stdout.write(self.style.SUCCESS(f"Demo book: {book.accounts} accounts for {book.users} users."))

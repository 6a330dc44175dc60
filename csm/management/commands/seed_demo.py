import os
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from csm.demo.book import build_demo_book
from csm.demo.history import lay_down_history
from csm.models import Account


class Command(BaseCommand):
    help = "Build a realistic, deterministic demo book of accounts, CSMs and signals."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=500)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--if-empty", action="store_true", help="Do nothing if any account exists.")
        parser.add_argument(
            "--history-days",
            type=int,
            default=0,
            help="Also lay down this many days of daily scores and the renewal outcomes in them "
            "(synthetic, labelled so), so the backtest has something to judge.",
        )
        parser.add_argument(
            "--password",
            default=os.environ.get("TEND_DEMO_PASSWORD", ""),
            help="Password for the demo CSM logins (default: TEND_DEMO_PASSWORD; "
            "none means they cannot log in).",
        )

    def handle(self, *args, accounts, seed, if_empty, password, history_days, **options):
        if accounts < 1:
            raise CommandError("--accounts must be at least 1")
        if not 0 <= history_days <= 3 * 365:
            raise CommandError("--history-days must be between 0 and 1095")
        if if_empty and Account.objects.exists():
            self.stdout.write("Accounts exist already; demo book not loaded.")
            return
        before = Account.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        with tqdm(total=accounts, unit="acct", desc="Seeding", disable=options["verbosity"] < 1) as bar:
            book = build_demo_book(
                accounts,
                seed=seed,
                today=timezone.localdate(),
                password=password or None,
                progress=bar.update,
            )
        self.stdout.write(self.style.SUCCESS(f"Demo book: {book.accounts} accounts for {book.users} users."))
        if history_days:
            started = time.perf_counter()
            demo = list(Account.objects.filter(pk__gt=before).order_by("pk"))  # this call's accounts
            history = lay_down_history(demo, days=history_days, today=timezone.localdate(), seed=seed)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Synthetic history: {history.scores:,} daily scores and {history.outcomes:,} renewal "
                    f"outcomes for {history.accounts:,} accounts in {time.perf_counter() - started:.1f}s."
                )
            )

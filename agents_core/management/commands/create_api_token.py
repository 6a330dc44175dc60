"""Make an API token for a user and print it once (it is stored only as a digest)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from agents_core import audit
from agents_core.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it. It cannot be shown again."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What the token is for.")
        parser.add_argument("--read-only", action="store_true", help="The token may only read (GET).")
        parser.add_argument(
            "--days", type=int, default=settings.TEND_API_TOKEN_DAYS, help="Days until it expires (0: never)."
        )

    def handle(self, *args, username, name, read_only, days, **options):
        try:
            user = get_user_model().objects.get(username=username, is_active=True)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No active user {username!r}.") from None
        if days < 0:
            raise CommandError("--days must be 0 (never expires) or more.")
        expiry = timedelta(days=days) if days else None
        token, key = ApiToken.objects.create(
            user, expiry=expiry, name=name or "command line", read_only=read_only
        )
        audit.record(audit.Action.TOKEN_CREATED, user=user, target=str(token), via="create_api_token")
        self.stdout.write(key)
        when = f"expires {token.expiry:%Y-%m-%d}" if token.expiry else "never expires"
        access = "read-only" if read_only else "read-write"
        self.stderr.write(
            f"Token {token.token_key}... for {username}, {access}, {when}. It is not shown again."
        )

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Make sure a superuser exists for a local install. The password comes from "
        "TEND_ADMIN_PASSWORD, or is generated once and kept in var/admin-password."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("TEND_ADMIN_USERNAME", "admin"))

    def handle(self, *args, username, **options):
        User = get_user_model()
        from_env = os.environ.get("TEND_ADMIN_PASSWORD", "")
        stored = settings.VAR_DIR / "admin-password"
        password = from_env or (stored.read_text().strip() if stored.exists() else "")
        if not password:
            password = secrets.token_urlsafe(12)
            settings.VAR_DIR.mkdir(exist_ok=True)
            stored.write_text(password + "\n")
            stored.chmod(0o600)
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        # An existing admin keeps a password changed since setup, unless the
        # environment asks for a specific one.
        if created or (from_env and not user.check_password(from_env)):
            user.set_password(password)
            user.save()
        elif not user.check_password(password):
            self.stdout.write(f"Admin login: {username} (password changed since setup)")
            return
        self.stdout.write(f"Admin login: {username} / {password}")

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from csm.models import TrackingSource


class Command(BaseCommand):
    help = (
        "Create a tracking source (a product or environment sending usage events) and print its write "
        "key, once: it is stored hashed. Point a Segment or RudderStack library at "
        "http://<tend>/ingest/segment with this key."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("Give the source a name of 1 to 100 characters.")
        source = TrackingSource(name=name)
        key = source.new_key()
        try:
            source.save()
        except IntegrityError:
            raise CommandError(f"A tracking source called {name!r} exists already.") from None
        self.stdout.write(self.style.SUCCESS(f"Tracking source {name!r} created. Its write key, shown once:"))
        self.stdout.write(key)

from django.core.management.base import BaseCommand

from agents_core.schedules import ensure_schedules


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules of every agent (safe to re-run)."

    def handle(self, *args, **options):
        for schedule, created in ensure_schedules():
            verb = "created" if created else "ok"
            next_run = f"{schedule.next_run:%Y-%m-%d %H:%M %Z}"
            self.stdout.write(f"{verb:>7}  {schedule.name:<32} {schedule.cron:<16} next {next_run}")

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from csm.trust.outcomes import COLUMNS, import_outcomes


class Command(BaseCommand):
    help = (
        f"Import renewal outcomes from a CSV with the columns {', '.join(COLUMNS)} "
        "(outcome: renewed, downgraded or churned). All or nothing: every bad row is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Check the file; write nothing.")

    def handle(self, *args, file: Path, dry_run: bool, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}", returncode=2)
        report = import_outcomes(file.read_bytes(), dry_run=dry_run)
        if report.problems:
            for p in report.problems:
                self.stderr.write(f"line {p.line}, {p.column or '-'}: {p.message}")
            raise CommandError(f"{len(report.problems)} problem(s); nothing was written.", returncode=1)
        if dry_run:
            self.stdout.write(f"{report.rows} row(s) are fine; nothing written (dry run).")
        else:
            self.stdout.write(self.style.SUCCESS(f"Recorded {report.written} outcome(s)."))

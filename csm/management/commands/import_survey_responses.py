from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from csm.surveys.csv_import import import_responses


class Command(BaseCommand):
    help = (
        "Import NPS/CSAT survey answers from a CSV (placed by email or the account's external_id). "
        "All or nothing: any bad row means nothing is written; every bad row is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Check and report; write nothing.")

    def handle(self, *args, file: Path, dry_run: bool, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}", returncode=2)
        report = import_responses(file.read_bytes(), dry_run=dry_run)
        write = self.stdout.write
        if report.problems:
            write(self.style.ERROR(f"{len(report.problems)} problem(s); nothing was written:"))
            for p in report.problems:
                write(f"  line {p.line}, {p.column or '-'}: {p.message}")
            raise CommandError("Import refused: fix the rows above and run it again.", returncode=1)
        if dry_run:
            write(self.style.SUCCESS(f"All {report.rows} rows can be imported (dry run: nothing written)."))
            return
        write(
            self.style.SUCCESS(
                f"Imported {report.rows} rows: {report.created} new, {report.updated} updated, "
                f"{report.unplaced} not placed (no contact or tracked user has the email)."
            )
        )

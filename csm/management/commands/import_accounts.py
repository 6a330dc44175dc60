from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from csm.ingest.crm_csv import import_accounts


class Command(BaseCommand):
    help = (
        "Import accounts and scoring inputs from a CSV (matched by external_id). "
        "All or nothing: any bad row means nothing is written; every bad row is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Check and report; write nothing.")

    def handle(self, *args, file: Path, dry_run: bool, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}", returncode=2)
        content = file.read_bytes()
        with tqdm(desc="Checking rows", unit="row", disable=options["verbosity"] < 1) as bar:
            report = import_accounts(
                content, dry_run=dry_run, today=timezone.localdate(), at=timezone.now(), progress=bar.update
            )
        write = self.stdout.write
        for header, target in report.mapping.items():
            write(f"  column {header!r} -> {target}")
        if report.ignored_columns:
            write(f"  ignored columns: {', '.join(map(repr, report.ignored_columns))}")
        if report.problems:
            write(self.style.ERROR(f"{len(report.problems)} problem(s); nothing was written:"))
            for p in report.problems:
                write(f"  line {p.line}, {p.column or '-'}: {p.message}")
            raise CommandError("Import refused: fix the rows above and run it again.", returncode=1)
        counts = (
            f"create {report.created}, update {report.updated}"
            if dry_run
            else f"Created {report.created}, updated {report.updated}"
        )
        write(
            self.style.SUCCESS(
                f"{'Would ' if dry_run else ''}{counts}; {report.unchanged} unchanged ({report.rows} rows)."
            )
        )
        for change in report.changes[:50]:
            fields = ", ".join(change["fields"])
            write(f"  line {change['line']}: {change['action']} {change['external_id']}: {fields}")

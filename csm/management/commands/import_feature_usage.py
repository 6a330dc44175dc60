from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from csm.ingest.cells import CellError, read_table
from csm.ingest.writes import BulkWriteError, bulk_write_usage
from csm.models import Account

INT_COLUMNS = ("active_users", "events_30d")


class Command(BaseCommand):
    help = (
        "Import feature usage from a CSV with the columns external_id, feature, active_users, "
        "events_30d, last_used_on (YYYY-MM-DD). All or nothing: every bad row is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}", returncode=2)
        try:
            table = read_table(file.read_bytes())
        except CellError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        headers = [h.strip().lower() for h in table.headers or []]
        rows = []
        for raw in table:
            row = {h: (v.strip() if isinstance(v, str) else v) for h, v in zip(headers, raw, strict=False)}
            for name in INT_COLUMNS:
                if row.get(name, "") not in ("", None) and str(row[name]).isdigit():
                    row[name] = int(row[name])
                elif row.get(name) == "":
                    row.pop(name)
            if row.get("last_used_on") == "":
                row["last_used_on"] = None
            rows.append(row)
        try:
            result = bulk_write_usage(
                rows,
                accounts=Account.objects.all(),
                source="csv",
                at=timezone.now(),
                today=timezone.localdate(),
            )
        except BulkWriteError as exc:
            for e in exc.errors:
                line = "-" if e["index"] is None else e["index"] + 2  # the header is line 1
                self.stdout.write(f"  line {line}, {e['field'] or '-'}: {e['message']}")
            raise CommandError(f"{len(exc.errors)} problem(s); nothing was written.", returncode=1) from exc
        self.stdout.write(self.style.SUCCESS(f"Feature usage: {result['written']} rows written."))

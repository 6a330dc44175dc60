from django.db import migrations, models
from django.utils import timezone

CHUNK = 5_000


def fill(apps, schema_editor):
    """Each event's local day and hour, from happened_at in TIME_ZONE (as ingest now writes them)."""
    UsageEvent = apps.get_model("csm", "UsageEvent")
    last = 0
    while rows := list(
        UsageEvent.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "happened_at")[:CHUNK]
    ):
        changed = []
        for pk, happened in rows:
            local = timezone.localtime(happened)
            changed.append(UsageEvent(pk=pk, day=local.date(), hour=local.hour))
        UsageEvent.objects.bulk_update(changed, ["day", "hour"])
        last = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [("csm", "0027_ingest_batch_permissions")]

    operations = [
        migrations.AddField("usageevent", "day", models.DateField(null=True)),
        migrations.AddField("usageevent", "hour", models.PositiveSmallIntegerField(null=True)),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            "usageevent", "day", models.DateField(help_text="The local day it happened on.")
        ),
        migrations.AlterField(
            "usageevent",
            "hour",
            models.PositiveSmallIntegerField(help_text="The local hour it happened in (0-23)."),
        ),
    ]

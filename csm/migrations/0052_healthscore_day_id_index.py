"""The health-score list newest first without sorting a whole day: an index on (day, id) takes
the place of the one on the day alone (docs/performance.md)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("csm", "0051_account_fillfactor"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="healthscore",
            index=models.Index(fields=["scored_on", "id"], name="csm_healthscore_day_id"),
        ),
        migrations.RemoveIndex(
            model_name="healthscore",
            name="csm_healths_scored__346626_idx",
        ),
    ]

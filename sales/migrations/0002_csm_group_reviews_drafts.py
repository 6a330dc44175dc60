from django.db import migrations


def csm_group_reviews_drafts(apps, schema_editor):
    from agents_core.migration_helpers import grant_to_group

    grant_to_group(apps, "CSM", "sales", ["view_outreachdraft", "change_outreachdraft"])


class Migration(migrations.Migration):
    dependencies = [("sales", "0001_initial"), ("csm", "0003_csm_group")]

    operations = [migrations.RunPython(csm_group_reviews_drafts, migrations.RunPython.noop)]

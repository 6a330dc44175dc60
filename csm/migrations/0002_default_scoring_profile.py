from django.db import migrations


def create_default_profile(apps, schema_editor):
    from csm.scoring import DEFAULT_PROFILE

    ScoringProfile = apps.get_model("csm", "ScoringProfile")
    if ScoringProfile.objects.filter(segment="").exists():
        return
    data = DEFAULT_PROFILE.as_dict()
    data.pop("version")
    data.pop("champion_left_engagement", None)  # a later setting (0044), not a column yet here
    ScoringProfile.objects.create(
        segment="",
        version=1,
        is_active=True,
        notes="The defaults of SCORING.md.",
        **data,
    )


class Migration(migrations.Migration):
    dependencies = [("csm", "0001_initial")]

    operations = [migrations.RunPython(create_default_profile, migrations.RunPython.noop)]

from django.db import migrations
from django.db.models import Max

NOTES = (
    "Champion left: on. While an account's champions have all left (removed in the CRM, or not seen "
    "in the product for TEND_CHAMPION_INACTIVE_DAYS), its stakeholder engagement counts as low. "
    "Otherwise the same settings as version {before}."
)


def new_versions(apps, schema_editor):
    """Each active profile gets a new version with the "champion left" rule on; the versions before
    stay as they were (off), so the scores made with them keep their settings."""
    ScoringProfile = apps.get_model("csm", "ScoringProfile")
    for profile in list(ScoringProfile.objects.filter(is_active=True)):
        if profile.champion_left_engagement:
            continue
        latest = ScoringProfile.objects.filter(segment=profile.segment).aggregate(v=Max("version"))["v"]
        ScoringProfile.objects.filter(pk=profile.pk).update(is_active=False)
        before = profile.version
        profile.pk = None
        profile._state.adding = True
        profile.version = latest + 1
        profile.is_active = True
        profile.champion_left_engagement = "low"
        profile.notes = NOTES.format(before=before)
        profile.created_by = None
        profile.save()


class Migration(migrations.Migration):
    dependencies = [("csm", "0044_contact_roles_and_champions")]

    operations = [migrations.RunPython(new_versions, migrations.RunPython.noop)]

from django.db import migrations

# A playbook for the new trigger: a detractor's answer is heard within a day.
DETRACTOR = {
    "name": "Detractor recovery",
    "description": "Someone answered a survey as a detractor (NPS 0-6, CSAT 1-2): hear them out, fix what "
    "can be fixed, and close the loop.",
    "trigger": "detractor",
    "close_on_recovery": False,
    "steps": [
        ("Read their answer and call them: what went wrong?", 1, False, "high"),
        ("Agree a fix with them and log it as an interaction", 7, True, "normal"),
        ("Close the loop: tell them what changed", 21, True, "normal"),
    ],
}


def add(apps, schema_editor):
    Playbook = apps.get_model("csm", "Playbook")
    PlaybookStep = apps.get_model("csm", "PlaybookStep")
    spec = dict(DETRACTOR)
    steps = spec.pop("steps")
    playbook, made = Playbook.objects.get_or_create(name=spec["name"], defaults=spec)
    if made:
        PlaybookStep.objects.bulk_create(
            PlaybookStep(playbook=playbook, position=i, title=title, due_in_days=days,
                         wait_for_previous=wait, priority=priority)
            for i, (title, days, wait, priority) in enumerate(steps, start=1)
        )  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("csm", "0042_survey_permissions")]

    operations = [migrations.RunPython(add, migrations.RunPython.noop)]

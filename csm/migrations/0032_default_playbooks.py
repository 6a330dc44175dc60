from django.db import migrations

# The three playbooks Tend starts with; a manager changes them in the admin
# (Customer success -> Playbooks). (title, due in days, wait for the step before, priority)
DEFAULTS = [
    {
        "name": "Churn save",
        "description": "An account raised a churn alert: find out why, talk to the champion, agree a plan.",
        "trigger": "alert",
        "steps": [
            ("Read why the health dropped and check the account", 0, False, "high"),
            ("Call the champion: what changed for them?", 2, True, "high"),
            ("Agree a save plan and write it on the account", 7, True, "normal"),
        ],
    },
    {
        "name": "Renewal prep",
        "description": "90, 60 and 30 days before a renewal.",
        "trigger": "renewal",
        "days_before_renewal": 90,
        "steps": [
            ("90 days out: review health, usage and open issues", 0, False, "normal"),
            ("60 days out: confirm the renewal plan with the champion", 30, False, "normal"),
            ("30 days out: send the renewal proposal", 60, False, "high"),
        ],
    },
    {
        "name": "Onboarding",
        "description": "A new customer (contract started in the last 30 days).",
        "trigger": "new_account",
        "steps": [
            ("Kick-off call: goals, people, timeline", 3, False, "high"),
            ("Training and the first integration set up", 14, True, "normal"),
            ("First value check: are they using the key features?", 30, True, "normal"),
        ],
    },
]


def add_defaults(apps, schema_editor):
    from agents_core.migration_helpers import grant_to_group

    Playbook = apps.get_model("csm", "Playbook")
    PlaybookStep = apps.get_model("csm", "PlaybookStep")
    for spec in DEFAULTS:
        spec = dict(spec)
        steps = spec.pop("steps")
        playbook, made = Playbook.objects.get_or_create(name=spec["name"], defaults=spec)
        if made:
            PlaybookStep.objects.bulk_create(
                PlaybookStep(playbook=playbook, position=i, title=title, due_in_days=days,
                             wait_for_previous=wait, priority=priority)
                for i, (title, days, wait, priority) in enumerate(steps, start=1)
            )  # fmt: skip
    # CSMs see the playbooks and the runs on their accounts; managers edit the playbooks.
    grant_to_group(apps, "CSM", "csm", ["view_playbook", "view_playbookstep", "view_playbookrun"])
    grant_to_group(
        apps, "Manager", "csm",
        ["add_playbook", "change_playbook", "delete_playbook", "add_playbookstep", "change_playbookstep",
         "delete_playbookstep"],
    )  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("csm", "0031_playbooks")]

    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]

from decimal import Decimal

from django.db import migrations

ADDONS = [
    # key, name, kind, per seat, flat, order, pitch
    ("analytics", "Advanced Analytics", "module", "60", "0", 1,
     "Dashboards and scheduled reports on the data your team already creates, without exporting spreadsheets."),
    ("automation", "Workflow Automation", "module", "80", "0", 2,
     "Rules that route, assign and follow up on work automatically, so repetitive steps stop costing your team time."),
    ("security", "Enterprise Security & SSO", "module", "40", "0", 3,
     "Single sign-on, SCIM provisioning and audit logs, for a growing team's access to stay under control."),
    ("salesforce", "Salesforce sync", "integration", "0", "6000", 1,
     "Two-way sync with Salesforce, so your records stay current in both places without copy and paste."),
    ("warehouse", "Data warehouse export", "integration", "0", "9000", 2,
     "A daily export to Snowflake, BigQuery or Redshift, so your analysts can join our data with everything else."),
    ("slack", "Slack alerts", "integration", "0", "2400", 3,
     "Notifications in the Slack channels where your team already works."),
]  # fmt: skip
PLANS = [
    ("Starter", "300", []),
    ("Growth", "450", ["analytics", "slack"]),
    ("Enterprise", "400", ["analytics", "automation", "security", "slack"]),
]


def create_catalogue(apps, schema_editor):
    AddOn = apps.get_model("csm", "AddOn")
    Plan = apps.get_model("csm", "Plan")
    for key, name, kind, per_seat, flat, order, pitch in ADDONS:
        AddOn.objects.get_or_create(
            key=key,
            defaults=dict(
                name=name, kind=kind, price_per_seat=Decimal(per_seat), flat_price=Decimal(flat),
                order=order, pitch=pitch,
            ),
        )  # fmt: skip
    for name, seat_price, included in PLANS:
        plan, created = Plan.objects.get_or_create(name=name, defaults={"seat_price": Decimal(seat_price)})
        if created:
            plan.included.set(AddOn.objects.filter(key__in=included))


def csm_group_works_opportunities(apps, schema_editor):
    from agents_core.migration_helpers import grant_to_group

    grant_to_group(
        apps,
        "CSM",
        "csm",
        ["view_expansionopportunity", "add_expansionopportunity", "change_expansionopportunity", "view_addon",
         "view_plan"],
    )  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("csm", "0006_expansion")]

    operations = [
        migrations.RunPython(create_catalogue, migrations.RunPython.noop),
        migrations.RunPython(csm_group_works_opportunities, migrations.RunPython.noop),
    ]

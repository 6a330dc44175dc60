"""Default field mappings for HubSpot companies and Salesforce accounts. A manager edits them in the
admin (Customer success -> CRM field mappings); a mapped field the CRM does not have is left out of
the sync, named in the run's report (docs/integrations.md#crm-sync)."""

from django.db import migrations

# (Tend field, HubSpot property, Salesforce field, owner)
DEFAULTS = [
    ("name", "name", "Name", "crm"),
    ("owner", "hubspot_owner_id", "OwnerId", "crm"),
    ("arr", "arr", "ARR__c", "crm"),
    ("renewal_date", "renewal_date", "Renewal_Date__c", "crm"),
    ("contract_start", "contract_start_date", "Contract_Start_Date__c", "crm"),
    ("seats_purchased", "seats_purchased", "Seats_Purchased__c", "crm"),
    ("plan", "plan", "Plan__c", "crm"),
    ("segment", "segment", "Segment__c", "crm"),
    ("tam_health_rag", "tam_health", "TAM_Health__c", "crm"),
    ("health_score", "tend_health_score", "Tend_Health_Score__c", "tend"),
    ("rag", "tend_health_rag", "Tend_Health_RAG__c", "tend"),
    ("churn_risk", "tend_churn_risk", "Tend_Churn_Risk__c", "tend"),
    ("churn_trigger", "tend_churn_trigger", "Tend_Churn_Trigger__c", "tend"),
    ("health_explanation", "tend_health_explanation", "Tend_Health_Explanation__c", "tend"),
    ("scored_on", "tend_health_scored_on", "Tend_Health_Scored_On__c", "tend"),
]


def add(apps, schema_editor):
    Mapping = apps.get_model("csm", "CrmFieldMapping")
    for tend_field, hubspot, salesforce, owner in DEFAULTS:
        for system, crm_field in (("hubspot", hubspot), ("salesforce", salesforce)):
            Mapping.objects.get_or_create(
                system=system, tend_field=tend_field, defaults={"crm_field": crm_field, "owner": owner}
            )


def grant(apps, schema_editor):
    from agents_core.migration_helpers import grant_to_group

    # A CSM keeps their accounts' contacts and resolves their conflicts; managers own the mapping
    # and read the runs' reports.
    grant_to_group(apps, "CSM", "csm", ["view_contact", "add_contact", "change_contact", "view_crmconflict",
                                        "change_crmconflict", "view_crmfieldmapping"])  # fmt: skip
    grant_to_group(apps, "Manager", "csm", ["add_crmfieldmapping", "change_crmfieldmapping",
                                            "delete_crmfieldmapping", "view_crmsyncrun"])  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("csm", "0037_crm_sync")]
    operations = [
        migrations.RunPython(add, migrations.RunPython.noop),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]

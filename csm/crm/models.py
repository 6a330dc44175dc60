"""The CRM sync's data: which CRM field feeds which Tend field (and which side owns it), the link of
each CRM record to its account with what each side last saw, the cursor, each run's report, the
conflicts a person resolves, and the accounts' contacts.

Imported by csm.models, so these are models of the csm app.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from agents_core.visibility import OwnedQuerySet
from csm.crm import fields


class CrmSystem(models.TextChoices):
    HUBSPOT = "hubspot", "HubSpot"
    SALESFORCE = "salesforce", "Salesforce"


class Side(models.TextChoices):
    CRM = "crm", "The CRM"
    TEND = "tend", "Tend"


class CrmFieldMapping(models.Model):
    """One CRM field and the Tend field it is, and which side owns the value.

    The owner's value wins: a CRM-owned field is pulled into Tend (an emptied one empties), a
    Tend-owned one is pushed to the CRM. A change made on the other side is not overwritten silently:
    it becomes a conflict (CrmConflict) a person resolves.
    """

    system = models.CharField(max_length=20, choices=CrmSystem.choices)
    tend_field = models.CharField(max_length=40, choices=fields.CHOICES)
    crm_field = models.CharField(
        max_length=100, help_text="The property (HubSpot) or field API name (Salesforce), e.g. renewal_date."
    )
    owner = models.CharField(
        max_length=10, choices=Side.choices, default=Side.CRM, help_text="The side whose value wins."
    )
    is_active = models.BooleanField(default=True)
    notes = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["system", "tend_field"]
        verbose_name = "CRM field mapping"
        constraints = [
            models.UniqueConstraint(fields=["system", "tend_field"], name="crm_mapping_one_per_tend_field"),
            models.UniqueConstraint(fields=["system", "crm_field"], name="crm_mapping_one_per_crm_field"),
        ]

    def __str__(self) -> str:
        arrow = "→" if self.owner == Side.CRM else "←"
        return f"{self.get_system_display()} {self.crm_field} {arrow} {self.tend_field}"

    def clean(self):
        problem = fields.ownership_problem(self.tend_field, self.owner)
        if problem:
            raise ValidationError({"owner": problem})
        if not fields.CRM_FIELD_NAME.match(self.crm_field or ""):
            raise ValidationError({"crm_field": "Letters, digits and _ only, starting with a letter."})


class CrmSyncState(models.Model):
    """Where the incremental pull of one CRM resumes: the last-modified time of the last record it
    applied (a run that fails resumes from here; re-reading a record changes nothing)."""

    system = models.CharField(max_length=20, choices=CrmSystem.choices, unique=True)
    accounts_cursor = models.DateTimeField(null=True, blank=True)
    contacts_cursor = models.DateTimeField(null=True, blank=True)
    # Per engagement type (calls, meetings, notes): the ISO time of the last one applied.
    engagements_cursor = models.JSONField(default=dict, blank=True)
    last_full_at = models.DateTimeField(null=True, blank=True)
    last_push_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "CRM sync state"

    def __str__(self) -> str:
        return f"{self.get_system_display()} from {self.accounts_cursor or 'the start'}"


class CrmRecord(models.Model):
    """One CRM record linked to its account, with each side's last values: `pulled` is what the CRM
    said (field -> text, None when empty) when last read, `pushed` what Tend last wrote there. A
    change is a difference from these, so a re-read or a retried push writes nothing twice."""

    system = models.CharField(max_length=20, choices=CrmSystem.choices)
    crm_id = models.CharField(max_length=64)
    account = models.ForeignKey("csm.Account", on_delete=models.CASCADE, related_name="crm_records")
    pulled = models.JSONField(default=dict, blank=True)
    pushed = models.JSONField(default=dict, blank=True)
    modified_at = models.DateTimeField(null=True, blank=True, help_text="The CRM's last-modified time.")
    synced_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "CRM record"
        constraints = [
            models.UniqueConstraint(fields=["system", "crm_id"], name="crm_record_unique"),
            models.UniqueConstraint(fields=["system", "account"], name="crm_record_one_per_account"),
        ]

    def __str__(self) -> str:
        return f"{self.get_system_display()} {self.crm_id}"


class CrmSyncRun(models.Model):
    """The report of one pull or push: what it did to how many records, and why it refused any."""

    class Kind(models.TextChoices):
        PULL = "pull", "Pull (incremental)"
        RECONCILE = "reconcile", "Pull (full reconcile)"
        PUSH = "push", "Push"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        PARTIAL = "partial", "Done, some records refused"
        FAILED = "failed", "Failed (resumes from its cursor)"

    system = models.CharField(max_length=20, choices=CrmSystem.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    dry_run = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    read = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    archived = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    conflicts = models.PositiveIntegerField(default=0)
    contacts = models.PositiveIntegerField(default=0)
    api_calls = models.PositiveIntegerField(default=0)
    refusals = models.JSONField(
        default=list, blank=True, help_text="The first refused records: id, field, why."
    )
    notes = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    agent_run = models.ForeignKey(
        "agents_core.AgentRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "CRM sync run"
        indexes = [models.Index(fields=["system", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.get_system_display()} {self.get_kind_display()} at {self.started_at:%Y-%m-%d %H:%M}"


class CrmConflictQuerySet(OwnedQuerySet):
    owner_path = "account__owner"


class CrmConflict(models.Model):
    """A value changed on the side that does not own the field. Nothing was overwritten: both values
    are here until a person picks one."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        KEPT_CRM = "kept_crm", "Resolved: the CRM's value"
        KEPT_TEND = "kept_tend", "Resolved: Tend's value"

    system = models.CharField(max_length=20, choices=CrmSystem.choices)
    account = models.ForeignKey("csm.Account", on_delete=models.CASCADE, related_name="crm_conflicts")
    tend_field = models.CharField(max_length=40, choices=fields.CHOICES)
    crm_field = models.CharField(max_length=100)
    owner = models.CharField(max_length=10, choices=Side.choices, help_text="Who owns the field.")
    changed_on = models.CharField(max_length=10, choices=Side.choices, help_text="Where it was changed.")
    crm_value = models.TextField(null=True, blank=True)
    tend_value = models.TextField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    detected_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    run = models.ForeignKey(CrmSyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = CrmConflictQuerySet.as_manager()

    class Meta:
        ordering = ["-detected_at", "-id"]
        verbose_name = "CRM conflict"
        constraints = [
            # One open conflict per field; a new value on either side updates it.
            models.UniqueConstraint(
                fields=["system", "account", "tend_field"],
                condition=Q(status="open"),
                name="crm_conflict_one_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.tend_field}: CRM {self.crm_value!r}, Tend {self.tend_value!r}"


class CrmChangeQuerySet(OwnedQuerySet):
    owner_path = "account__owner"


class CrmChange(models.Model):
    """A value a pull changed on an account (a field the CRM owns, or one only the CRM changed): the
    account's timeline tells it, with what it was before."""

    account = models.ForeignKey("csm.Account", on_delete=models.CASCADE, related_name="crm_changes")
    system = models.CharField(max_length=20, choices=CrmSystem.choices)
    tend_field = models.CharField(max_length=40)
    old_value = models.CharField(max_length=500, blank=True)
    new_value = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField()
    run = models.ForeignKey(CrmSyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = CrmChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["account", "-changed_at", "-id"], name="crm_change_by_account")]

    def __str__(self) -> str:
        return f"{self.tend_field}: {self.old_value or '-'} -> {self.new_value or '-'}"


class ContactQuerySet(OwnedQuerySet):
    owner_path = "account__owner"


class Contact(models.Model):
    """A person at a customer: several per account, one of them the primary."""

    class Source(models.TextChoices):
        CRM = "crm", "CRM"
        USAGE = "usage", "Usage stream"
        MANUAL = "manual", "By hand"

    class Role(models.TextChoices):
        CHAMPION = "champion", "Champion"
        DECISION_MAKER = "decision_maker", "Decision maker"
        USER = "user", "User"

    account = models.ForeignKey("csm.Account", on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    title = models.CharField(max_length=200, blank=True)
    is_primary = models.BooleanField(default=False)
    role = models.CharField(
        max_length=20, choices=Role.choices, blank=True, help_text="Who they are to the account's success."
    )
    last_active_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Last seen in the product (the usage stream)."
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    crm_system = models.CharField(max_length=20, choices=CrmSystem.choices, blank=True)
    crm_id = models.CharField(max_length=64, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True, help_text="Removed in the CRM.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["account", "-is_primary", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["crm_system", "crm_id"], condition=~Q(crm_id=""), name="contact_one_per_crm_record"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "-is_primary"]),
            models.Index(fields=["role", "account"], name="contact_role"),
            # Survey answers and usage find a person by their address, whatever its case.
            models.Index(Lower("email"), name="contact_email_lower"),
        ]

    def __str__(self) -> str:
        return self.name or self.email or f"Contact {self.pk}"

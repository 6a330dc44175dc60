"""Salesforce through simple-salesforce: an OAuth access token and instance URL, or the JWT bearer
flow of a connected app; with Tend's own retries and a look at the org's daily allowance.

- Accounts and contacts are read by SOQL, incremental by `SystemModstamp` (ascending, from the
  cursor), in Salesforce's batches of up to 2,000 following `nextRecordsUrl`. A full reconcile
  reads every account; `queryAll` finds the deleted ones, and `MasterRecordId` on a deleted account
  names the survivor of a merge.
- Only fields the object has are asked for (SOQL refuses an unknown one): `describe` says which.
- Pushes are sObject collection updates of at most 200 records a call (`allOrNone: false`, so one
  bad record is refused on its own). Tend's fields are created through the Tooling API when they
  are missing (the integration user then needs field-level access to them: docs/integrations.md).
- The org's daily API allowance is shared with every other integration: each run reads `limits`
  first and stops when less than SALESFORCE_DAILY_RESERVE_PERCENT of it is left.

Switched off cleanly when neither an access token nor the JWT settings are set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from django.conf import settings
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from agents_core.integrations.backoff import retry_delay
from agents_core.integrations.crm import CrmBudgetExhausted, CrmError, FieldSpec, PushResult, RemoteRecord

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
NUMERIC = {"double", "currency", "percent", "int", "long"}
COLLECTION = 200
MODIFIED = "SystemModstamp"
CONTACT_FIELDS = ["Id", "AccountId", "FirstName", "LastName", "Email", "Title", MODIFIED]
# Activities read as interactions: completed Tasks (calls, emails, to-dos done) and Events (meetings).
ACTIVITIES = {
    "Task": ["Id", "AccountId", "Subject", "Description", "ActivityDate", "TaskSubtype", MODIFIED],
    "Event": ["Id", "AccountId", "Subject", "Description", "ActivityDate", "StartDateTime", MODIFIED],
}
TASK_KINDS = {"Call": "call", "Email": "email", "ListEmail": "email"}
KINDS = {
    "number": {"type": "Number", "precision": 18, "scale": 1},
    "text": {"type": "Text", "length": 255},
    "date": {"type": "Date"},
}
LONG_TEXT = {"type": "LongTextArea", "length": 2000, "visibleLines": 3}
# Field names a team cannot rename their way out of: the sync reads them whatever the mapping says.
ALWAYS = ("Id", "Name", MODIFIED)


@dataclass
class SalesforceGateway:
    client: Salesforce
    reserve_percent: float = 20.0
    max_retries: int = 4
    max_delay: float = 60.0
    sleep: Callable[[float], None] = field(default_factory=lambda: time.sleep)
    calls: int = 0
    system: str = "salesforce"
    _fields: set[str] | None = field(default=None, repr=False)
    _types: dict[str, str] = field(default_factory=dict, repr=False)

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        for attempt in range(self.max_retries + 1):
            self.calls += 1
            try:
                return function(*args, **kwargs)
            except SalesforceError as exc:
                if exc.status not in RETRYABLE_STATUS or attempt == self.max_retries:
                    raise CrmError(f"Salesforce answered {exc.status}: {str(exc.content)[:500]}") from exc
            except requests.RequestException as exc:
                if attempt == self.max_retries:
                    raise CrmError(f"Salesforce did not answer: {exc}") from exc
            self.sleep(retry_delay(None, attempt, most=self.max_delay))  # it sends no Retry-After
        raise AssertionError("unreachable")

    def check_budget(self) -> None:
        daily = self.call(self.client.limits).get("DailyApiRequests") or {}
        most, left = daily.get("Max") or 0, daily.get("Remaining") or 0
        if most and left < most * self.reserve_percent / 100:
            raise CrmBudgetExhausted(
                f"Salesforce's daily API allowance is {left:,} of {most:,} calls: under the "
                f"{self.reserve_percent:g}% kept for other integrations, so stopping; the next run resumes."
            )

    # -- reads -------------------------------------------------------------------------------------

    def field_names(self) -> set[str]:
        """The Account's fields (and the run's allowance checked first: this opens every run)."""
        self.check_budget()
        described = self.call(self.client.Account.describe)
        self._types = {f["name"]: f.get("type", "") for f in described.get("fields", [])}
        self._fields = set(self._types)
        return self._fields

    def owners(self) -> dict[str, str]:
        rows = self._query("SELECT Id, Email FROM User WHERE IsActive = true")
        return {r["Id"]: (r.get("Email") or "").strip().lower() for page in rows for r in page}

    def create_fields(self, specs: list[FieldSpec]) -> None:
        for spec in specs:
            kind = LONG_TEXT if spec.name.endswith("Explanation__c") else KINDS[spec.kind]
            metadata = {"label": spec.label, "description": spec.description, **kind}
            self.call(self.client.toolingexecute, "sobjects/CustomField", method="POST",
                      data={"FullName": f"Account.{spec.name}", "Metadata": metadata})  # fmt: skip
            self._types[spec.name] = {"number": "double", "date": "date"}.get(spec.kind, "string")

    def _select(self, fields: list[str]) -> str:
        known = self._fields if self._fields is not None else self.field_names()
        return ", ".join(sorted({*ALWAYS, *(f for f in fields if f in known)}))

    def changed_accounts(self, since: datetime | None, fields: list[str]) -> Iterator[list[RemoteRecord]]:
        where = f" WHERE {MODIFIED} >= {_soql_time(since)}" if since else ""
        soql = f"SELECT {self._select(fields)} FROM Account{where} ORDER BY {MODIFIED}, Id"
        for page in self._query(soql):
            yield [_record(r) for r in page]

    def all_accounts(self, fields: list[str], *, archived: bool = False) -> Iterator[list[RemoteRecord]]:
        if archived:
            soql = f"SELECT Id, {MODIFIED} FROM Account WHERE IsDeleted = true ORDER BY Id"
            for page in self._query(soql, include_deleted=True):
                yield [_record(r) for r in page]
            return
        for page in self._query(f"SELECT {self._select(fields)} FROM Account ORDER BY Id"):
            yield [_record(r) for r in page]

    def merged_since(self, since: datetime | None) -> list[tuple[str, str]]:
        """(merged-away id, survivor id) of the merges since `since`."""
        where = f" AND {MODIFIED} >= {_soql_time(since)}" if since else ""
        soql = (
            f"SELECT Id, MasterRecordId FROM Account WHERE IsDeleted = true AND MasterRecordId != null{where}"
        )
        return [
            (r["Id"], r["MasterRecordId"]) for page in self._query(soql, include_deleted=True) for r in page
        ]

    def deleted_contacts(self, since: datetime | None, *, full: bool) -> list[str]:
        """Contacts deleted in Salesforce since `since` (every one on a full reconcile)."""
        where = f" AND {MODIFIED} >= {_soql_time(since)}" if since and not full else ""
        soql = f"SELECT Id FROM Contact WHERE IsDeleted = true{where}"
        return [r["Id"] for page in self._query(soql, include_deleted=True) for r in page]

    def changed_contacts(self, since: datetime | None) -> Iterator[list[RemoteRecord]]:
        where = f" WHERE {MODIFIED} >= {_soql_time(since)}" if since else ""
        soql = f"SELECT {', '.join(CONTACT_FIELDS)} FROM Contact{where} ORDER BY {MODIFIED}, Id"
        for page in self._query(soql):
            yield [_contact(r) for r in page]

    def changed_engagements(
        self, since: dict[str, datetime | None]
    ) -> Iterator[tuple[str, list[RemoteRecord]]]:
        """Completed Tasks and Events changed since each one's cursor, on the account Salesforce
        gives them (`AccountId`), in the shape every CRM gives: kind, title, body, at."""
        for obj, names in ACTIVITIES.items():
            where = ["Status = 'Completed'"] if obj == "Task" else []
            if since.get(obj):
                where.append(f"{MODIFIED} >= {_soql_time(since[obj])}")
            clause = f" WHERE {' AND '.join(where)}" if where else ""
            soql = f"SELECT {', '.join(names)} FROM {obj}{clause} ORDER BY {MODIFIED}, Id"
            for page in self._query(soql):
                yield obj, [_activity(obj, r) for r in page]

    def _query(self, soql: str, *, include_deleted: bool = False) -> Iterator[list[dict]]:
        """Each batch of the query's answer, following nextRecordsUrl."""
        answer = self.call(self.client.query, soql, include_deleted=include_deleted)
        while True:
            yield answer.get("records") or []
            if answer.get("done", True) or not answer.get("nextRecordsUrl"):
                return
            answer = self.call(self.client.query_more, answer["nextRecordsUrl"], identifier_is_url=True)

    # -- writes ------------------------------------------------------------------------------------

    def update_accounts(self, rows: list[tuple[str, dict[str, str | None]]]) -> PushResult:
        result = PushResult()
        if not self._types:
            self.field_names()
        for first in range(0, len(rows), COLLECTION):
            batch = rows[first : first + COLLECTION]
            records = [{"attributes": {"type": "Account"}, "id": crm_id,
                        **{name: _typed(value, self._types.get(name, "")) for name, value in values.items()}}
                       for crm_id, values in batch]  # fmt: skip
            answer = self.call(self.client.restful, "composite/sobjects", method="PATCH",
                               json={"allOrNone": False, "records": records})  # fmt: skip
            for (crm_id, _values), outcome in zip(batch, answer, strict=False):
                if outcome.get("success"):
                    result.written.append(crm_id)
                else:
                    errors = outcome.get("errors") or [{}]
                    result.refused[crm_id] = "; ".join(
                        f"{e.get('statusCode', '')}: {e.get('message', '')}" for e in errors
                    )
        return result


def _typed(value: str | None, kind: str) -> Any:
    """Tend's text as the JSON Salesforce wants for the field's type: numbers as numbers."""
    if value is None or kind not in NUMERIC:
        return value
    try:
        return float(value)
    except ValueError:
        return value  # Salesforce refuses it, for this record only


def _soql_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _plain(record: dict) -> dict[str, str | None]:
    return {k: (None if v is None or v == "" else v) for k, v in record.items() if k != "attributes"}


def _record(record: dict) -> RemoteRecord:
    values = _plain(record)
    return RemoteRecord(
        id=str(record.get("Id") or ""), modified_at=_parse_time(record.get(MODIFIED)), values=values
    )


def _contact(record: dict) -> RemoteRecord:
    values = _plain(record)
    names = {"firstname": values.get("FirstName"), "lastname": values.get("LastName"),
             "email": values.get("Email"), "jobtitle": values.get("Title")}  # fmt: skip
    account = values.get("AccountId")
    return RemoteRecord(id=str(record.get("Id") or ""), modified_at=_parse_time(record.get(MODIFIED)),
                        values=names, account_ids=(str(account),) if account else ())  # fmt: skip


def _activity(obj: str, record: dict) -> RemoteRecord:
    values = _plain(record)
    kind = "meeting" if obj == "Event" else TASK_KINDS.get(values.get("TaskSubtype") or "", "note")
    account = values.get("AccountId")
    return RemoteRecord(
        id=str(record.get("Id") or ""),
        modified_at=_parse_time(record.get(MODIFIED)),
        values={
            "kind": kind,
            "title": values.get("Subject") or "",
            "body": values.get("Description") or "",
            "at": values.get("StartDateTime") or values.get("ActivityDate"),
        },
        account_ids=(str(account),) if account else (),
    )


def salesforce_configured() -> bool:
    """Whether either way in is set, without logging in."""
    token = bool(settings.SALESFORCE_ACCESS_TOKEN and settings.SALESFORCE_INSTANCE_URL)
    jwt_flow = bool(settings.SALESFORCE_USERNAME and settings.SALESFORCE_CONSUMER_KEY) and bool(
        settings.SALESFORCE_PRIVATE_KEY or settings.SALESFORCE_PRIVATE_KEY_FILE
    )
    return token or jwt_flow


def salesforce_gateway(session: requests.Session | None = None, **overrides: Any) -> SalesforceGateway | None:
    """A configured gateway, or None when Salesforce is not configured."""
    version = settings.SALESFORCE_API_VERSION
    if settings.SALESFORCE_ACCESS_TOKEN and settings.SALESFORCE_INSTANCE_URL:
        client = Salesforce(
            instance_url=settings.SALESFORCE_INSTANCE_URL,
            session_id=settings.SALESFORCE_ACCESS_TOKEN,
            version=version,
            session=session,
        )
    elif (
        settings.SALESFORCE_USERNAME
        and settings.SALESFORCE_CONSUMER_KEY
        and (settings.SALESFORCE_PRIVATE_KEY or settings.SALESFORCE_PRIVATE_KEY_FILE)
    ):
        key = {"privatekey": settings.SALESFORCE_PRIVATE_KEY} if settings.SALESFORCE_PRIVATE_KEY else {
            "privatekey_file": settings.SALESFORCE_PRIVATE_KEY_FILE}  # fmt: skip
        try:  # the JWT bearer flow: a connected app's certificate, the integration user's name
            client = Salesforce(
                username=settings.SALESFORCE_USERNAME,
                consumer_key=settings.SALESFORCE_CONSUMER_KEY,
                domain=settings.SALESFORCE_DOMAIN,
                version=version,
                session=session,
                **key,
            )
        except SalesforceError as exc:
            raise CrmError(f"Salesforce refused the JWT login: {exc}") from exc
    else:
        return None
    return SalesforceGateway(client, reserve_percent=settings.SALESFORCE_DAILY_RESERVE_PERCENT, **overrides)

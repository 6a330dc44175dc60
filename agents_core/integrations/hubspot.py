"""HubSpot through hubspot-api-client (a private app's access token), with Tend's own pacing and
retries.

- Companies are read by the search endpoint, sorted by `hs_lastmodifieddate` ascending from the
  cursor, 200 a page. Search stops at 10,000 results a query, so past that the query starts again
  from the last modified time seen, never by deep paging. A full reconcile lists every company
  (and the archived ones) through the objects endpoint, which has no such limit.
- Owners come from `crm/v3/owners`, matched to Tend users by email.
- Pushes are batch updates of at most 100 companies a call. Tend creates its properties when
  they are missing (group `companyinformation`).
- HubSpot allows a number of requests per 10 seconds (100 for most private apps, fewer for
  search: about 5 a second) and a number a day. The gateway spaces its requests to stay inside
  both windows, retries 429 and 5xx honouring Retry-After (exponential back-off where there is
  none), and stops the run when the day's remaining allowance (X-HubSpot-RateLimit-Daily-Remaining)
  falls under HUBSPOT_DAILY_RESERVE, so the other integrations keep theirs.

Switched off cleanly when HUBSPOT_ACCESS_TOKEN is not set: `hubspot_gateway()` returns None.
"""

from __future__ import annotations

import html
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.utils.html import strip_tags
from hubspot import HubSpot
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsError
from hubspot.crm.companies import BatchInputSimplePublicObjectBatchInput, PublicObjectSearchRequest
from hubspot.crm.companies.exceptions import ApiException as CompaniesError
from hubspot.crm.contacts import PublicObjectSearchRequest as ContactSearchRequest
from hubspot.crm.contacts.exceptions import ApiException as ContactsError
from hubspot.crm.objects import PublicObjectSearchRequest as EngagementSearchRequest
from hubspot.crm.objects.exceptions import ApiException as ObjectsError
from hubspot.crm.owners.exceptions import ApiException as OwnersError
from hubspot.crm.properties import PropertyCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesError
from urllib3.exceptions import HTTPError as TransportError
from urllib3.util.retry import Retry

from agents_core.integrations.backoff import retry_delay
from agents_core.integrations.crm import CrmBudgetExhausted, CrmError, FieldSpec, PushResult, RemoteRecord

API_ERRORS = (CompaniesError, ContactsError, OwnersError, PropertiesError, ObjectsError, AssociationsError)
RETRYABLE_STATUS = {429, 500, 502, 503, 504}
MODIFIED = "hs_lastmodifieddate"
SEARCH_PAGE = 200
SEARCH_WINDOW = 10_000  # results one search query pages through at most
BATCH = 100
PROPERTY_GROUP = "companyinformation"
KINDS = {"number": ("number", "number"), "text": ("string", "text"), "date": ("date", "date")}
# hs_buying_role: HubSpot's standard multi-select of a contact's part in buying (CHAMPION, ...).
# Engagements read as interactions: HubSpot object -> (Tend's kind, properties). Calls, meetings and
# notes come with the contacts scope; emails need `sales-email-read` for their content (not read).
ENGAGEMENTS = {
    "calls": ("call", ["hs_timestamp", "hs_call_title", "hs_call_body"]),
    "meetings": ("meeting", ["hs_timestamp", "hs_meeting_title", "hs_meeting_body", "hs_meeting_start_time"]),
    "notes": ("note", ["hs_timestamp", "hs_note_body"]),
}
ASSOCIATIONS_BATCH = 1_000  # ids per associations batch read
CONTACT_PROPERTIES = ["email", "firstname", "lastname", "jobtitle", "hs_buying_role", "associatedcompanyid",
                      MODIFIED]  # fmt: skip


@dataclass
class Window:
    """At most `limit` requests in any `seconds`."""

    limit: int
    seconds: float
    sent: deque = field(default_factory=deque)

    def wait(self, now: float) -> float:
        while self.sent and now - self.sent[0] >= self.seconds:
            self.sent.popleft()
        return 0.0 if len(self.sent) < self.limit else self.seconds - (now - self.sent[0])


@dataclass
class HubSpotGateway:
    client: HubSpot
    per_ten_seconds: int = 100
    searches_per_second: int = 4
    daily_reserve: int = 1_000
    max_retries: int = 5
    max_delay: float = 60.0
    sleep: Callable[[float], None] = field(default_factory=lambda: time.sleep)
    clock: Callable[[], float] = field(default_factory=lambda: time.monotonic)
    calls: int = 0
    daily_left: int | None = None  # what HubSpot's last answer said is left of the day's calls
    system: str = "hubspot"
    _apis: dict[str, Any] = field(default_factory=dict, repr=False)
    _windows: dict[str, Window] = field(default_factory=dict, repr=False)

    # -- transport ---------------------------------------------------------------------------------

    def _api(self, name: str) -> Any:
        """One API object per kind for the gateway's life (each holds its own connection pool)."""
        if name not in self._apis:
            crm = self.client.crm
            self._apis[name] = {
                "company_search": lambda: crm.companies.search_api,
                "company_basic": lambda: crm.companies.basic_api,
                "company_batch": lambda: crm.companies.batch_api,
                "contact_search": lambda: crm.contacts.search_api,
                "contact_basic": lambda: crm.contacts.basic_api,
                "owners": lambda: crm.owners.owners_api,
                "object_search": lambda: crm.objects.search_api,
                "associations": lambda: crm.associations.v4.batch_api,
                "properties": lambda: crm.properties.core_api,
            }[name]()
        return self._apis[name]

    def _pace(self, search: bool) -> None:
        windows = [self._windows.setdefault("all", Window(self.per_ten_seconds, 10.0))]
        if search:
            windows.append(self._windows.setdefault("search", Window(self.searches_per_second, 1.0)))
        for window in windows:
            wait = window.wait(self.clock())
            if wait > 0:
                self.sleep(wait)
        for window in windows:
            window.sent.append(self.clock())

    def call(self, function: Callable[..., Any], *, search: bool = False, **kwargs: Any) -> Any:
        """Call the client, paced and retried; returns the response's data. A call is not made when
        the day's allowance HubSpot last reported is under the reserve (a call that was made is
        never thrown away: a batch written is recorded as written)."""
        self._check_budget()
        for attempt in range(self.max_retries + 1):
            self._pace(search)
            self.calls += 1
            try:
                data, _status, headers = function(**kwargs)
            except API_ERRORS as exc:
                status = exc.status or 0
                if status not in RETRYABLE_STATUS or attempt == self.max_retries:
                    raise CrmError(f"HubSpot answered {status}: {_message(exc)}") from exc
                self.sleep(retry_delay((exc.headers or {}).get("Retry-After"), attempt, most=self.max_delay))
                continue
            except TransportError as exc:
                if attempt == self.max_retries:
                    raise CrmError(f"HubSpot did not answer: {exc}") from exc
                self.sleep(retry_delay(None, attempt, most=self.max_delay))
                continue
            remaining = (headers or {}).get("X-HubSpot-RateLimit-Daily-Remaining")
            if remaining is not None and str(remaining).isdigit():
                self.daily_left = int(remaining)
            return data
        raise AssertionError("unreachable")

    def _check_budget(self) -> None:
        if self.daily_left is not None and self.daily_left < self.daily_reserve:
            raise CrmBudgetExhausted(
                f"HubSpot's daily allowance is nearly spent ({self.daily_left} calls left, reserve "
                f"{self.daily_reserve}): stopping, the next run resumes."
            )

    # -- reads -------------------------------------------------------------------------------------

    def owners(self) -> dict[str, str]:
        """Owner id -> email, for every active owner."""
        found, after = {}, None
        while True:
            kwargs = {"limit": 100, "archived": False, **({"after": after} if after else {})}
            page = self.call(self._api("owners").get_page_with_http_info, **kwargs)
            for owner in page.results or []:
                found[str(owner.id)] = (owner.email or "").strip().lower()
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return found

    def field_names(self) -> set[str]:
        response = self.call(self._api("properties").get_all_with_http_info, object_type="companies")
        return {prop.name for prop in response.results or []}

    def create_fields(self, specs: list[FieldSpec]) -> None:
        for spec in specs:
            kind, field_type = KINDS[spec.kind]
            create = PropertyCreate(
                name=spec.name, label=spec.label, type=kind, field_type=field_type,
                group_name=PROPERTY_GROUP, description=spec.description,
            )  # fmt: skip
            self.call(
                self._api("properties").create_with_http_info, object_type="companies", property_create=create
            )

    def changed_accounts(self, since: datetime | None, fields: list[str]) -> Iterator[list[RemoteRecord]]:
        """Companies modified at or after `since` (all when None), oldest first, a page at a time."""
        properties = sorted({*fields, MODIFIED, "hs_merged_object_ids", "name"})
        yield from self._search(self._api("company_search"), PublicObjectSearchRequest, since, properties)

    def all_accounts(self, fields: list[str], *, archived: bool = False) -> Iterator[list[RemoteRecord]]:
        """Every company (or every archived one), a page of 100 at a time."""
        properties = sorted({*fields, MODIFIED, "hs_merged_object_ids", "name"})
        after = None
        while True:
            kwargs = {"limit": 100, "properties": properties, "archived": archived}
            if after:
                kwargs["after"] = after
            page = self.call(self._api("company_basic").get_page_with_http_info, **kwargs)
            yield [_record(item) for item in page.results or []]
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return

    def deleted_contacts(self, since: datetime | None, *, full: bool) -> list[str]:
        """Contacts deleted in HubSpot: listed on a full reconcile only (HubSpot cannot filter the
        archived list by time)."""
        if not full:
            return []
        found, after = [], None
        while True:
            kwargs = {"limit": 100, "archived": True, **({"after": after} if after else {})}
            page = self.call(self._api("contact_basic").get_page_with_http_info, **kwargs)
            found.extend(str(item.id) for item in page.results or [])
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return found

    def changed_contacts(self, since: datetime | None) -> Iterator[list[RemoteRecord]]:
        yield from self._search(self._api("contact_search"), ContactSearchRequest, since, CONTACT_PROPERTIES)

    def changed_engagements(
        self, since: dict[str, datetime | None]
    ) -> Iterator[tuple[str, list[RemoteRecord]]]:
        """Calls, meetings and notes changed since each one's cursor, a page at a time, each with
        the companies it is on (one associations call a page), in the shape every CRM gives:
        `values` holds kind, title, body (plain text) and at (when it happened)."""
        for obj, (kind, properties) in ENGAGEMENTS.items():
            search = _ObjectSearch(partial(self._api("object_search").do_search_with_http_info, obj))
            wanted = [*properties, MODIFIED]
            for page in self._search(search, EngagementSearchRequest, since.get(obj), wanted):
                companies = self._companies_of(obj, [r.id for r in page])
                yield obj, [_engagement(kind, r, companies.get(r.id, ())) for r in page]

    def _companies_of(self, obj: str, ids: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for first in range(0, len(ids), ASSOCIATIONS_BATCH):
            request = BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[{"id": i} for i in ids[first : first + ASSOCIATIONS_BATCH]]
            )
            answer = self.call(
                self._api("associations").get_page_with_http_info, from_object_type=obj,
                to_object_type="companies", batch_input_public_fetch_associations_batch_request=request,
            )  # fmt: skip
            for result in answer.results or []:
                found[str(result._from.id)] = [str(to.to_object_id) for to in result.to or []]
        return found

    def _search(self, api: Any, request_class: type, since: datetime | None, properties: list[str]):
        cursor, seen_at_cursor = since, set()
        while True:
            after, last_modified, fresh = None, cursor, 0
            while True:
                filters = (
                    [{"filters": [{"propertyName": MODIFIED, "operator": "GTE", "value": str(_ms(cursor))}]}]
                    if cursor else []
                )  # fmt: skip
                request = request_class(
                    filter_groups=filters, sorts=[{"propertyName": MODIFIED, "direction": "ASCENDING"}],
                    properties=properties, limit=SEARCH_PAGE, after=after,
                )  # fmt: skip
                page = self.call(
                    api.do_search_with_http_info, search=True, public_object_search_request=request
                )
                records = [_record(item) for item in page.results or []]
                # A record at the cursor's own instant was seen by the query before this one.
                new = [r for r in records if r.id not in seen_at_cursor]
                fresh += len(new)
                if new:
                    yield new
                    last_modified = records[-1].modified_at or last_modified
                after = page.paging.next.after if page.paging and page.paging.next else None
                if not after:
                    return
                if str(after).isdigit() and int(after) + SEARCH_PAGE > SEARCH_WINDOW:
                    break  # the window's end: query again from the last modified time seen
            if not fresh or last_modified is None:
                return
            seen_at_cursor = {r.id for r in records if r.modified_at == last_modified}
            cursor = last_modified

    # -- writes ------------------------------------------------------------------------------------

    def update_accounts(self, rows: list[tuple[str, dict[str, str | None]]]) -> PushResult:
        """Write fields of companies, 100 a call; a batch HubSpot refuses is written one by one so
        that one bad record does not hold back the others."""
        result = PushResult()
        for first in range(0, len(rows), BATCH):
            batch = rows[first : first + BATCH]
            inputs = [{"id": crm_id, "properties": {k: "" if v is None else v for k, v in values.items()}}
                      for crm_id, values in batch]  # fmt: skip
            try:
                self.call(
                    self._api("company_batch").update_with_http_info,
                    batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
                        inputs=inputs
                    ),
                )
                result.written.extend(crm_id for crm_id, _ in batch)
            except CrmBudgetExhausted:
                raise
            except CrmError as exc:
                if "answered 4" not in str(exc) or len(batch) == 1:
                    if len(batch) == 1:
                        result.refused[batch[0][0]] = str(exc)
                        continue
                    raise
                for one in inputs:
                    try:
                        self.call(
                            self._api("company_basic").update_with_http_info,
                            company_id=one["id"],
                            simple_public_object_input={"properties": one["properties"]},
                        )  # fmt: skip
                        result.written.append(one["id"])
                    except CrmBudgetExhausted:
                        raise
                    except CrmError as single:
                        result.refused[one["id"]] = str(single)
        return result


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _engagement(kind: str, record: RemoteRecord, companies) -> RemoteRecord:
    v = record.values
    body = v.get(f"hs_{kind}_body") or ""
    text = html.unescape(strip_tags(body.replace("<br>", "\n").replace("</p>", "</p>\n")))
    return RemoteRecord(
        id=record.id,
        modified_at=record.modified_at,
        values={
            "kind": kind,
            "title": v.get(f"hs_{kind}_title") or "",
            "body": text.strip(),
            "at": v.get("hs_meeting_start_time") or v.get("hs_timestamp"),
        },
        account_ids=tuple(companies),
    )


@dataclass(frozen=True)
class _ObjectSearch:
    """The generic objects search with its object type bound, shaped like the companies' search."""

    do_search_with_http_info: Callable[..., Any]


def _record(item: Any) -> RemoteRecord:
    properties = dict(item.properties or {})
    modified = properties.get(MODIFIED)
    merged = properties.pop("hs_merged_object_ids", None) or ""
    company = properties.get("associatedcompanyid")
    return RemoteRecord(
        id=str(item.id),
        modified_at=_parse_time(modified) or item.updated_at,
        values={k: (None if v in (None, "") else str(v)) for k, v in properties.items()},
        merged_ids=tuple(part for part in merged.split(";") if part.strip()),
        account_ids=(str(company),) if company else (),
    )


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _message(exc: Any) -> str:
    body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else str(exc.body or exc.reason)
    return body[:500]


def hubspot_configured() -> bool:
    return bool(settings.HUBSPOT_ACCESS_TOKEN)


def hubspot_gateway(**overrides: Any) -> HubSpotGateway | None:
    """A configured gateway, or None when HUBSPOT_ACCESS_TOKEN is not set."""
    token = settings.HUBSPOT_ACCESS_TOKEN
    if not token:
        return None
    # Retries are ours (counted, paced, bounded): urllib3's own, which would sleep out a 429's
    # Retry-After unseen, are off.
    client = HubSpot(
        access_token=token,
        host=settings.HUBSPOT_BASE_URL.rstrip("/"),
        retry=Retry(total=0, respect_retry_after_header=False),
    )
    options = {
        "per_ten_seconds": settings.HUBSPOT_REQUESTS_PER_10S,
        "searches_per_second": settings.HUBSPOT_SEARCHES_PER_SECOND,
        "daily_reserve": settings.HUBSPOT_DAILY_RESERVE,
        **overrides,
    }
    return HubSpotGateway(client, **options)

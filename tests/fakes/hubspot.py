"""A HubSpot stand-in on loopback: the subset of the CRM v3 API Tend uses (companies and contacts
search and listing, batch and single update, company properties, owners; calls, meetings and notes
search with their companies through the v4 associations batch read), written from HubSpot's
reference, checking what HubSpot checks:

- a private app's token as `Authorization: Bearer` (401 INVALID_AUTHENTICATION otherwise), JSON
  bodies with their Content-Type;
- search: `limit` at most 200, paging past 10,000 results refused (400), filters on
  `hs_lastmodifieddate` with GTE / GT and epoch-millisecond values, sorts by it ascending;
- listing: `limit` at most 100, an opaque `after` cursor, `archived=true` for deleted records;
- batch update: at most 100 inputs, every property existing and each value valid for its type
  (number, date as YYYY-MM-DD or midnight-UTC milliseconds), else the whole batch is refused (400);
- properties: created once (409 when the name exists), with a valid type and field type;
- unknown requested properties are left out of the answer, as HubSpot does;
- associations batch read: at most 1,000 inputs, each with an id; an engagement with no company
  comes back in `errors` with a 207 multi-status, as HubSpot answers;
- limits: queued failures (429 with Retry-After, 5xx) and a daily allowance counted in
  `X-HubSpot-RateLimit-Daily-Remaining`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

from tests.fakes.http import JSONHandler, serve

TOKEN = "pat-na1-test-token"
DEFAULT_PROPERTIES = {
    "companies": {
        "name": "string", "domain": "string", "hubspot_owner_id": "enumeration", "hs_object_id": "number",
        "createdate": "datetime", "hs_lastmodifieddate": "datetime", "hs_merged_object_ids": "enumeration",
        "annualrevenue": "number", "lifecyclestage": "enumeration",
    },
    "contacts": {
        "email": "string", "firstname": "string", "lastname": "string", "jobtitle": "string",
        "hs_buying_role": "enumeration",
        "associatedcompanyid": "number", "hs_object_id": "number", "createdate": "datetime",
        "hs_lastmodifieddate": "datetime",
    },
    "calls": {"hs_timestamp": "datetime", "hs_call_title": "string", "hs_call_body": "string",
              "hs_call_direction": "enumeration", "hs_object_id": "number",
              "hs_lastmodifieddate": "datetime"},
    "meetings": {"hs_timestamp": "datetime", "hs_meeting_title": "string", "hs_meeting_body": "string",
                 "hs_meeting_start_time": "datetime", "hs_object_id": "number",
                 "hs_lastmodifieddate": "datetime"},
    "notes": {"hs_timestamp": "datetime", "hs_note_body": "string", "hs_object_id": "number",
              "hs_lastmodifieddate": "datetime"},
}  # fmt: skip
ENGAGEMENTS = ("calls", "meetings", "notes")
OBJECTS = "companies|contacts|calls|meetings|notes"
TYPES = {
    "string": {"text", "textarea", "select"},
    "number": {"number"},
    "date": {"date"},
    "datetime": {"date"},
    "enumeration": {"select", "radio", "checkbox"},
    "bool": {"booleancheckbox"},
}
# The custom company properties a team keeps for Tend's default mapping (HubSpot has no standard ones).
TEND_PROPERTIES = {"arr": "number", "renewal_date": "date", "contract_start_date": "date",
                   "seats_purchased": "number", "plan": "string", "segment": "enumeration",
                   "tam_health": "enumeration"}  # fmt: skip
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _error(status: int, message: str, category: str = "VALIDATION_ERROR") -> tuple[int, dict]:
    return status, {"status": "error", "message": message, "category": category,
                    "correlationId": "00000000-0000-0000-0000-000000000000"}  # fmt: skip


class HubSpot:
    def __init__(self, *, daily_allowance: int = 250_000):
        self.objects: dict[str, dict[str, dict]] = {kind: {} for kind in DEFAULT_PROPERTIES}
        self.archived: dict[str, dict[str, dict]] = {kind: {} for kind in DEFAULT_PROPERTIES}
        # (engagement type, id) -> the companies it is associated with
        self.associations: dict[tuple[str, str], list[str]] = {}
        self.properties = {kind: dict(props) for kind, props in DEFAULT_PROPERTIES.items()}
        self.owners: dict[str, str] = {}
        self.clock = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
        self.failures: list[tuple[int, dict]] = []  # queued: (status, headers)
        self.calls: list[tuple[str, str]] = []
        self.batch_updates = 0
        self.search_window = 10_000  # results one search query may page through
        self.busy = 0.0  # seconds spent answering: the stand-in's share of a benchmark's time
        self._sorted: dict[str, tuple | None] = {kind: None for kind in DEFAULT_PROPERTIES}
        self.daily_remaining = daily_allowance
        self._next_id = 1000
        self.lock = threading.Lock()
        hubspot = self

        class Handler(JSONHandler):
            def do_GET(self):
                self._answer("GET", None)

            def do_POST(self):
                self._answer("POST", self.body())

            def do_PATCH(self):
                self._answer("PATCH", self.body())

            def _answer(self, method, raw):
                started = time.perf_counter()
                url = urlparse(self.path)
                query = parse_qs(url.query)
                with hubspot.lock:
                    hubspot.calls.append((method, url.path))
                    status, payload, headers = hubspot.handle(method, url.path, query, raw, self.headers)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                hubspot.busy += time.perf_counter() - started

        self.server, self.url = serve(Handler)

    # -- what a test does in HubSpot ----------------------------------------------------------------

    def tick(self, seconds: int = 60) -> datetime:
        self.clock += timedelta(seconds=seconds)
        return self.clock

    def add_owner(self, email: str) -> str:
        owner_id = str(500 + len(self.owners))
        self.owners[owner_id] = email
        return owner_id

    def add_property(self, name: str, kind: str = "string", obj: str = "companies") -> None:
        self.properties[obj][name] = kind

    def add(self, obj: str = "companies", **properties) -> str:
        self._sorted[obj] = None
        self._next_id += 1
        record_id = str(self._next_id)
        now = self.tick()
        self.objects[obj][record_id] = {
            "id": record_id, "createdAt": _iso(now), "updatedAt": _iso(now), "archived": False,
            "properties": {"hs_object_id": record_id, "createdate": _iso(now),
                           "hs_lastmodifieddate": _iso(now),
                           **{k: None if v is None else str(v) for k, v in properties.items()}},
        }  # fmt: skip
        return record_id

    def add_engagement(self, obj: str, companies: list[str], **properties) -> str:
        """A call, meeting or note logged on these companies (HubSpot's associations, v4)."""
        record_id = self.add(obj, **properties)
        self.associations[(obj, record_id)] = list(companies)
        return record_id

    def edit(self, record_id: str, obj: str = "companies", **properties) -> None:
        record = self.objects[obj][record_id]
        self._sorted[obj] = None
        now = self.tick()
        record["properties"].update({k: None if v is None else str(v) for k, v in properties.items()})
        record["properties"]["hs_lastmodifieddate"] = record["updatedAt"] = _iso(now)

    def delete(self, record_id: str, obj: str = "companies") -> None:
        record = self.objects[obj].pop(record_id)
        self._sorted[obj] = None
        record["archived"], record["archivedAt"] = True, _iso(self.tick())
        self.archived[obj][record_id] = record

    def merge(self, primary: str, secondary: str) -> None:
        """HubSpot's merge: the secondary disappears, the primary lists it in hs_merged_object_ids."""
        gone = self.objects["companies"].pop(secondary)
        merged = self.objects["companies"][primary]["properties"].get("hs_merged_object_ids") or ""
        ids = [i for i in merged.split(";") if i] + [gone["id"]]
        self.edit(primary, hs_merged_object_ids=";".join(ids))

    def value(self, record_id: str, name: str, obj: str = "companies"):
        return self.objects[obj][record_id]["properties"].get(name)

    def close(self):
        self.server.shutdown()

    # -- the API ------------------------------------------------------------------------------------

    def handle(self, method, path, query, raw, headers) -> tuple[int, dict, dict]:
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            status, payload = _error(401, "Authentication credentials not found.", "INVALID_AUTHENTICATION")
            return status, payload, {}
        if self.failures:
            status, extra = self.failures.pop(0)
            return status, _error(status, "You have reached your secondly limit.", "RATE_LIMITS")[1], extra
        if self.daily_remaining <= 0:
            status, payload = _error(429, "You have reached your daily limit.", "RATE_LIMITS")
            return status, payload, {}
        self.daily_remaining -= 1
        limits = {
            "X-HubSpot-RateLimit-Daily": "250000",
            "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily_remaining),
        }
        body = None
        if method in ("POST", "PATCH"):
            if not headers.get("Content-Type", "").startswith("application/json"):
                return *_error(415, "Content-Type must be application/json"), limits
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return *_error(400, "Invalid input JSON"), limits
        status, payload = self.route(method, path, query, body)
        return status, payload, limits

    def route(self, method, path, query, body) -> tuple[int, dict]:
        if path in ("/crm/v3/owners", "/crm/v3/owners/") and method == "GET":
            return self.list_owners(query)
        if m := re.fullmatch(rf"/crm/v3/properties/({OBJECTS})", path):
            return self.list_properties(m[1]) if method == "GET" else self.create_property(m[1], body)
        if m := re.fullmatch(r"/crm/v4/associations/(\w+)/(\w+)/batch/read", path):
            return (
                self.read_associations(m[1], m[2], body)
                if method == "POST"
                else _error(405, "Method not allowed")
            )
        if m := re.fullmatch(rf"/crm/v3/objects/({OBJECTS})/search", path):
            return self.search(m[1], body) if method == "POST" else _error(405, "Method not allowed")
        if m := re.fullmatch(r"/crm/v3/objects/(companies|contacts)/batch/update", path):
            return self.batch_update(m[1], body) if method == "POST" else _error(405, "Method not allowed")
        if m := re.fullmatch(r"/crm/v3/objects/(companies|contacts)", path):
            return self.list_objects(m[1], query) if method == "GET" else _error(405, "Method not allowed")
        if (m := re.fullmatch(r"/crm/v3/objects/(companies|contacts)/(\d+)", path)) and method == "PATCH":
            return self.update_one(m[1], m[2], body)
        return _error(404, f"No route for {method} {path}", "OBJECT_NOT_FOUND")

    def read_associations(self, source, target, body):
        """v4 batch read: at most 1,000 ids; those with no association come back as errors (207)."""
        if source not in ENGAGEMENTS or target != "companies":
            return _error(400, f"Unable to infer object type from: {source} -> {target}")
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            return _error(400, "inputs: a list of {id} is required")
        if len(inputs) > 1_000:
            return _error(400, "Batch input limit exceeded: at most 1000 inputs")
        if not all(isinstance(i, dict) and str(i.get("id", "")).isdigit() for i in inputs):
            return _error(400, "each input needs an id")
        now = _iso(self.clock)
        results, errors = [], []
        for item in inputs:
            companies = self.associations.get((source, str(item["id"])))
            if companies:
                results.append(
                    {
                        "from": {"id": str(item["id"])},
                        "to": [
                            {
                                "toObjectId": int(c),
                                "associationTypes": [
                                    {"category": "HUBSPOT_DEFINED", "typeId": 182, "label": None}
                                ],
                            }
                            for c in companies
                        ],
                    }
                )
            else:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "NO_ASSOCIATIONS_FOUND",
                        "message": f"No {target} is associated with {source} {item['id']}.",
                        "context": {"fromObjectId": [str(item["id"])]},
                    }
                )
        answer = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        if errors:
            return 207, {**answer, "numErrors": len(errors), "errors": errors}
        return 200, answer

    def list_owners(self, query):
        limit = int(query.get("limit", ["100"])[0])
        if not 1 <= limit <= 500:
            return _error(400, "limit must be between 1 and 500")
        start = int(query.get("after", ["0"])[0])
        owners = sorted(self.owners.items())
        page = owners[start : start + limit]
        now = _iso(self.clock)
        results = [{"id": i, "email": e, "firstName": "", "lastName": "", "userId": int(i), "type": "PERSON",
                    "createdAt": now, "updatedAt": now, "archived": False} for i, e in page]  # fmt: skip
        paging = {"next": {"after": str(start + limit)}} if start + limit < len(owners) else None
        return 200, {"results": results, **({"paging": paging} if paging else {})}

    def list_properties(self, obj):
        group = "companyinformation"
        return 200, {"results": [
            {"name": n, "label": n, "type": t, "fieldType": sorted(TYPES[t])[0], "groupName": group,
             "description": "", "options": []} for n, t in self.properties[obj].items()
        ]}  # fmt: skip

    def create_property(self, obj, body):
        name, kind, field_type = body.get("name"), body.get("type"), body.get("fieldType")
        if not name or not PROPERTY_NAME.match(name) or not body.get("label") or not body.get("groupName"):
            return _error(400, "name (lower case, digits, _), label and groupName are required")
        if kind not in TYPES or field_type not in TYPES[kind]:
            return _error(400, f"fieldType {field_type!r} does not go with type {kind!r}")
        if name in self.properties[obj]:
            return _error(409, f"A property named '{name}' already exists.", "OBJECT_ALREADY_EXISTS")
        self.properties[obj][name] = kind
        return 201, {
            "name": name,
            "label": body["label"],
            "type": kind,
            "fieldType": field_type,
            "groupName": body["groupName"],
            "description": body.get("description", ""),
            "options": [],
        }

    def _shown(self, obj, record, names):
        wanted = {"hs_object_id", "createdate", "hs_lastmodifieddate", *names}
        props = {k: v for k, v in record["properties"].items() if k in wanted and k in self.properties[obj]}
        return {**{k: v for k, v in record.items() if k != "properties"}, "properties": props}

    def search(self, obj, body):
        limit = body.get("limit", 10)
        after = int(body.get("after") or 0)
        if not isinstance(limit, int) or not 1 <= limit <= 200:
            return _error(400, "limit must be between 1 and 200")
        if after + limit > self.search_window:
            return _error(400, "Paging past 10,000 results is not supported: narrow the search.")
        if self._sorted[obj] is None or len(self._sorted[obj][0]) != len(self.objects[obj]):
            ordered = sorted(self.objects[obj].values(), key=lambda r: (self._modified(r), int(r["id"])))
            self._sorted[obj] = (ordered, [self._modified(r) for r in ordered])
        records, keys = self._sorted[obj]
        for group in body.get("filterGroups") or []:
            for flt in group.get("filters") or []:
                if flt.get("propertyName") != "hs_lastmodifieddate" or flt.get("operator") not in (
                    "GTE",
                    "GT",
                ):
                    return _error(400, "this stand-in filters on hs_lastmodifieddate GTE / GT only")
                if not str(flt.get("value", "")).isdigit():
                    return _error(400, "a datetime filter's value is epoch milliseconds")
                since = datetime.fromtimestamp(int(flt["value"]) / 1000, tz=UTC)
                cut = (bisect_left if flt["operator"] == "GTE" else bisect_right)(keys, since)
                records, keys = records[cut:], keys[cut:]
        sorts = body.get("sorts") or []
        for sort in sorts:
            name = sort.get("propertyName") if isinstance(sort, dict) else str(sort).lstrip("-")
            if name != "hs_lastmodifieddate":
                return _error(400, "this stand-in sorts on hs_lastmodifieddate only")
        page = records[after : after + limit]
        names = body.get("properties") or []
        result = {"total": len(records), "results": [self._shown(obj, r, names) for r in page]}
        if after + limit < len(records):
            result["paging"] = {"next": {"after": str(after + limit)}}
        return 200, result

    def _modified(self, record):
        return datetime.fromisoformat(record["properties"]["hs_lastmodifieddate"].replace("Z", "+00:00"))

    def list_objects(self, obj, query):
        limit = int(query.get("limit", ["10"])[0])
        if not 1 <= limit <= 100:
            return _error(400, "limit must be between 1 and 100")
        archived = query.get("archived", ["false"])[0].lower() == "true"  # the client sends "True"
        names = [n for value in query.get("properties", []) for n in value.split(",") if n]
        source = self.archived[obj] if archived else self.objects[obj]
        records = sorted(source.values(), key=lambda r: int(r["id"]))
        after = query.get("after", [None])[0]
        start = 0
        if after:
            if not after.startswith("c"):
                return _error(400, "after is the cursor of the previous page")
            start = int(after[1:])
        page = records[start : start + limit]
        result = {"results": [self._shown(obj, r, names) for r in page]}
        if start + limit < len(records):
            result["paging"] = {"next": {"after": f"c{start + limit}", "link": "?after=..."}}
        return 200, result

    def _problem(self, obj, properties) -> str | None:
        for name, value in (properties or {}).items():
            kind = self.properties[obj].get(name)
            if kind is None:
                return f'Property "{name}" does not exist (PROPERTY_DOESNT_EXIST)'
            if value in (None, ""):
                continue
            if kind == "number":
                try:
                    float(value)
                except (TypeError, ValueError):
                    return f"{value!r} is not a valid number for {name} (INVALID_INTEGER)"
            if kind == "date" and not (
                re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value))
                or (str(value).isdigit() and int(value) % 86_400_000 == 0)
            ):
                return f"{value!r} is not a valid date for {name}: midnight UTC (INVALID_DATE)"
        return None

    def batch_update(self, obj, body):
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= 100:
            return _error(400, "inputs: between 1 and 100 records a batch")
        for one in inputs:
            if str(one.get("id")) not in self.objects[obj]:
                return _error(400, f"Record {one.get('id')} does not exist (OBJECT_NOT_FOUND)")
            if problem := self._problem(obj, one.get("properties")):
                return _error(400, f"Property values were not valid: {problem}")
        self.batch_updates += 1
        started = _iso(self.clock)
        results = []
        for one in inputs:
            self.edit(
                str(one["id"]), obj, **{k: (v if v != "" else None) for k, v in one["properties"].items()}
            )
            results.append(self._shown(obj, self.objects[obj][str(one["id"])], list(one["properties"])))
        return 200, {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": _iso(self.clock),
        }

    def update_one(self, obj, record_id, body):
        if record_id not in self.objects[obj]:
            return _error(404, f"Object {record_id} not found", "OBJECT_NOT_FOUND")
        if problem := self._problem(obj, body.get("properties")):
            return _error(400, f"Property values were not valid: {problem}")
        self.edit(record_id, obj, **{k: (v if v != "" else None) for k, v in body["properties"].items()})
        return 200, self._shown(obj, self.objects[obj][record_id], list(body["properties"]))

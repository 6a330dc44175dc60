"""A Salesforce stand-in on loopback, over TLS (simple-salesforce always speaks https; the test
trusts the stand-in's own certificate): the subset of the REST API Tend uses, written from
Salesforce's reference, checking what Salesforce checks:

- `Authorization: Bearer <access token>` (401 INVALID_SESSION_ID otherwise), the API version in
  the path;
- SOQL queries (`query`, and `queryAll` for deleted and merged records) of the form Tend sends:
  `SELECT <fields> FROM Account|Contact|User|Task|Event [WHERE ...] ORDER BY ...`, every field existing on the
  object (400 INVALID_FIELD otherwise), answered in batches of 2,000 with `nextRecordsUrl`;
- `sobjects/<object>/describe`, `limits` (DailyApiRequests, counted down per call);
- sObject collections update (`composite/sobjects`, PATCH): at most 200 records, each field
  existing and its value valid for its type, per-record results with `allOrNone: false`;
- Tooling API `sobjects/CustomField` (POST) to create a field, refused when it exists.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import ssl
import tempfile
import threading
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fakes.http import JSONHandler, serve

TOKEN = "00Dxx0000000001!AQ4AQFakeAccessToken"
VERSION = "62.0"
BATCH = 2_000
STANDARD = {
    "Account": {"Id": "id", "Name": "string", "OwnerId": "reference", "SystemModstamp": "datetime",
                "IsDeleted": "boolean", "MasterRecordId": "reference", "AnnualRevenue": "currency",
                "Type": "picklist"},
    "Contact": {"Id": "id", "AccountId": "reference", "FirstName": "string", "LastName": "string",
                "Email": "email", "Title": "string", "SystemModstamp": "datetime", "IsDeleted": "boolean"},
    "User": {"Id": "id", "Email": "email", "IsActive": "boolean", "Name": "string"},
    "Task": {"Id": "id", "AccountId": "reference", "WhatId": "reference", "Subject": "string",
             "Description": "textarea", "ActivityDate": "date", "TaskSubtype": "picklist",
             "Status": "picklist",
             "SystemModstamp": "datetime", "IsDeleted": "boolean"},
    "Event": {"Id": "id", "AccountId": "reference", "WhatId": "reference", "Subject": "string",
              "Description": "textarea", "ActivityDate": "date", "StartDateTime": "datetime",
              "SystemModstamp": "datetime", "IsDeleted": "boolean"},
}  # fmt: skip
SOQL = re.compile(
    r"^SELECT (?P<fields>[\w, ]+) FROM (?P<object>\w+)(?: WHERE (?P<where>.+?))?"
    r"(?: ORDER BY (?P<order>[\w, ]+?))?(?: LIMIT (?P<limit>\d+))?$"
)


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


LOOPBACK = ipaddress.ip_address("127.0.0.1")


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOOPBACK)]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


class Salesforce:
    def __init__(self, *, daily_max: int = 100_000):
        self.fields = {obj: dict(fields) for obj, fields in STANDARD.items()}
        self.records: dict[str, dict[str, dict]] = {obj: {} for obj in STANDARD}
        self.clock = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
        self.daily_max, self.daily_remaining = daily_max, daily_max
        self.calls: list[tuple[str, str]] = []
        self.collection_updates = 0
        self.failures: list[int] = []  # queued statuses to answer with
        self.busy = 0.0
        self.app: dict | None = None
        self._cursors: dict[str, list[dict]] = {}
        self._next = 1
        self.lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory()
        cert, key = _certificate(Path(self._dir.name))
        self.ca_file = str(cert)
        salesforce = self

        class Handler(JSONHandler):
            def do_GET(self):
                self._answer("GET", None)

            def do_POST(self):
                self._answer("POST", self.body())

            def do_PATCH(self):
                self._answer("PATCH", self.body())

            def _answer(self, method, raw):
                import time

                started = time.perf_counter()
                with salesforce.lock:
                    salesforce.calls.append((method, urlparse(self.path).path))
                    status, payload = salesforce.handle(method, self.path, raw, self.headers)
                self.send_json(status, payload)
                salesforce.busy += time.perf_counter() - started

        self.server, url = serve(Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.instance_url = url.replace("http://", "https://")

    # -- what a test does in Salesforce -------------------------------------------------------------

    def tick(self, seconds: int = 60) -> dt.datetime:
        self.clock += dt.timedelta(seconds=seconds)
        return self.clock

    def add_field(self, name: str, kind: str = "string", obj: str = "Account") -> None:
        self.fields[obj][name] = kind

    def _id(self, obj: str) -> str:
        self._next += 1
        prefix = {"Account": "001", "Contact": "003", "User": "005", "Task": "00T", "Event": "00U"}[obj]
        return f"{prefix}{self._next:012d}AAA"[:18]

    def add(self, obj: str = "Account", **values) -> str:
        record_id = self._id(obj)
        self.records[obj][record_id] = {"Id": record_id, "IsDeleted": False, "MasterRecordId": None, **values,
                                        "SystemModstamp": _stamp(self.tick())}  # fmt: skip
        return record_id

    def add_user(self, email: str, *, active: bool = True) -> str:
        return self.add("User", Email=email, IsActive=active, Name=email.split("@")[0])

    def edit(self, record_id: str, obj: str = "Account", **values) -> None:
        self.records[obj][record_id].update(values, SystemModstamp=_stamp(self.tick()))

    def delete(self, record_id: str, obj: str = "Account") -> None:
        self.edit(record_id, obj, IsDeleted=True)

    def merge(self, master: str, victim: str) -> None:
        """Salesforce's merge: the victim is deleted with MasterRecordId naming the survivor."""
        self.edit(victim, IsDeleted=True, MasterRecordId=master)
        self.edit(master)

    def value(self, record_id: str, name: str, obj: str = "Account"):
        return self.records[obj][record_id].get(name)

    def close(self):
        self.server.shutdown()
        self._dir.cleanup()

    # -- the API ------------------------------------------------------------------------------------

    def connected_app(self, *, consumer_key: str, certificate_key, username: str) -> None:
        """A connected app for the JWT bearer flow: its consumer key, the public key of its
        certificate, and the pre-authorized integration user."""
        self.app = {"consumer_key": consumer_key, "public_key": certificate_key, "username": username}

    def token(self, raw: bytes):
        """OAuth 2.0 JWT bearer: the assertion signed with the app's certificate (RS256), issued by
        its consumer key, for its user, to https://login.salesforce.com, not expired."""
        import jwt

        form = {k: v[0] for k, v in parse_qs((raw or b"").decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or not self.app:
            return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
        try:
            claims = jwt.decode(
                form.get("assertion", ""), self.app["public_key"], algorithms=["RS256"],
                audience="https://login.salesforce.com", options={"require": ["exp", "iss", "sub"]},
            )  # fmt: skip
        except jwt.PyJWTError as exc:
            return 400, {"error": "invalid_grant", "error_description": f"invalid assertion: {exc}"}
        if claims["iss"] != self.app["consumer_key"]:
            return 400, {"error": "invalid_client_id", "error_description": "client identifier invalid"}
        if claims["sub"] != self.app["username"]:
            return 400, {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}
        return 200, {"access_token": TOKEN, "instance_url": self.instance_url, "token_type": "Bearer",
                     "scope": "api", "id": f"{self.instance_url}/id/00D/005"}  # fmt: skip

    def handle(self, method, raw_path, raw, headers):
        if urlparse(raw_path).path == "/services/oauth2/token" and method == "POST":
            return self.token(raw)
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        url = urlparse(raw_path)
        prefix = f"/services/data/v{VERSION}/"
        if not url.path.startswith(prefix):
            return 404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
        if self.failures:
            status = self.failures.pop(0)
            return status, [{"message": "Server busy", "errorCode": "SERVER_UNAVAILABLE"}]
        if self.daily_remaining <= 0:
            return 403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        self.daily_remaining -= 1
        path = url.path[len(prefix) :].rstrip("/")
        body = json.loads(raw) if raw else None
        query = parse_qs(url.query)
        if path == "limits" and method == "GET":
            return 200, {"DailyApiRequests": {"Max": self.daily_max, "Remaining": self.daily_remaining}}
        if (m := re.fullmatch(r"sobjects/(\w+)/describe", path)) and method == "GET":
            if m[1] not in self.fields:
                return 404, [
                    {"message": f"sObject type '{m[1]}' is not supported.", "errorCode": "NOT_FOUND"}
                ]
            return 200, {
                "name": m[1],
                "fields": [{"name": n, "type": t} for n, t in self.fields[m[1]].items()],
            }
        if path in ("query", "queryAll") and method == "GET":
            return self.query(unquote(query.get("q", [""])[0]), include_deleted=path == "queryAll")
        if (m := re.fullmatch(r"query/(\w+)-(\d+)", path)) and method == "GET":
            return self.more(m[1], int(m[2]))
        if path == "composite/sobjects" and method == "PATCH":
            return self.update_collection(body)
        if path == "tooling/sobjects/CustomField" and method == "POST":
            return self.create_field(body)
        return 404, [{"message": f"No such resource: {method} {path}", "errorCode": "NOT_FOUND"}]

    def query(self, soql: str, *, include_deleted: bool):
        m = SOQL.match(soql.strip())
        if not m or m["object"] not in self.fields:
            return 400, [{"message": f"unexpected SOQL: {soql[:200]}", "errorCode": "MALFORMED_QUERY"}]
        obj, names = m["object"], [f.strip() for f in m["fields"].split(",")]
        unknown = [n for n in names if n not in self.fields[obj]]
        if unknown:
            return 400, [
                {"message": f"No such column '{unknown[0]}' on entity '{obj}'.", "errorCode": "INVALID_FIELD"}
            ]
        rows = [r for r in self.records[obj].values() if include_deleted or not r.get("IsDeleted")]
        for clause in (m["where"] or "").split(" AND ") if m["where"] else []:
            rows = self._where(obj, rows, clause.strip())
            if isinstance(rows, tuple):
                return rows
        order = [o.strip().split(" ")[0] for o in (m["order"] or "Id").split(",")]
        rows.sort(key=lambda r: tuple(str(r.get(o) or "") for o in order))
        if m["limit"]:
            rows = rows[: int(m["limit"])]
        shown = [{"attributes": {"type": obj, "url": f"/services/data/v{VERSION}/sobjects/{obj}/{r['Id']}"},
                  **{n: r.get(n) for n in names}} for r in rows]  # fmt: skip
        cursor = f"01g{len(self._cursors):015d}"
        self._cursors[cursor] = shown
        return self.more(cursor, 0)

    def _where(self, obj, rows, clause):
        if m := re.fullmatch(
            r"SystemModstamp (>=|>) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d{4}))", clause
        ):
            since = dt.datetime.fromisoformat(m[2].replace("Z", "+00:00"))
            stamp = lambda r: dt.datetime.fromisoformat(r["SystemModstamp"])  # noqa: E731
            return [r for r in rows if (stamp(r) >= since if m[1] == ">=" else stamp(r) > since)]
        if m := re.fullmatch(r"(IsDeleted|IsActive) = (true|false)", clause):
            return [r for r in rows if bool(r.get(m[1])) == (m[2] == "true")]
        if m := re.fullmatch(r"Status = '(\w+)'", clause):
            if "Status" not in self.fields[obj]:
                return 400, [
                    {"message": f"No such column 'Status' on entity '{obj}'.", "errorCode": "INVALID_FIELD"}
                ]
            return [r for r in rows if r.get("Status") == m[1]]
        if m := re.fullmatch(r"MasterRecordId != null", clause):
            return [r for r in rows if r.get("MasterRecordId")]
        return 400, [
            {"message": f"this stand-in does not filter on: {clause}", "errorCode": "MALFORMED_QUERY"}
        ]

    def more(self, cursor: str, start: int):
        rows = self._cursors.get(cursor)
        if rows is None:
            return 400, [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]
        page = rows[start : start + BATCH]
        done = start + BATCH >= len(rows)
        answer = {"totalSize": len(rows), "done": done, "records": page}
        if not done:
            answer["nextRecordsUrl"] = f"/services/data/v{VERSION}/query/{cursor}-{start + BATCH}"
        return 200, answer

    def _problem(self, obj, name, value):
        kind = self.fields[obj].get(name)
        if kind is None:
            message = f"No such column '{name}' on sobject of type {obj}"
            return {"statusCode": "INVALID_FIELD", "message": message, "fields": [name]}
        if value is None:
            return None
        if kind in ("double", "currency", "percent") and not isinstance(value, int | float):
            message = f"{name}: value not of required type"
            return {"statusCode": "INVALID_TYPE_ON_FIELD_IN_RECORD", "message": message, "fields": [name]}
        if kind == "date" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):
            return {"statusCode": "INVALID_TYPE_ON_FIELD_IN_RECORD", "message": f"{name}: not a date",
                    "fields": [name]}  # fmt: skip
        return None

    def update_collection(self, body):
        records = (body or {}).get("records")
        if not isinstance(records, list) or not 1 <= len(records) <= 200:
            return 400, [{"message": "records: between 1 and 200", "errorCode": "INVALID_BATCH_SIZE"}]
        if body.get("allOrNone") is not False:
            return 400, [{"message": "this stand-in expects allOrNone: false", "errorCode": "INVALID_FIELD"}]
        self.collection_updates += 1
        results = []
        for record in records:
            obj = (record.get("attributes") or {}).get("type")
            record_id = record.get("id")
            stored = self.records.get(obj, {}).get(record_id)
            if stored is None or stored.get("IsDeleted"):
                gone = {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}
                results.append({"id": record_id, "success": False, "errors": [gone]})
                continue
            values = {k: v for k, v in record.items() if k not in ("attributes", "id")}
            problems = [p for name, value in values.items() if (p := self._problem(obj, name, value))]
            if problems:
                results.append({"id": record_id, "success": False, "errors": problems})
                continue
            self.edit(record_id, obj, **values)
            results.append({"id": record_id, "success": True, "errors": []})
        return 200, results

    def create_field(self, body):
        full = (body or {}).get("FullName", "")
        metadata = (body or {}).get("Metadata") or {}
        m = re.fullmatch(r"(\w+)\.(\w+__c)", full)
        if not m or m[1] not in self.fields or not metadata.get("label") or not metadata.get("type"):
            return 400, [
                {"message": "FullName Object.Name__c, Metadata label and type", "errorCode": "INVALID_FIELD"}
            ]
        if m[2] in self.fields[m[1]]:
            return 400, [
                {"message": f"duplicate developer name {m[2]}", "errorCode": "DUPLICATE_DEVELOPER_NAME"}
            ]
        kinds = {"Number": "double", "Text": "string", "LongTextArea": "textarea", "Date": "date"}
        if metadata["type"] not in kinds:
            return 400, [{"message": f"unknown type {metadata['type']}", "errorCode": "INVALID_TYPE"}]
        if metadata["type"] in ("Text",) and not 1 <= int(metadata.get("length", 0)) <= 255:
            return 400, [
                {"message": "Text fields need a length of 1 to 255", "errorCode": "FIELD_INTEGRITY_EXCEPTION"}
            ]
        self.fields[m[1]][m[2]] = kinds[metadata["type"]]
        return 201, {"id": f"00N{len(self.fields[m[1]]):015d}", "success": True, "errors": []}

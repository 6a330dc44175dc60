"""The real Gmail client against a loopback stand-in for Google's token endpoint and the Gmail API.

The stand-in checks what Google checks: the service account's signed JWT
(signature, audience, the subject it impersonates and the scopes it asks
for), the bearer token on every API call, and the scope each method needs.
gmail.compose also allows messages.send (Google's scope list says so): that
Tend never sends is its code's promise, checked here by the calls it makes.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

from agents_core.integrations import gmail
from tests.fakes.http import JSONHandler, serve

COMPOSE = "https://www.googleapis.com/auth/gmail.compose"
SEND = "https://www.googleapis.com/auth/gmail.send"
# The audience Google's token endpoint requires of a service account's assertion
# (google-auth signs for it whatever token_uri the request goes to).
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
# What each Gmail method accepts (a subset of Google's list), by method and path.
METHOD_SCOPES = {
    ("GET", "/gmail/v1/users/me/drafts"): {COMPOSE, "https://mail.google.com/"},
    ("POST", "/gmail/v1/users/me/drafts"): {COMPOSE, "https://mail.google.com/"},
    ("POST", "/gmail/v1/users/me/messages/send"): {SEND, COMPOSE, "https://mail.google.com/"},
}


class Google:
    def __init__(self):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self.tokens: dict[str, dict] = {}  # access token -> the grant it came from
        self.grants: list[dict] = []
        self.calls: list[tuple[str, str, int]] = []
        self.drafts: list[dict] = []
        google = self

        class Handler(JSONHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/token":
                    return self._token(parse_qs(body.decode()))
                return self._api("POST", body)

            def do_GET(self):
                return self._api("GET", b"")

            def _token(self, form):
                if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
                    return self.send_json(400, {"error": "unsupported_grant_type"})
                try:
                    claims = jwt.decode(
                        form["assertion"][0], certs=google.public_pem, audience=GOOGLE_TOKEN_AUDIENCE
                    )
                except Exception as exc:  # a bad signature, audience or expiry
                    return self.send_json(400, {"error": "invalid_grant", "error_description": str(exc)})
                google.grants.append(claims)
                token = f"ya29.{len(google.grants)}"
                google.tokens[token] = claims
                return self.send_json(
                    200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
                )

            def _api(self, method, body):
                url = urlparse(self.path)
                grant = google.tokens.get(self.headers.get("Authorization", "").removeprefix("Bearer "))
                if grant is None:
                    google.calls.append((method, url.path, 401))
                    return self.send_json(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
                granted = set(grant["scope"].split())
                if not granted & METHOD_SCOPES.get((method, url.path), set()):
                    google.calls.append((method, url.path, 403))
                    message = "Request had insufficient authentication scopes."
                    return self.send_json(
                        403, {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": message}}
                    )
                google.calls.append((method, url.path, 200))
                if method == "GET":
                    wanted = parse_qs(url.query).get("q", [""])[0].removeprefix("rfc822msgid:")
                    found = [d for d in google.drafts if d["message_id"] == wanted]
                    return self.send_json(200, {"drafts": [{"id": d["id"]} for d in found]} if found else {})
                raw = json.loads(body)["message"]["raw"]
                import base64
                import email

                sent = email.message_from_bytes(base64.urlsafe_b64decode(raw))
                draft = {"id": f"r-{len(google.drafts) + 1}", "message_id": sent["Message-ID"].strip("<>"),
                         "owner": grant["sub"]}  # fmt: skip
                google.drafts.append(draft)
                return self.send_json(200, {"id": draft["id"], "message": {"id": f"m-{len(google.drafts)}"}})

        self.server, self.base = serve(Handler)
        self.token_uri = f"{self.base}/token"
        self.key_json = json.dumps(
            {
                "type": "service_account",
                "project_id": "tend-test",
                "private_key_id": "key-1",
                "private_key": private_pem,
                "client_email": "tend@tend-test.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": self.token_uri,
            }
        )


@pytest.fixture
def google(settings):
    stand_in = Google()
    settings.GMAIL_SERVICE_ACCOUNT_JSON = stand_in.key_json
    settings.GMAIL_SERVICE_ACCOUNT_FILE = ""
    settings.GMAIL_API_ENDPOINT = stand_in.base + "/"
    yield stand_in
    stand_in.server.shutdown()


def test_a_draft_is_made_in_the_owners_mailbox_with_the_compose_scope_only(google):
    made = gmail.make_draft(
        "maya@example.com", to="buyer@example.com", subject="Hi", body="Hello.", message_id="<opp-7@tend>"
    )
    assert made == {"id": "r-1", "message_id": "m-1"}
    [grant] = google.grants
    assert grant["scope"] == COMPOSE  # nothing more
    assert grant["sub"] == "maya@example.com" and grant["iss"] == "tend@tend-test.iam.gserviceaccount.com"
    assert google.calls == [
        ("GET", "/gmail/v1/users/me/drafts", 200),
        ("POST", "/gmail/v1/users/me/drafts", 200),
    ]
    assert google.drafts[0]["owner"] == "maya@example.com"


def test_a_retry_finds_the_draft_instead_of_making_a_second(google):
    for _ in range(2):
        made = gmail.make_draft(
            "maya@example.com", to="b@example.com", subject="S", body="B", message_id="<x@t>"
        )
    assert made["id"] == "r-1" and len(google.drafts) == 1


def test_a_key_google_does_not_know_is_refused_and_retryable(google, settings):
    other = Google()
    settings.GMAIL_SERVICE_ACCOUNT_JSON = other.key_json.replace(other.token_uri, google.token_uri)
    with pytest.raises(gmail.GmailError) as failed:
        gmail.make_draft("maya@example.com", to="b@example.com", subject="S", body="B", message_id="<y@t>")
    assert failed.value.retryable and not google.drafts
    other.server.shutdown()

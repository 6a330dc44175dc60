"""A small OpenID Connect provider on loopback: discovery, authorize (by the test), token, userinfo, JWKS.

It checks what Google, Okta and Entra ID check on the token request: the
client's id and secret, the code (once), the redirect URI it was issued
for, and the PKCE verifier; ID tokens are RS256-signed with a key published
at the JWKS endpoint, carrying the issuer, audience and the nonce of the
authorization request.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.http import JSONHandler, serve


def _b64(number: int) -> str:
    data = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Provider:
    def __init__(self, *, client_id: str = "tend", client_secret: str = "s3cret"):
        self.client_id, self.client_secret = client_id, client_secret
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signing_key = self.key  # a test may swap in another to forge tokens
        self.codes: dict[str, dict] = {}
        self.access_tokens: dict[str, dict] = {}
        self.token_requests: list[dict] = []
        provider = self

        class Handler(JSONHandler):
            def do_GET(self):
                path = urlparse(self.path).path
                if path == "/.well-known/openid-configuration":
                    return self.send_json(200, provider.discovery())
                if path == "/jwks":
                    public = provider.key.public_key().public_numbers()
                    jwk = {
                        "kty": "RSA",
                        "kid": "k1",
                        "use": "sig",
                        "alg": "RS256",
                        "n": _b64(public.n),
                        "e": _b64(public.e),
                    }
                    return self.send_json(200, {"keys": [jwk]})
                if path == "/userinfo":
                    grant = provider.access_tokens.get(
                        self.headers.get("Authorization", "").removeprefix("Bearer ")
                    )
                    if grant is None:
                        return self.send_json(401, {"error": "invalid_token"})
                    return self.send_json(200, grant["userinfo"])
                return self.send_json(404, {"error": "not_found"})

            def do_POST(self):
                if urlparse(self.path).path != "/token":
                    return self.send_json(404, {"error": "not_found"})
                form = {
                    k: v[0]
                    for k, v in parse_qs(
                        self.rfile.read(int(self.headers["Content-Length"])).decode()
                    ).items()
                }
                provider.token_requests.append(form)
                status, payload = provider.token(form)
                return self.send_json(status, payload)

        self.server, self.issuer = serve(Handler)

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def approve(
        self, authorize_url: str, *, id_claims: dict, userinfo: dict | None = None, nonce: str | None = None
    ) -> tuple[str, str]:
        """The person signs in at the provider: returns (code, state) for Tend's callback."""
        query = {k: v[0] for k, v in parse_qs(urlparse(authorize_url).query).items()}
        assert urlparse(authorize_url).path == "/authorize"
        assert query["client_id"] == self.client_id and query["response_type"] == "code"
        assert "openid" in query["scope"].split() and query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "redirect_uri": query["redirect_uri"],
            "challenge": query["code_challenge"],
            "nonce": query.get("nonce") if nonce is None else nonce,
            "id_claims": id_claims,
            "userinfo": userinfo if userinfo is not None else id_claims,
        }
        return code, query["state"]

    def token(self, form: dict) -> tuple[int, dict]:
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client"}
        grant = self.codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            **grant["id_claims"],
        }
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        id_token = jwt.encode(claims, self.signing_key, algorithm="RS256", headers={"kid": "k1"})
        access = secrets.token_urlsafe(16)
        self.access_tokens[access] = grant
        return 200, {"access_token": access, "id_token": id_token, "token_type": "Bearer", "expires_in": 300}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()  # refused from now on, as a provider that is down

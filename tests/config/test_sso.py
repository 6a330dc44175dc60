"""Single sign-on through mozilla-django-oidc against a loopback OpenID provider, one test per provider shape.

The real library code runs: discovery, the redirect with state, nonce and
PKCE, the token request, the ID token's signature checked against the JWKS,
userinfo, and Tend's mapping of claims to roles.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from django.core.cache import cache

from tests.fakes.oidc import Provider

pytestmark = pytest.mark.django_db

BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "config.sso.Backend",
    "django.contrib.auth.backends.ModelBackend",
]


@pytest.fixture
def provider(settings):
    idp = Provider()
    cache.clear()
    settings.OIDC_ISSUER = idp.issuer
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = idp.client_id, idp.client_secret
    settings.OIDC_PROVIDER_NAME = "Acme SSO"
    settings.AUTHENTICATION_BACKENDS = BACKENDS
    settings.OIDC_ALLOWED_DOMAINS, settings.OIDC_DEFAULT_ROLE = [], ""
    settings.OIDC_ADMIN_GROUPS, settings.OIDC_MANAGER_GROUPS, settings.OIDC_CSM_GROUPS = [], [], []
    yield idp
    idp.close()


def sign_in(client, provider, id_claims, **approval):
    start = client.get("/oidc/authenticate/", {"next": "/admin/"})
    assert start.status_code == 302, start.content
    assert start["Location"].startswith(provider.issuer + "/authorize")
    code, state = provider.approve(start["Location"], id_claims=id_claims, **approval)
    return client.get("/oidc/callback/", {"code": code, "state": state})


def signed_in_user(client):
    user_id = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=user_id) if user_id else None


def test_google_workspace_a_verified_user_of_the_domain_becomes_a_csm(client, provider, settings):
    settings.OIDC_ALLOWED_DOMAINS, settings.OIDC_DEFAULT_ROLE = ["acme.com"], "csm"
    claims = {"sub": "g-1", "email": "ana@acme.com", "email_verified": True, "hd": "acme.com",
              "given_name": "Ana", "family_name": "Silva"}  # fmt: skip
    response = sign_in(client, provider, claims)
    assert response.status_code == 302 and urlparse(response["Location"]).path == "/admin/"
    ana = signed_in_user(client)
    assert (ana.email, ana.first_name, ana.is_staff, ana.is_superuser) == ("ana@acme.com", "Ana", True, False)
    assert list(ana.groups.values_list("name", flat=True)) == ["CSM"]
    assert not ana.has_perm("csm.view_all_accounts")
    assert client.get("/admin/").status_code == 200
    # The token request carried the client's secret and the PKCE verifier.
    [token_request] = provider.token_requests
    assert token_request["client_secret"] == "s3cret" and token_request["code_verifier"]


def test_google_someone_outside_the_domain_is_refused(client, provider, settings):
    settings.OIDC_ALLOWED_DOMAINS, settings.OIDC_DEFAULT_ROLE = ["acme.com"], "csm"
    response = sign_in(client, provider, {"sub": "g-2", "email": "eve@gmail.com", "email_verified": True})
    assert response["Location"] == "/admin/login/?sso=refused"
    assert (
        signed_in_user(client) is None and not get_user_model().objects.filter(email="eve@gmail.com").exists()
    )
    page = client.get(response["Location"]).content.decode()
    assert "gives you no role in Tend" in page


def test_okta_groups_map_to_roles_and_follow_the_directory(client, provider, settings):
    settings.OIDC_MANAGER_GROUPS, settings.OIDC_CSM_GROUPS = ["Tend Managers"], ["Tend CSMs"]
    claims = {"sub": "00u1", "email": "morgan@acme.com", "email_verified": True}
    sign_in(client, provider, claims, userinfo={**claims, "groups": ["Everyone", "Tend Managers"]})
    morgan = signed_in_user(client)
    assert morgan.has_perm("csm.view_all_accounts") and not morgan.is_superuser

    client.logout()
    sign_in(client, provider, claims, userinfo={**claims, "groups": ["Everyone", "Tend CSMs"]})
    morgan = get_user_model().objects.get(pk=morgan.pk)
    assert signed_in_user(client) == morgan and not morgan.has_perm("csm.view_all_accounts")
    assert get_user_model().objects.filter(email="morgan@acme.com").count() == 1  # the same person, updated

    client.logout()
    response = sign_in(client, provider, claims, userinfo={**claims, "groups": ["Everyone"]})
    assert response["Location"] == "/admin/login/?sso=refused" and signed_in_user(client) is None


def test_entra_id_app_roles_in_the_id_token_make_an_admin(client, provider, settings):
    settings.OIDC_ROLES_CLAIM, settings.OIDC_ADMIN_GROUPS = "roles", ["Tend.Admin"]
    id_claims = {"sub": "e-1", "email": "root@acme.onmicrosoft.com", "roles": ["Tend.Admin"]}
    sign_in(client, provider, id_claims, userinfo={"sub": "e-1", "email": "root@acme.onmicrosoft.com"})
    admin = signed_in_user(client)
    assert admin.is_superuser and admin.is_staff


def test_a_token_signed_by_another_key_is_refused(client, provider, settings):
    settings.OIDC_DEFAULT_ROLE = "csm"
    provider.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = sign_in(client, provider, {"sub": "x", "email": "mallory@acme.com", "email_verified": True})
    assert response.status_code in (302, 400) and signed_in_user(client) is None
    assert not get_user_model().objects.filter(email="mallory@acme.com").exists()


def test_a_replayed_nonce_is_refused(client, provider, settings):
    settings.OIDC_DEFAULT_ROLE = "csm"
    response = sign_in(client, provider, {"sub": "x", "email": "ana@acme.com"}, nonce="not-the-one-tend-sent")
    assert response.status_code in (302, 400) and signed_in_user(client) is None


def test_without_passwords_only_sso_gets_in(client, provider, settings, make_user):
    settings.TEND_PASSWORD_LOGIN = False
    settings.AUTHENTICATION_BACKENDS = BACKENDS[:2]
    make_user("maya")
    page = client.get("/admin/login/").content.decode()
    assert "Sign in with Acme SSO" in page and 'name="password"' not in page
    response = client.post("/admin/login/", {"username": "maya", "password": "pw-123-secret"})
    assert signed_in_user(client) is None and response.status_code == 200


def test_sso_off_means_no_button_and_no_route(client, settings):
    settings.OIDC_ISSUER = ""
    assert "Sign in with" not in client.get("/admin/login/").content.decode()
    assert client.get("/oidc/authenticate/").status_code == 404


def test_a_provider_that_cannot_be_reached_breaks_nothing(client, provider, settings):
    settings.OIDC_DEFAULT_ROLE = "csm"
    sign_in(client, provider, {"sub": "g-9", "email": "ana@acme.com", "email_verified": True})
    ana = signed_in_user(client)
    provider.close()  # the provider goes down; its discovery document is no longer cached
    cache.clear()
    # Someone already signed in keeps working.
    assert client.get("/admin/").status_code == 200 and signed_in_user(client) == ana
    # Signing in says SSO is unavailable instead of failing.
    client.logout()
    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302 and start["Location"] == "/admin/login/?sso=unavailable"
    assert "cannot be reached" in client.get(start["Location"]).content.decode()
    # A callback that cannot reach the token endpoint lands on the login page too.
    assert client.get("/oidc/callback/", {"code": "c", "state": "s"}).status_code == 302

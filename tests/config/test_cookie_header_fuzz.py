"""Fuzz what a browser or a proxy sends besides the body: cookies and headers. No value may cause a 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

# Header values travel as latin-1; anything else cannot reach Django at all.
VALUE = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=300)
ROUTES = ["/healthz", "/admin/", "/admin/login/", "/api/v1/accounts/", "/admin/csm/account/"]
COOKIES = ["tend_tz", "sessionid", "csrftoken", "django_language"]
HEADERS = [
    "HTTP_AUTHORIZATION", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_ACCEPT_LANGUAGE",
    "HTTP_ACCEPT", "HTTP_USER_AGENT", "HTTP_REFERER", "HTTP_IF_MODIFIED_SINCE", "HTTP_RANGE",
]  # fmt: skip


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    route=st.sampled_from(ROUTES),
    cookies=st.dictionaries(st.sampled_from(COOKIES), VALUE, max_size=3),
    headers=st.dictionaries(st.sampled_from(HEADERS), VALUE, max_size=4),
    signed_in=st.booleans(),
)
def test_no_cookie_or_header_makes_tend_fail(client, api_book, route, cookies, headers, signed_in):
    client.cookies.clear()
    if signed_in:
        client.force_login(api_book["maya"])
    for name, value in cookies.items():
        client.cookies[name] = value
    response = client.get(route, **headers)
    assert response.status_code < 500, (route, cookies, headers, response.status_code)

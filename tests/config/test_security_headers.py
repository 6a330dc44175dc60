"""Every page carries a strict Content-Security-Policy and a Permissions-Policy."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/admin/login/", "/healthz", "/api/v1/accounts/"])
def test_pages_carry_the_policies(client, path):
    response = client.get(path)
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response["Content-Security-Policy"].split(";")
        if directive
    )
    assert policy["script-src"] == "'self'"  # no inline script, no other origin
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["default-src"] == "'self'"
    permissions = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in permissions


def test_the_api_docs_load_their_script_from_a_file(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/api/docs/").content.decode()
    assert "<script>" not in page  # the split view: the init script is a separate request
    assert client.get("/api/docs/?script=").status_code == 200

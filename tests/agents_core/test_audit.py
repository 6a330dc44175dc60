"""The audit trail: who signed in or failed to, used or made a token, changed a profile, exported, clicked."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agents_core.models import ApiToken, AuditEvent
from csm.models import ChurnAlert, ScoringProfile
from tests.book import add_accounts

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action


def events(action):
    return list(AuditEvent.objects.filter(action=action))


def test_sign_ins_failures_and_sign_outs_say_who_and_from_where(client, make_user):
    make_user("maya")
    client.post("/admin/login/", {"username": "maya", "password": "wrong"}, REMOTE_ADDR="10.1.2.3")
    [failed] = events(Action.SIGN_IN_FAILED)
    assert (failed.actor, failed.actor_name, failed.ip) == (None, "maya", "10.1.2.3")
    assert "wrong" not in str(failed.details)  # never the password

    client.post("/admin/login/", {"username": "maya", "password": "pw-123-secret"}, REMOTE_ADDR="10.1.2.3",
                HTTP_USER_AGENT="Firefox/140")  # fmt: skip
    [signed_in] = events(Action.SIGN_IN)
    assert (signed_in.actor_name, signed_in.ip, signed_in.user_agent) == ("maya", "10.1.2.3", "Firefox/140")
    assert signed_in.details == {"method": "password"}
    client.post("/admin/logout/")
    assert [e.actor_name for e in events(Action.SIGN_OUT)] == ["maya"]


def test_token_creation_use_and_revocation(client, make_user, admin_user):
    maya = make_user("maya")
    client.force_login(admin_user)
    client.post("/admin/agents_core/apitoken/add/", {"user": maya.pk, "name": "sync", "days": "3"})
    [made] = events(Action.TOKEN_CREATED)
    assert made.actor == admin_user and made.details["for_user"] == "maya" and "sync" in made.target
    token = ApiToken.objects.get(name="sync")
    assert token.token_key in made.target and len(made.target) < 60  # the token's prefix, never its key

    _other, secret = ApiToken.objects.create(maya, name="cron")
    client.get("/api/v1/accounts/", HTTP_AUTHORIZATION=f"Token {secret}")
    client.get("/api/v1/accounts/", HTTP_AUTHORIZATION=f"Token {secret}")
    assert [e.actor for e in events(Action.TOKEN_USED)] == [maya]  # once a minute, not per request

    client.post(reverse("admin:agents_core_apitoken_delete", args=[token.pk]), {"post": "yes"})
    [revoked] = events(Action.TOKEN_REVOKED)
    assert revoked.actor == admin_user and not ApiToken.objects.filter(pk=token.pk).exists()


def test_one_click_actions_and_exports_are_recorded(client, make_user):
    maya = make_user("maya")
    [account] = add_accounts(maya, 1, prefix="Audit")
    alert = ChurnAlert.objects.filter(account=account).first()
    client.force_login(maya)
    client.post(reverse("admin:csm_churnalert_do", args=[alert.pk, "acknowledge"]))
    [clicked] = events(Action.ACTION)
    assert clicked.actor == maya and clicked.details == {"action": "acknowledge"}
    assert clicked.target.startswith(f"csm.ChurnAlert {alert.pk}:")

    qbr = account.qbrs.get()
    client.get(reverse("admin:csm_qbr_markdown", args=[qbr.pk]))
    [exported] = events(Action.EXPORT)
    assert exported.actor == maya and exported.details == {"format": "markdown"}


def test_a_profile_change_is_recorded_with_its_version(client, admin_user):
    client.force_login(admin_user)
    profile = ScoringProfile.objects.active().get(segment="")
    url = reverse("admin:csm_scoringprofile_change", args=[profile.pk])
    form = client.get(url).context["adminform"].form
    data = {name: field.value() for name, field in ((n, form[n]) for n in form.fields)}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data["name"] = "Heavier on adoption"
    data["weight_feature_adoption_rate"] = 25
    data["_save"] = "Save"
    client.post(url, data)
    [changed] = events(Action.PROFILE_CHANGED)
    assert changed.actor == admin_user and changed.details["version"] == profile.version + 1
    assert changed.details["weights"]["feature_adoption_rate"] == 25


def test_only_superusers_read_the_trail(client, make_user, admin_user):
    manager = make_user("morgan", view_all=True)
    client.force_login(manager)
    assert client.get("/admin/agents_core/auditevent/").status_code == 403
    client.force_login(admin_user)
    assert client.get("/admin/agents_core/auditevent/").status_code == 200

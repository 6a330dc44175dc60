from __future__ import annotations

import dataclasses
import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import models

from csm.models import Account, AccountSignals, ScoringProfile
from csm.scoring import engine
from csm.scoring.scan import scan_health

pytestmark = pytest.mark.django_db


def seed(*args):
    out = io.StringIO()
    call_command("seed_demo", *args, "--verbosity", "0", stdout=out)
    return out.getvalue()


def snapshot():
    return list(
        Account.objects.order_by("external_id").values_list(
            "external_id",
            "name",
            "segment",
            "arr",
            "seats_purchased",
            "seats_used",
            "renewal_date",
            "owner__username",
        )
    )


def test_seed_demo_is_deterministic_and_realistic():
    seed("--accounts", "300", "--seed", "7")
    first = snapshot()
    assert len(first) == 300
    Account.objects.all().delete()
    seed("--accounts", "300", "--seed", "7")
    assert snapshot() == first

    segments = set(Account.objects.values_list("segment", flat=True))
    assert segments == {"smb", "mid_market", "enterprise"}
    assert Account.objects.values("owner").distinct().count() == 6
    assert 0 < AccountSignals.objects.count() < 300  # some new accounts have no data yet

    result = scan_health()
    assert result["failed"] == 0
    assert all(result["by_rag"][rag] > 0 for rag in engine.RAGS), result["by_rag"]
    assert result["partial"] > 0


def test_seed_demo_users_csms_and_a_manager():
    seed("--accounts", "10", "--password", "demo-pass-123")
    User = get_user_model()
    morgan = User.objects.get(username="morgan")
    assert morgan.has_perm("csm.view_all_accounts")
    maya = User.objects.get(username="maya")
    assert not maya.has_perm("csm.view_all_accounts") and maya.has_perm("csm.view_account")
    assert maya.check_password("demo-pass-123")


def test_seed_demo_if_empty_leaves_an_existing_book_alone():
    seed("--accounts", "5")
    out = seed("--accounts", "50", "--if-empty")
    assert "Accounts exist already" in out
    assert Account.objects.count() == 5


def test_migrations_create_the_default_profile_from_scoring_md():
    first = ScoringProfile.objects.get(segment="", version=1)
    assert not first.is_active and first.to_profile() == engine.DEFAULT_PROFILE
    # Then a version with the "champion left" rule on (0045), otherwise the same.
    profile = ScoringProfile.objects.get(segment="", is_active=True)
    assert (profile.version, profile.champion_left_engagement) == (2, "low")
    same = dataclasses.replace(profile.to_profile(), version=1, champion_left_engagement=None)
    assert same == engine.DEFAULT_PROFILE


def test_migrations_create_the_csm_group_with_working_permissions():
    perms = set(Group.objects.get(name="CSM").permissions.values_list("codename", flat=True))
    assert {"view_account", "change_account", "view_healthscore", "view_agentrun"} <= perms
    assert "view_all_accounts" not in perms and "delete_account" not in perms


def test_ensure_admin_creates_a_superuser_once(tmp_path, settings, monkeypatch):
    settings.VAR_DIR = tmp_path
    monkeypatch.delenv("TEND_ADMIN_PASSWORD", raising=False)
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    password = (tmp_path / "admin-password").read_text().strip()
    assert f"Admin login: admin / {password}" in out.getvalue()
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    # A password changed since is kept, and said so.
    admin.set_password("changed-by-hand-42")
    admin.save()
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    assert "password changed since setup" in out.getvalue()
    admin.refresh_from_db()
    assert admin.check_password("changed-by-hand-42")


def test_the_demo_book_starts_playbooks_whose_tasks_go_to_each_accounts_owner():
    from csm.models import PlaybookRun, Task
    from csm.playbooks.runner import run_playbooks

    seed("--accounts", "200", "--seed", "7")
    scan_health()
    result = run_playbooks()
    assert result["started"] > 0 and result["tasks"] > 0
    assert set(PlaybookRun.objects.values_list("playbook__name", flat=True)) >= {"Renewal prep", "Onboarding"}
    assert not Task.objects.exclude(owner=models.F("account__owner")).exists()
    assert run_playbooks()["started"] == 0  # the next morning starts nothing twice


def test_the_demo_accounts_have_people_a_call_and_survey_answers_in_step_with_their_signals():
    from csm.models import AccountSignals, Contact, Interaction, SurveyResponse
    from csm.surveys.responses import refresh_nps

    seed("--accounts", "30")
    account = Account.objects.filter(signals__nps_score__isnull=False).first()
    roles = set(Contact.objects.filter(account=account).values_list("role", flat=True))
    assert roles == {"champion", "decision_maker", "user"}
    assert Contact.objects.filter(account=account, is_primary=True).count() == 1
    assert Interaction.objects.filter(account=account, kind="call").exists()
    assert SurveyResponse.objects.filter(account=account).count() == 2
    # The answers derive the NPS the demo typed in: deriving again changes nothing.
    typed = dict(AccountSignals.objects.values_list("account_id", "nps_score"))
    refresh_nps(typed)
    assert dict(AccountSignals.objects.values_list("account_id", "nps_score")) == typed

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django_q.conf import Conf

from csm.models import Account, AccountSignals


@pytest.fixture(autouse=True)
def q_sync(monkeypatch):
    """Run queued tasks in-process. django-q2 reads its Conf at import time,
    so override_settings would do nothing here."""
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty cache: API throttle counts must not carry
    over from one test to the next (in some orders they reached the limit)."""
    cache.clear()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The production hasher is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def csm_group(db):
    return Group.objects.get(name="CSM")


@pytest.fixture
def make_user(db, django_user_model, csm_group):
    def make(username: str, *, view_all: bool = False, **extra):
        user = django_user_model.objects.create_user(
            username=username, password="pw-123-secret", is_staff=True, **extra
        )
        user.groups.add(csm_group)
        if view_all:
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label="csm", codename="view_all_accounts")
            )
        return user

    return make


HEALTHY_SIGNALS = dict(
    feature_adoption_rate=0.8,
    usage_trend="growing",
    stakeholder_engagement="high",
    nps_score=9,
    invoice_payment_status="current",
    open_ticket_count=0,
    avg_ticket_sentiment="positive",
    escalation_count_90_days=0,
)


@pytest.fixture
def make_account(db):
    counter = {"n": 0}

    def make(*, signals: dict | None = HEALTHY_SIGNALS, today: date | None = None, **fields):
        counter["n"] += 1
        today = today or date.today()
        values = dict(
            name=f"Account {counter['n']}",
            external_id=f"EXT-{counter['n']}",
            segment="smb",
            arr=Decimal("12000"),
            seats_purchased=10,
            seats_used=9,
            renewal_date=today + timedelta(days=200),
        )
        values.update(fields)
        account = Account.objects.create(**values)
        if signals is not None:
            sig = dict(signals)
            sig.setdefault("last_login_on", today - timedelta(days=2))
            sig.setdefault("last_interaction_on", today - timedelta(days=10))
            AccountSignals.objects.create(account=account, **sig)
        return account

    return make


@pytest.fixture
def api_book(make_user, make_account):
    """Two CSMs with their own books and a manager who sees both."""
    maya, tom = make_user("maya"), make_user("tom")
    manager = make_user("morgan", view_all=True)
    return {
        "maya": maya,
        "tom": tom,
        "manager": manager,
        "maya_accounts": [make_account(name=f"Maya Co {i}", owner=maya) for i in range(3)],
        "tom_accounts": [make_account(name=f"Tom Co {i}", owner=tom) for i in range(2)],
    }


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    def client_for(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for

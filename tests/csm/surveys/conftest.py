from __future__ import annotations

import pytest

from csm.models import Contact


@pytest.fixture
def maya(make_user):
    return make_user("maya")


@pytest.fixture
def tom(make_user):
    return make_user("tom")


@pytest.fixture
def acme(make_account, maya):
    account = make_account(name="Acme", owner=maya, health_score=72.0, rag="GREEN", churn_risk="low")
    Contact.objects.create(account=account, name="Wile Coyote", email="Wile@Acme.test", is_primary=True)
    Contact.objects.create(account=account, name="Road Runner", email="road@acme.test")
    return account


@pytest.fixture
def globex(make_account, tom):
    account = make_account(name="Globex", owner=tom, health_score=55.0, rag="AMBER", churn_risk="medium")
    Contact.objects.create(account=account, name="Hank Scorpio", email="hank@globex.test")
    return account

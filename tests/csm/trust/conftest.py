"""A book with a year and more of daily history and renewal outcomes: what previews and backtests read."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from csm.demo.history import lay_down_history
from csm.scoring.scan import scan_health


@pytest.fixture
def book_with_history(make_account):
    today = timezone.localdate()
    rng = random.Random(5)
    accounts = [
        make_account(
            renewal_date=today + timedelta(days=rng.randint(10, 200)), arr=Decimal(rng.randint(5, 50) * 1000)
        )
        for _ in range(50)
    ]
    lay_down_history(accounts, days=460, today=today, seed=11)
    scan_health(today=today)
    return accounts

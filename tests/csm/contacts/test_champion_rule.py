"""When an account's champion has left (csm.contacts.rules), and what the score makes of it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from csm.contacts.rules import champion_left_on
from csm.scoring import engine
from csm.scoring.inputs import cap_engagement

TODAY = date(2026, 12, 1)


def ago(days):
    return TODAY - timedelta(days=days)


def test_no_named_champion_is_not_a_champion_who_left():
    assert champion_left_on([], today=TODAY, inactive_days=30) is None


def test_one_current_champion_is_enough():
    champions = [(ago(10), None), (None, ago(2))]
    assert champion_left_on(champions, today=TODAY, inactive_days=30) is None


def test_a_champion_never_seen_in_the_product_is_not_presumed_gone():
    assert champion_left_on([(None, None)], today=TODAY, inactive_days=30) is None


def test_removed_in_the_crm_or_quiet_too_long_the_day_is_when_the_last_went():
    champions = [(ago(40), None), (None, ago(35))]  # archived 40 days ago; quiet since 35 days ago
    assert champion_left_on(champions, today=TODAY, inactive_days=30) == ago(35) + timedelta(days=31)
    # Exactly 30 days quiet is still there; 31 is gone.
    assert champion_left_on([(None, ago(30))], today=TODAY, inactive_days=30) is None
    assert champion_left_on([(None, ago(31))], today=TODAY, inactive_days=30) == TODAY


@pytest.mark.parametrize(
    "engagement, cap, left, expected, lowered",
    [("high", "low", TODAY, "low", True), ("medium", "low", TODAY, "low", True),
     ("low", "low", TODAY, "low", False), ("high", "medium", TODAY, "medium", True),
     ("high", None, TODAY, "high", False), ("high", "low", None, "high", False)],
)  # fmt: skip
def test_the_profile_rule_caps_stakeholder_engagement(engagement, cap, left, expected, lowered):
    inputs = {"stakeholder_engagement": engagement}
    assert cap_engagement(inputs, cap, left) is lowered
    assert inputs["stakeholder_engagement"] == expected


def test_a_profile_refuses_a_cap_that_is_not_a_level():
    with pytest.raises(ValueError, match="champion_left_engagement"):
        engine.Profile(champion_left_engagement="none-at-all")
    assert engine.Profile(champion_left_engagement="low").as_dict()["champion_left_engagement"] == "low"

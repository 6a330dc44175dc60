"""The rule that turns survey answers into the score's NPS input (csm.surveys.rules)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from csm.surveys import rules

TODAY = date(2026, 12, 1)


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def test_detractors_weigh_double():
    # Plain mean 7.25 -> 7; with the 2 counted twice: (27 + 4) / 5 = 6.2 -> 6.
    answers = [("a", ago(1), 9), ("b", ago(2), 9), ("c", ago(3), 9), ("d", ago(4), 2)]
    assert rules.nps_input(answers, today=TODAY) == 6


def test_fewer_than_two_people_count_as_none():
    assert rules.nps_input([("a", ago(1), 10)], today=TODAY) is None
    # The same person twice is still one voice.
    assert rules.nps_input([("a", ago(1), 10), ("a", ago(9), 3)], today=TODAY) is None
    assert rules.nps_input([("a", ago(1), 10), ("b", ago(9), 8)], today=TODAY) == 9


def test_a_persons_latest_answer_replaces_their_earlier_ones():
    answers = [("a", ago(100), 2), ("a", ago(5), 10), ("b", ago(3), 10)]
    assert rules.nps_input(answers, today=TODAY) == 10


def test_answers_outside_the_window_or_after_today_are_not_read():
    edge = rules.WINDOW_DAYS
    assert (
        rules.nps_input([("a", ago(edge), 0), ("b", ago(edge - 1), 10), ("c", ago(1), 10)], today=TODAY) == 10
    )
    assert rules.nps_input([("a", ago(edge), 0), ("b", ago(1), 10)], today=TODAY) is None
    assert rules.nps_input([("a", TODAY + timedelta(days=1), 0), ("b", ago(1), 10)], today=TODAY) is None


def test_rounds_half_up():
    assert rules.nps_input([("a", ago(1), 7), ("b", ago(1), 8)], today=TODAY) == 8  # 7.5


@pytest.mark.parametrize(
    "kind, score, expected",
    [
        ("nps", 0, "detractor"),
        ("nps", 6, "detractor"),
        ("nps", 7, "passive"),
        ("nps", 8, "passive"),
        ("nps", 9, "promoter"),
        ("csat", 1, "detractor"),
        ("csat", 2, "detractor"),
        ("csat", 3, "passive"),
        ("csat", 4, "promoter"),
    ],
)
def test_categories(kind, score, expected):
    assert rules.category(kind, score) == expected


@pytest.mark.parametrize(
    "kind, score",
    [("nps", 11), ("nps", -1), ("csat", 0), ("csat", 6), ("nps", 7.5), ("nps", True), ("ces", 3)],
)
def test_scores_off_their_scale_are_refused(kind, score):
    with pytest.raises(ValueError):
        rules.check_score(kind, score)


def test_net_promoter_score():
    assert rules.net_promoter_score([10, 9, 8, 3]) == 25
    assert rules.net_promoter_score([]) is None


def test_every_score_of_each_scale_is_in_exactly_one_band():
    for kind, (low, high) in rules.SCALES.items():
        for score in range(low, high + 1):
            inside = [b for b, (lo, hi) in rules.BANDS[kind].items() if lo <= score <= hi]
            assert len(inside) == 1, (kind, score, inside)

"""The health-scoring engine: deterministic, pure Python, no Django.

Implements docs/scoring.md. Every number of the specification lives in a
`Profile`, so a team can change weights, thresholds, the churn window and
the point tables without touching code; `DEFAULT_PROFILE` holds the values
of the specification.

How the pieces fit:

* Each of the 11 signal groups has a point table written on the group's
  *base maximum* (the "max" column of docs/scoring.md). A profile's `weights`
  give each group's maximum; a group's points are its table points scaled
  by `weight / base maximum`, so the default weights reproduce the tables
  exactly and a weight of 0 switches a group off.
* Scores and group points are rounded to 2 decimals, so that float noise
  (0.7 * 20 = 14.000000000000002) can never push a score across a RAG edge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

# --- Inputs -------------------------------------------------------------------

USAGE_TRENDS = ("growing", "stable", "declining", "inactive")
ENGAGEMENT_LEVELS = ("high", "medium", "low")
PAYMENT_STATUSES = ("current", "overdue_30", "overdue_60", "overdue_90_plus")
SENTIMENTS = ("positive", "neutral", "negative", "critical")
RAGS = ("GREEN", "AMBER", "RED")
CHURN_LEVELS = ("low", "medium", "high", "critical")
CHURN_TRIGGERS = ("contract_proximity", "behavioral", "both")

# name -> (kind, required, constraint). "required" follows docs/scoring.md: the
# inputs without a "none" rule must be present and not None.
INPUT_SPEC: Mapping[str, tuple[str, bool, Any]] = MappingProxyType(
    {
        "feature_adoption_rate": ("float", True, (0.0, 1.0)),
        "usage_trend": ("choice", True, USAGE_TRENDS),
        "login_frequency_days": ("int", False, (0, None)),
        "days_since_last_interaction": ("int", False, (0, None)),
        "stakeholder_engagement": ("choice", True, ENGAGEMENT_LEVELS),
        "nps_score": ("int", False, (0, 10)),
        "invoice_payment_status": ("choice", True, PAYMENT_STATUSES),
        "days_to_renewal": ("int", False, (None, None)),
        "seats_utilization_rate": ("float", True, (0.0, 2.0)),
        "open_ticket_count": ("int", True, (0, None)),
        "avg_ticket_sentiment": ("choice", True, SENTIMENTS),
        "escalation_count_90_days": ("int", True, (0, None)),
        "tam_health_rag": ("choice", False, RAGS),
    }
)
INPUT_NAMES: tuple[str, ...] = tuple(INPUT_SPEC)
REQUIRED_INPUTS: tuple[str, ...] = tuple(n for n, (_, req, _) in INPUT_SPEC.items() if req)

# The 11 groups (breakdown keys) and their base maxima from docs/scoring.md.
BASE_MAX: Mapping[str, int] = MappingProxyType(
    {
        "feature_adoption_rate": 20,
        "usage_trend": 15,
        "login_frequency_days": 10,
        "days_since_last_interaction": 10,
        "invoice_payment_status": 10,
        "support": 10,
        "days_to_renewal": 10,
        "seats_utilization_rate": 5,
        "stakeholder_engagement": 5,
        "nps_score": 3,
        "escalation_count_90_days": 2,
    }
)
GROUPS: tuple[str, ...] = tuple(BASE_MAX)

# --- Validation -----------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate_input(name: str, value: Any) -> Any:
    """Check one input against docs/scoring.md; return it or raise ValueError naming it.

    None is accepted for every input here; whether None is allowed at all is
    `score()`'s decision (required inputs).
    """
    try:
        kind, _required, constraint = INPUT_SPEC[name]
    except KeyError:
        raise ValueError(f"{name}: unknown input") from None
    if value is None:
        return None
    if kind == "choice":
        if value not in constraint:
            raise ValueError(f"{name}: must be one of {', '.join(constraint)}, got {value!r}")
        return value
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name}: must be a whole number, got {value!r}")
    elif not _is_number(value):
        raise ValueError(f"{name}: must be a number, got {value!r}")
    low, high = constraint
    if low is not None and value < low:
        raise ValueError(f"{name}: must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name}: must be <= {high}, got {value!r}")
    return value


_SPEC_ITEMS = tuple(
    (name, kind, required, constraint) for name, (kind, required, constraint) in INPUT_SPEC.items()
)
_INPUT_NAME_SET = frozenset(INPUT_SPEC)


def validate_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """All 13 inputs, validated; missing optional ones become None.

    The same checks as `validate_input`, inline for the common case (an exact
    int, float or known choice within range): the scan runs this for every
    account. Anything else goes through `validate_input`, which raises.
    """
    if not isinstance(inputs, Mapping):
        raise ValueError(f"inputs must be an object of named values, got {type(inputs).__name__}")
    if not _INPUT_NAME_SET.issuperset(inputs):
        unknown = sorted(set(inputs) - _INPUT_NAME_SET)
        raise ValueError(f"{unknown[0]}: unknown input")
    clean: dict[str, Any] = {}
    get = inputs.get
    for name, kind, required, constraint in _SPEC_ITEMS:
        value = get(name)
        if value is None:
            if required:
                raise ValueError(f"{name}: required input is missing")
        elif kind == "choice":
            if value not in constraint:
                validate_input(name, value)
        else:
            kind_of_value = type(value)
            if kind_of_value is int or (kind_of_value is float and kind == "float" and math.isfinite(value)):
                low, high = constraint
                if (low is not None and value < low) or (high is not None and value > high):
                    validate_input(name, value)
            else:
                value = validate_input(name, value)
        clean[name] = value
    return clean


# --- Profile ------------------------------------------------------------------

# Point tables, on each group's base maximum. For numeric groups the "above"
# steps are tried first, then "at_least", then "at_most", each list in order;
# the first step that matches gives the points, "else" when none does and
# "none" when the value is missing.
#   "above":    value >  bound
#   "at_least": value >= bound
#   "at_most":  value <= bound
DEFAULT_RULES: dict[str, Any] = {
    "usage_trend": {"growing": 15, "stable": 10, "declining": 3, "inactive": 0},
    "login_frequency_days": {
        "at_most": [[7, 10], [30, 7], [60, 4]],
        "else": 0,
        "none": 5,
    },
    "days_since_last_interaction": {
        "at_most": [[30, 10], [60, 7], [90, 4]],
        "else": 0,
        "none": 5,
    },
    "invoice_payment_status": {
        "current": 10,
        "overdue_30": 6,
        "overdue_60": 3,
        "overdue_90_plus": 0,
    },
    "support": {
        "sentiment": {"positive": 10, "neutral": 7, "negative": 3, "critical": 0},
        "per_open_ticket": 1,
        "max_ticket_penalty": 5,
    },
    "days_to_renewal": {
        "above": [[180, 10], [90, 8], [60, 6], [30, 3]],
        "else": 1,
        "none": 7,
    },
    "seats_utilization_rate": {
        "above": [[1.0, 4]],
        "at_least": [[0.8, 5], [0.5, 3]],
        "else": 1,
    },
    "stakeholder_engagement": {"high": 5, "medium": 3, "low": 1},
    "nps_score": {"at_least": [[9, 3], [7, 2], [5, 1]], "else": 0, "none": 2},
    "escalation_count_90_days": {"at_most": [[0, 2], [1, 1]], "else": 0},
}

# What the daily scan uses where an account has never reported a required
# input. seats_utilization_rate is derived from the account's seats first;
# this value applies only when the seats are unknown.
DEFAULT_NO_DATA: dict[str, Any] = {
    "feature_adoption_rate": 0.5,
    "usage_trend": "stable",
    "stakeholder_engagement": "medium",
    "invoice_payment_status": "current",
    "seats_utilization_rate": 0.5,
    "open_ticket_count": 0,
    "avg_ticket_sentiment": "neutral",
    "escalation_count_90_days": 0,
}


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Profile:
    """Everything a team can tune. Immutable; build a new one to change it."""

    version: int = 1
    weights: Mapping[str, float] = field(default_factory=lambda: dict(BASE_MAX))
    green_threshold: float = 70.0
    amber_threshold: float = 40.0
    churn_window_days: int = 60
    behavioral_login_days: int = 30
    tam_multipliers: Mapping[str, float] = field(
        default_factory=lambda: {"GREEN": 1.0, "AMBER": 0.95, "RED": 0.85}
    )
    rules: Mapping[str, Any] = field(default_factory=lambda: DEFAULT_RULES)
    no_data_defaults: Mapping[str, Any] = field(default_factory=lambda: DEFAULT_NO_DATA)
    # "Champion left": while an account's champions have all left, its stakeholder engagement
    # counts as at most this level (csm.scoring.inputs.cap_engagement). None: off.
    champion_left_engagement: str | None = None

    def __post_init__(self) -> None:
        # Freeze the mappings so a shared profile cannot be changed in place.
        for name in ("weights", "tam_multipliers", "rules", "no_data_defaults"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        self.validate()

    def validate(self) -> None:
        """Raise ValueError, naming the setting, if the profile is unusable."""
        if set(self.weights) != set(GROUPS):
            missing = sorted(set(GROUPS) - set(self.weights))
            unknown = sorted(set(self.weights) - set(GROUPS))
            raise ValueError(f"weights: missing {missing}, unknown {unknown}")
        for group, weight in self.weights.items():
            if not _is_number(weight) or weight < 0:
                raise ValueError(f"weights.{group}: must be a number >= 0, got {weight!r}")
        for name in ("green_threshold", "amber_threshold"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value <= 100:
                raise ValueError(f"{name}: must be between 0 and 100, got {value!r}")
        if self.amber_threshold > self.green_threshold:
            raise ValueError("amber_threshold: must not be above green_threshold")
        for name in ("churn_window_days", "behavioral_login_days"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name}: must be a whole number >= 0, got {value!r}")
        if set(self.tam_multipliers) != set(RAGS):
            raise ValueError(f"tam_multipliers: needs exactly {list(RAGS)}")
        for rag, mult in self.tam_multipliers.items():
            if not _is_number(mult) or not 0 <= mult <= 1:
                raise ValueError(f"tam_multipliers.{rag}: must be between 0 and 1")
        _validate_rules(self.rules)
        for name, value in self.no_data_defaults.items():
            if name not in REQUIRED_INPUTS:
                raise ValueError(f"no_data_defaults.{name}: not a required input")
            validate_input(name, value)
        missing = sorted(set(REQUIRED_INPUTS) - set(self.no_data_defaults))
        if missing:
            raise ValueError(f"no_data_defaults: missing {missing}")
        if self.champion_left_engagement not in (None, *ENGAGEMENT_LEVELS):
            raise ValueError(
                f"champion_left_engagement: one of {', '.join(ENGAGEMENT_LEVELS)}, or none (off); "
                f"got {self.champion_left_engagement!r}"
            )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy, the inverse of `Profile(**data)`."""
        return {
            "version": self.version,
            "weights": _plain(self.weights),
            "green_threshold": self.green_threshold,
            "amber_threshold": self.amber_threshold,
            "churn_window_days": self.churn_window_days,
            "behavioral_login_days": self.behavioral_login_days,
            "tam_multipliers": _plain(self.tam_multipliers),
            "rules": _plain(self.rules),
            "no_data_defaults": _plain(self.no_data_defaults),
            "champion_left_engagement": self.champion_left_engagement,
        }

    @cached_property
    def points(self) -> _Points:
        """The point tables with this profile's weights applied: what `score` reads, once per profile."""
        return _Points(self)


def _validate_rules(rules: Mapping[str, Any]) -> None:
    expected = set(DEFAULT_RULES)
    if set(rules) != expected:
        missing = sorted(expected - set(rules))
        unknown = sorted(set(rules) - expected)
        raise ValueError(f"rules: missing {missing}, unknown {unknown}")
    choice_tables = {
        "usage_trend": USAGE_TRENDS,
        "invoice_payment_status": PAYMENT_STATUSES,
        "stakeholder_engagement": ENGAGEMENT_LEVELS,
    }
    for group, choices in choice_tables.items():
        _check_choice_table(f"rules.{group}", rules[group], choices)
    support = rules["support"]
    if not isinstance(support, Mapping):
        raise ValueError("rules.support: must be a mapping")
    _check_choice_table("rules.support.sentiment", support.get("sentiment"), SENTIMENTS)
    for key in ("per_open_ticket", "max_ticket_penalty"):
        if not _is_number(support.get(key)) or support[key] < 0:
            raise ValueError(f"rules.support.{key}: must be a number >= 0")
    for group in (
        "login_frequency_days",
        "days_since_last_interaction",
        "days_to_renewal",
        "seats_utilization_rate",
        "nps_score",
        "escalation_count_90_days",
    ):
        table = rules[group]
        if not isinstance(table, Mapping) or not _is_number(table.get("else")):
            raise ValueError(f"rules.{group}: needs a numeric 'else'")
        for op in ("at_most", "above", "at_least"):
            for step in table.get(op, ()):
                if len(step) != 2 or not all(_is_number(x) for x in step):
                    raise ValueError(f"rules.{group}.{op}: steps are [bound, points]")
        if "none" in table and not _is_number(table["none"]):
            raise ValueError(f"rules.{group}.none: must be a number")


def _check_choice_table(where: str, table: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(table, Mapping) or set(table) != set(choices):
        raise ValueError(f"{where}: needs points for exactly {list(choices)}")
    for key, points in table.items():
        if not _is_number(points):
            raise ValueError(f"{where}.{key}: points must be a number")


DEFAULT_PROFILE = Profile()


# --- Scoring --------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreResult:
    score: float
    rag: str
    churn_risk: str
    churn_trigger: str | None
    breakdown: Mapping[str, float]
    inputs: Mapping[str, Any]
    profile_version: int


# A point table with a profile's weights applied, ready to look up: (none,
# above, at_least, at_most, else), each step a (bound, points) pair.
Steps = tuple[float | None, tuple, tuple, tuple, float]


class _Points:
    """A profile's point tables, weighted: each group's points are already
    `round(table points * weight / base maximum, 2)`, so scoring an account
    is lookups, not arithmetic. Built once per profile (`Profile.points`)."""

    def __init__(self, profile: Profile) -> None:
        rules, weights = profile.rules, profile.weights

        def weigh(group: str, points: float) -> float:
            return round(points * weights[group] / BASE_MAX[group], 2)

        def choices(group: str, table: Mapping[str, float]) -> dict[str, float]:
            return {choice: weigh(group, points) for choice, points in table.items()}

        def steps(group: str) -> Steps:
            table = rules[group]
            none = weigh(group, table["none"]) if "none" in table else None
            ops = (tuple((bound, weigh(group, pts)) for bound, pts in table.get(op, ())) for op in _STEP_OPS)
            return (none, *ops, weigh(group, table["else"]))

        self.adoption_weight = weights["feature_adoption_rate"]
        self.usage_trend = choices("usage_trend", rules["usage_trend"])
        self.login = steps("login_frequency_days")
        self.interaction = steps("days_since_last_interaction")
        self.payment = choices("invoice_payment_status", rules["invoice_payment_status"])
        support = rules["support"]
        self.sentiment = dict(support["sentiment"])
        self.per_open_ticket, self.max_ticket_penalty = (
            support["per_open_ticket"],
            support["max_ticket_penalty"],
        )
        self.support_weight = weights["support"]
        self.renewal = steps("days_to_renewal")
        self.seats = steps("seats_utilization_rate")
        self.engagement = choices("stakeholder_engagement", rules["stakeholder_engagement"])
        self.nps = steps("nps_score")
        self.escalations = steps("escalation_count_90_days")
        self.tam_multipliers = dict(profile.tam_multipliers)


# The order `_stepped` tries a table's steps in: "above" (value > bound),
# then "at_least" (>=), then "at_most" (<=).
_STEP_OPS = ("above", "at_least", "at_most")


def _stepped(table: Steps, value: float | None) -> float:
    none, above, at_least, at_most, otherwise = table
    if value is None:
        return none
    for bound, points in above:
        if value > bound:
            return points
    for bound, points in at_least:
        if value >= bound:
            return points
    for bound, points in at_most:
        if value <= bound:
            return points
    return otherwise


def _breakdown(inputs: Mapping[str, Any], points: _Points) -> dict[str, float]:
    """Points per group, weighted and rounded to 2 decimals, in GROUPS order."""
    adoption_base = BASE_MAX["feature_adoption_rate"]
    penalty = min(inputs["open_ticket_count"] * points.per_open_ticket, points.max_ticket_penalty)
    support = max(0, points.sentiment[inputs["avg_ticket_sentiment"]] - penalty)
    return {
        # The two groups not on a table: the same arithmetic as `weigh` above.
        "feature_adoption_rate": round(
            inputs["feature_adoption_rate"] * adoption_base * points.adoption_weight / adoption_base, 2
        ),
        "usage_trend": points.usage_trend[inputs["usage_trend"]],
        "login_frequency_days": _stepped(points.login, inputs["login_frequency_days"]),
        "days_since_last_interaction": _stepped(points.interaction, inputs["days_since_last_interaction"]),
        "invoice_payment_status": points.payment[inputs["invoice_payment_status"]],
        "support": round(support * points.support_weight / BASE_MAX["support"], 2),
        "days_to_renewal": _stepped(points.renewal, inputs["days_to_renewal"]),
        "seats_utilization_rate": _stepped(points.seats, inputs["seats_utilization_rate"]),
        "stakeholder_engagement": points.engagement[inputs["stakeholder_engagement"]],
        "nps_score": _stepped(points.nps, inputs["nps_score"]),
        "escalation_count_90_days": _stepped(points.escalations, inputs["escalation_count_90_days"]),
    }


def _clamp(value: float) -> float:
    return min(100.0, max(0.0, value))


def rag_for(score_value: float, profile: Profile = DEFAULT_PROFILE) -> str:
    if score_value >= profile.green_threshold:
        return "GREEN"
    if score_value >= profile.amber_threshold:
        return "AMBER"
    return "RED"


def churn_for(
    rag: str, inputs: Mapping[str, Any], profile: Profile = DEFAULT_PROFILE
) -> tuple[str, str | None]:
    """(level, trigger) from docs/scoring.md's churn table."""
    days_to_renewal = inputs.get("days_to_renewal")
    contract = (
        rag in ("RED", "AMBER")
        and days_to_renewal is not None
        and days_to_renewal <= profile.churn_window_days
    )
    login = inputs.get("login_frequency_days")
    behavioral = inputs.get("usage_trend") in ("declining", "inactive") and (
        login is None or login > profile.behavioral_login_days
    )
    if contract and behavioral:
        return "critical", "both"
    if contract:
        return ("critical" if rag == "RED" else "high"), "contract_proximity"
    if behavioral:
        return ("high" if rag in ("RED", "AMBER") else "medium"), "behavioral"
    return ("low" if rag == "GREEN" else "medium"), None


def _final(clean: Mapping[str, Any], breakdown: Mapping[str, float], profile: Profile) -> float:
    multiplier = profile.points.tam_multipliers[clean["tam_health_rag"] or "GREEN"]
    return round(_clamp(_clamp(sum(breakdown.values())) * multiplier), 2)


def health(clean: Mapping[str, Any], profile: Profile = DEFAULT_PROFILE) -> tuple[float, str, str]:
    """(score, RAG, churn risk) of inputs `validate_inputs` already gave: what `score` gives for them,
    without checking them again or building the breakdown's result. For judging one account's
    validated inputs under several profiles (the backtests)."""
    final = _final(clean, _breakdown(clean, profile.points), profile)
    rag = rag_for(final, profile)
    return final, rag, churn_for(rag, clean, profile)[0]


def score(inputs: Mapping[str, Any], profile: Profile = DEFAULT_PROFILE) -> ScoreResult:
    """Score one account. Raises ValueError naming the first bad input."""
    clean = validate_inputs(inputs)
    breakdown = _breakdown(clean, profile.points)
    final = _final(clean, breakdown, profile)
    rag = rag_for(final, profile)
    churn_risk, churn_trigger = churn_for(rag, clean, profile)
    return ScoreResult(
        score=final,
        rag=rag,
        churn_risk=churn_risk,
        churn_trigger=churn_trigger,
        breakdown=breakdown,
        inputs=clean,
        profile_version=profile.version,
    )


def movement(previous: Mapping[str, float], current: Mapping[str, float]) -> list[tuple[str, float]]:
    """Per-group change in points between two breakdowns, biggest moves first.

    Groups that did not move are left out.
    """
    deltas = [(group, round(current.get(group, 0) - previous.get(group, 0), 2)) for group in GROUPS]
    return sorted((d for d in deltas if d[1]), key=lambda d: (-abs(d[1]), d[0]))

"""Writing scoring inputs from outside: the API (one account or in bulk), and later CSV and Notion.

Every value is checked against docs/scoring.md's ranges before anything is
written. Derived inputs (days to renewal, seat utilisation) are read-only:
they follow from account facts. "Days since" inputs are stored as the date
of the event (today minus the days), so they keep ageing after the write.
A bulk write is all-or-nothing: any bad row rejects the whole request, with
every bad row named, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from agents_core.bulk import update_rows, upsert_rows
from csm.models import Account, AccountSignals
from csm.scoring import engine
from csm.scoring.inputs import DATED_SIGNALS, DIRECT_SIGNALS, SIGNAL_FIELDS, stamp_sources
from csm.scoring.on_change import rescore_soon

WRITABLE_INPUTS = (*DIRECT_SIGNALS, *DATED_SIGNALS, "tam_health_rag")
READ_ONLY_INPUTS = {
    "days_to_renewal": "read-only: derived from the account's renewal_date",
    "seats_utilization_rate": "read-only: derived from the account's seats_used and seats_purchased",
}
TRACKED_ADOPTION = "read-only: this account's adoption is measured from its feature usage"
# docs/scoring.md sets no upper bound on these; storage does (a date a million
# days back does not exist; counts are 32-bit). Far beyond any real value.
STORAGE_MAX = {
    "login_frequency_days": 36_500,
    "days_since_last_interaction": 36_500,
    "open_ticket_count": 1_000_000,
    "escalation_count_90_days": 1_000_000,
}
# Choice inputs are stored as "" for "no data" (Django's convention for text).
_TEXT_COLUMNS = {"usage_trend", "stakeholder_engagement", "invoice_payment_status", "avg_ticket_sentiment"}
EXTERNAL_ID_MAX = Account._meta.get_field("external_id").max_length
# IN (...) lists stay well under SQLite's 32,766-parameter limit.
LOOKUP_CHUNK = 5000


# How CRMs and Notion databases name the three ratings.
RAG_WORDS = {
    "green": "GREEN", "healthy": "GREEN", "on track": "GREEN", "good": "GREEN",
    "amber": "AMBER", "yellow": "AMBER", "at risk": "AMBER", "warning": "AMBER", "fair": "AMBER",
    "red": "RED", "off track": "RED", "critical": "RED", "poor": "RED", "unhealthy": "RED",
}  # fmt: skip


def normalize_rag(text: str | None) -> str | None:
    """'Green', 'on track', '🟢 Healthy' -> 'GREEN'; None when not recognised."""
    if not text:
        return None
    words = " ".join("".join(ch for ch in str(text).lower() if ch.isalnum() or ch.isspace()).split())
    return RAG_WORDS.get(words)


@dataclass
class CleanSignals:
    """Validated values by storage column, and the TAM rating (on the account)."""

    columns: dict[str, Any] = field(default_factory=dict)
    tam_health_rag: str | None = None
    sets_tam: bool = False


class BulkWriteError(Exception):
    def __init__(self, errors: list[dict[str, Any]]):
        self.errors = errors
        super().__init__(f"{len(errors)} problem(s) in the rows; nothing was written")


def clean_signals(data: Mapping[str, Any], *, today: date) -> tuple[CleanSignals, dict[str, str]]:
    """Validate input values by docs/scoring.md name. Returns (clean values, errors by field)."""
    clean, errors = CleanSignals(), {}
    for name, value in data.items():
        if name in READ_ONLY_INPUTS:
            errors[name] = READ_ONLY_INPUTS[name]
            continue
        if name not in WRITABLE_INPUTS:
            errors[name] = "unknown input"
            continue
        try:
            engine.validate_input(name, value)
        except ValueError as exc:
            errors[name] = str(exc).split(": ", 1)[-1]
            continue
        if value is not None and name in STORAGE_MAX and value > STORAGE_MAX[name]:
            errors[name] = f"must be <= {STORAGE_MAX[name]:,}, got {value!r}"
            continue
        if name == "tam_health_rag":
            clean.tam_health_rag, clean.sets_tam = value, True
        elif name in DATED_SIGNALS:
            clean.columns[DATED_SIGNALS[name]] = None if value is None else today - timedelta(days=value)
        elif name in _TEXT_COLUMNS:
            clean.columns[name] = value or ""
        else:
            clean.columns[name] = value
    return clean, errors


@transaction.atomic
def write_signals(account: Account, clean: CleanSignals, *, source: str, at: datetime, by: str = "") -> None:
    """Set one account's inputs; inputs not in `clean` keep their values."""
    signals, _ = AccountSignals.objects.select_for_update().get_or_create(account=account)
    for column, value in clean.columns.items():
        setattr(signals, column, value)
    touched = list(clean.columns) + (["tam_health_rag"] if clean.sets_tam else [])
    signals.sources = stamp_sources(signals.sources, clean.columns, source=source, at=at, by=by)
    if clean.sets_tam:
        signals.sources = {**signals.sources, "tam_health_rag": {"source": source, "at": at.isoformat()}}
        account.tam_health_rag = clean.tam_health_rag or ""
        account.save(update_fields=["tam_health_rag", "updated_at"])
    if touched:
        signals.save()
        rescore_soon([account.pk])


def bulk_write_signals(
    rows: Sequence[Any],
    *,
    accounts: QuerySet[Account],
    source: str,
    at: datetime,
    today: date,
    by: str = "",
) -> dict[str, int]:
    """Upsert inputs for many accounts by external_id, all or nothing.

    `accounts` is what the caller may write to; an external_id outside it is
    reported as unknown, exactly like one that does not exist.
    Raises BulkWriteError naming every bad row (index, external_id, field).
    """
    max_rows = settings.TEND_BULK_MAX_ROWS
    if len(rows) > max_rows:
        raise BulkWriteError(
            [
                {
                    "index": None,
                    "external_id": None,
                    "field": None,
                    "message": f"at most {max_rows} rows per request",
                }
            ]
        )
    errors: list[dict[str, Any]] = []
    cleaned: list[tuple[int, str, CleanSignals]] = []
    first_seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            errors.append(_error(index, None, None, "each row must be a JSON object"))
            continue
        external_id = row.get("external_id")
        if not isinstance(external_id, str) or not external_id.strip():
            errors.append(_error(index, None, "external_id", "required: the account's external_id"))
            continue
        if "\x00" in external_id or len(external_id) > EXTERNAL_ID_MAX:
            errors.append(
                _error(
                    index,
                    None,
                    "external_id",
                    f"not an external_id (NUL, or over {EXTERNAL_ID_MAX} characters)",
                )
            )
            continue
        if external_id in first_seen:
            errors.append(
                _error(
                    index,
                    external_id,
                    "external_id",
                    f"also in row {first_seen[external_id]}; send each account once",
                )
            )
            continue
        first_seen[external_id] = index
        values = {k: v for k, v in row.items() if k != "external_id"}
        clean, field_errors = clean_signals(values, today=today)
        errors.extend(_error(index, external_id, name, msg) for name, msg in field_errors.items())
        cleaned.append((index, external_id, clean))

    with transaction.atomic():
        known = _load_for_update(accounts, [ext for _i, ext, _c in cleaned])
        tracked = set(
            accounts.filter(
                external_id__in=[ext for _i, ext, c in cleaned if "feature_adoption_rate" in c.columns]
            )
            .exclude(tracked_adoption_rate=None)
            .values_list("external_id", flat=True)
        )
        for index, external_id, _clean in cleaned:
            if external_id not in known:
                errors.append(_error(index, external_id, "external_id", "no such account"))
            elif external_id in tracked:
                errors.append(_error(index, external_id, "feature_adoption_rate", TRACKED_ADOPTION))
        if errors:
            errors.sort(key=lambda e: (e["index"] is None, e["index"] or 0))
            raise BulkWriteError(errors)

        signal_rows, tam_rows, created = [], [], 0
        for _index, external_id, clean in cleaned:
            account_id, existing = known[external_id]
            created += existing is None
            current = dict(existing or {column: None for column in SIGNAL_FIELDS})
            sources = current.pop("sources", None) or {}
            current.update(clean.columns)
            sources = stamp_sources(sources, clean.columns, source=source, at=at, by=by)
            if clean.sets_tam:
                sources["tam_health_rag"] = {"source": source, "at": at.isoformat()}
                tam_rows.append((clean.tam_health_rag or "", at, account_id))
            for column in _TEXT_COLUMNS:
                current[column] = current[column] or ""
            signal_rows.append((account_id, *(current[c] for c in SIGNAL_FIELDS), sources, at))
        upsert_rows(
            AccountSignals,
            ["account", *SIGNAL_FIELDS, "sources", "updated_at"],
            signal_rows,
            conflict=["account"],
            update=[*SIGNAL_FIELDS, "sources", "updated_at"],
        )
        update_rows(Account, ["tam_health_rag", "updated_at"], tam_rows)
        rescore_soon(row[0] for row in signal_rows)
    return {"received": len(rows), "created": created, "updated": len(rows) - created}


def _error(
    index: int | None, external_id: str | None, field_name: str | None, message: str
) -> dict[str, Any]:
    return {"index": index, "external_id": external_id, "field": field_name, "message": message}


def _load_for_update(
    accounts: QuerySet[Account], external_ids: list[str]
) -> dict[str, tuple[int, dict | None]]:
    """external_id -> (account id, current signal columns and sources, or None)."""
    fields = [
        "pk",
        "external_id",
        "signals__account",
        *(f"signals__{c}" for c in SIGNAL_FIELDS),
        "signals__sources",
    ]
    found: dict[str, tuple[int, dict | None]] = {}
    for start in range(0, len(external_ids), LOOKUP_CHUNK):
        chunk = external_ids[start : start + LOOKUP_CHUNK]
        # Lock the accounts (not the outer-joined signals) so two writers of
        # the same account cannot interleave their read and write.
        rows = accounts.filter(external_id__in=chunk).select_for_update(of=("self",)).values_list(*fields)
        for pk, external_id, has_signals, *values in rows:
            existing = None
            if has_signals is not None:
                existing = dict(zip([*SIGNAL_FIELDS, "sources"], values, strict=True))
            found[external_id] = (pk, existing)
    return found


USAGE_FIELDS = ("active_users", "events_30d", "last_used_on")
USAGE_MAX = 2_000_000_000


def _usage_errors(row: Mapping[str, Any], today: date) -> dict[str, str]:
    errors = {}
    for name in ("active_users", "events_30d"):
        value = row.get(name, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= USAGE_MAX:
            errors[name] = f"must be a whole number from 0 to {USAGE_MAX:,}, got {value!r}"
    last = row.get("last_used_on")
    if last is not None:
        try:
            when = last if isinstance(last, date) else date.fromisoformat(str(last))
        except ValueError:
            errors["last_used_on"] = f"must be a date (YYYY-MM-DD) or null, got {last!r}"
        else:
            if when > today:
                errors["last_used_on"] = "must not be in the future"
    unknown = sorted(set(row) - {"external_id", "feature", *USAGE_FIELDS})
    errors.update({name: "unknown field" for name in unknown})
    return errors


def bulk_write_usage(
    rows: Sequence[Any], *, accounts: QuerySet[Account], source: str, at: datetime, today: date
) -> dict[str, int]:
    """Upsert feature usage by (external_id, feature key), all or nothing; errors name every bad row."""
    from csm.models import Feature, FeatureUsage

    if len(rows) > settings.TEND_BULK_MAX_ROWS:
        raise BulkWriteError(
            [_error(None, None, None, f"at most {settings.TEND_BULK_MAX_ROWS} rows per request")]
        )
    errors: list[dict[str, Any]] = []
    features = dict(Feature.objects.values_list("key", "pk"))
    external_ids = {
        r.get("external_id") for r in rows if isinstance(r, Mapping) and isinstance(r.get("external_id"), str)
    }
    known = {}
    ids = [e for e in external_ids if isinstance(e, str) and "\x00" not in e]
    for start in range(0, len(ids), LOOKUP_CHUNK):
        known.update(
            accounts.filter(external_id__in=ids[start : start + LOOKUP_CHUNK]).values_list(
                "external_id", "pk"
            )
        )
    clean, seen = [], {}
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            errors.append(_error(index, None, None, "each row must be a JSON object"))
            continue
        external_id, feature = row.get("external_id"), row.get("feature")
        if not isinstance(external_id, str) or external_id not in known:
            errors.append(
                _error(
                    index,
                    external_id if isinstance(external_id, str) else None,
                    "external_id",
                    "no such account",
                )
            )
            continue
        if not isinstance(feature, str) or feature not in features:
            errors.append(_error(index, external_id, "feature", f"no such feature: {feature!r}"))
            continue
        if (external_id, feature) in seen:
            errors.append(
                _error(index, external_id, "feature", f"also in row {seen[(external_id, feature)]}")
            )
            continue
        seen[(external_id, feature)] = index
        field_errors = _usage_errors(row, today)
        errors.extend(_error(index, external_id, name, message) for name, message in field_errors.items())
        if not field_errors:
            last = row.get("last_used_on")
            clean.append(
                (
                    known[external_id],
                    features[feature],
                    row.get("active_users", 0),
                    row.get("events_30d", 0),
                    last if last is None or isinstance(last, date) else date.fromisoformat(str(last)),
                    source,
                    at,
                )
            )
    if errors:
        raise BulkWriteError(errors)
    columns = ["account", "feature", *USAGE_FIELDS, "source", "updated_at"]
    with transaction.atomic():
        upsert_rows(FeatureUsage, columns, clean, conflict=["account", "feature"], update=columns[2:])
    return {"received": len(rows), "written": len(clean)}

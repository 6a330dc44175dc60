"""Account search: accounts whose name, external id or primary contact's email contains each term.

PostgreSQL answers `icontains` from trigram GIN indexes (migration 0049). SQLite has no such
index, so a search there read every account. Where SQLite has FTS5's trigram tokenizer (3.34 and
later), `ensure_index` keeps an FTS5 table over the three columns, in step with the accounts by
triggers, and a term of 3 characters or more is looked up in it; a shorter term (no trigram to
look up), or a SQLite without it, compares as `icontains` does. Either way the same accounts
match, case aside: FTS5 folds the case of every letter, `LIKE` only of ASCII ones.

The table is made after every `migrate` (a `post_migrate` handler), not by a migration of its
own: rebuilding the accounts table (how SQLite alters a column) drops its triggers, and the next
`migrate` puts them back and re-reads the table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import DatabaseError, connections
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

logger = logging.getLogger(__name__)

FIELDS = ("name", "external_id", "primary_contact_email")
TABLE = "csm_account_search"
ACCOUNTS = "csm_account"
MIN_TRIGRAM = 3  # a term shorter than a trigram cannot be looked up in the index

_COLUMNS = ", ".join(FIELDS)
_NEW = ", ".join(f"new.{f}" for f in FIELDS)
_OLD = ", ".join(f"old.{f}" for f in FIELDS)
_TRIGGERS = {
    f"{TABLE}_insert": (
        f"AFTER INSERT ON {ACCOUNTS} BEGIN "
        f"INSERT INTO {TABLE}(rowid, {_COLUMNS}) VALUES (new.id, {_NEW}); END"
    ),
    f"{TABLE}_delete": (
        f"AFTER DELETE ON {ACCOUNTS} BEGIN "
        f"INSERT INTO {TABLE}({TABLE}, rowid, {_COLUMNS}) VALUES ('delete', old.id, {_OLD}); END"
    ),
    # Only these columns: the daily scan's updates of the health columns leave the index alone.
    f"{TABLE}_update": (
        f"AFTER UPDATE OF {_COLUMNS} ON {ACCOUNTS} BEGIN "
        f"INSERT INTO {TABLE}({TABLE}, rowid, {_COLUMNS}) VALUES ('delete', old.id, {_OLD}); "
        f"INSERT INTO {TABLE}(rowid, {_COLUMNS}) VALUES (new.id, {_NEW}); END"
    ),
}


def ensure_index(using: str = "default") -> bool:
    """On SQLite, make the search table and its triggers where they are missing, and fill the table
    when anything was missing. True when the index is there afterwards; always False elsewhere."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        missing = _missing(cursor)
        if missing is None:
            return False
        if not missing:
            return True
        try:
            cursor.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5({_COLUMNS}, "
                f"content='{ACCOUNTS}', content_rowid='id', tokenize='trigram')"
            )
        except DatabaseError:  # no FTS5, or a SQLite before the trigram tokenizer: search by LIKE
            logger.warning("SQLite has no FTS5 trigram tokenizer: account search reads every account.")
            return False
        for name, body in _TRIGGERS.items():
            cursor.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")
        # Whatever was missing, rows may have changed without the index: read them all again.
        cursor.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('rebuild')")
    return True


def _missing(cursor) -> list[str] | None:
    """The search table and triggers not there (SQLite), or None without the accounts table."""
    names = (ACCOUNTS, TABLE, *_TRIGGERS)
    cursor.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') "
        f"AND name IN ({', '.join(['%s'] * len(names))})",
        names,
    )
    present = {name for (name,) in cursor.fetchall()}
    if ACCOUNTS not in present:
        return None
    return [name for name in names[1:] if name not in present]


def _indexed(using: str) -> bool:
    """Whether searches on `using` can use the index now (SQLite, table and triggers all there)."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        return _missing(cursor) == []


def matching(accounts: QuerySet, terms: Iterable[str]) -> QuerySet:
    """`accounts` with each term in the name, external id or primary contact's email."""
    terms = [term for term in terms if term]
    if not terms:
        return accounts
    if any("\x00" in term for term in terms):
        # No stored text holds a NUL (PostgreSQL cannot store one; every edge refuses them), and
        # neither PostgreSQL nor FTS5 can compare one: nothing matches.
        return accounts.none()
    indexed = any(len(term) >= MIN_TRIGRAM for term in terms) and _indexed(accounts.db)
    for term in terms:
        if indexed and len(term) >= MIN_TRIGRAM:
            phrase = '"' + term.replace('"', '""') + '"'  # the term as one string, quotes doubled
            accounts = accounts.filter(
                pk__in=RawSQL(f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH %s", [phrase])
            )
        else:
            contains = Q()
            for field in FIELDS:
                contains |= Q(**{f"{field}__icontains": term})
            accounts = accounts.filter(contains)
    return accounts

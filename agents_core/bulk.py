"""Bulk writes as one parameterised statement executed for many rows.

Django's `bulk_create(update_conflicts=True)` splits a batch into statements
of at most 999 parameters on SQLite (12 statements for 1,000 rows of 12
columns) and `bulk_update` builds a CASE expression per row and field in
Python. For the hot paths (the daily scan, bulk signal ingestion) one
`executemany` of the same INSERT ... ON CONFLICT or UPDATE is simpler and
faster (figures in docs/performance.md; why: docs/decisions/0001-bulk-writer.md).
The SQL is built from model metadata and is the same on SQLite (3.24+) and
PostgreSQL; values go through each field's own
`get_db_prep_save`, so JSON, dates and decimals are adapted as the ORM would
(skipped where it changes nothing; flat JSON goes through orjson, see
`flat_json`, and JSON a caller has written already, `json_text`, goes as it is).

On PostgreSQL the rows are streamed with `COPY` (psycopg 3's copy
support) into a temporary staging table of the same columns (`Staged`), then written
by one `INSERT ... SELECT ... ON CONFLICT` or `UPDATE ... FROM`; one staging
can feed both, as the scan's scores set their accounts' health: 2.5x
faster than one array per column in a single statement (`unnest`), whose
array literals the server parses element by element, and far faster than
`executemany`'s pipeline of one statement per row (docs/performance.md).

One read, `driver_rows`: a values_list query's rows as the driver gives them, for
the long reads (the backtests' history) where the ORM's per-row conversion costs
more than the work done with the row.
The staging table lives in the session (`ON COMMIT DELETE ROWS`) and is
emptied before each use, so two writes in one transaction never see each
other's rows. A key that appears twice in one call is written once, as
`executemany` would leave it (the last row when updating, the first when
not).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from operator import countOf, itemgetter
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connections, models, transaction

from agents_core.fields import WholeJSONField

# Fields whose `get_db_prep_save` gives back a value of these exact types
# unchanged, on SQLite and PostgreSQL alike: such values skip the call (it is
# most of the cost of preparing 1,000 rows). Anything else takes the ORM's path.
_PASS_THROUGH = {
    "AutoField": (int,),
    "BigAutoField": (int,),
    "IntegerField": (int,),
    "BigIntegerField": (int,),
    "SmallIntegerField": (int,),
    "PositiveIntegerField": (int,),
    "PositiveSmallIntegerField": (int,),
    "PositiveBigIntegerField": (int,),
    "FloatField": (float,),
    "CharField": (str,),
    "TextField": (str,),
    "BooleanField": (bool,),
}


def _preparer(field: models.Field, connection) -> Any:
    target = field.target_field if field.is_relation else field
    # Only Django's own field classes: a custom one may convert values of any type.
    builtin = all(type(f).__module__.startswith("django.db.models.fields") for f in (field, target))
    kinds = _PASS_THROUGH.get(target.get_internal_type()) if builtin else None
    prep = field.get_db_prep_save
    if kinds is not None:
        return lambda value: value if value is None or type(value) in kinds else prep(value, connection)
    if type(field) in (models.JSONField, WholeJSONField):  # the house's own writes its JSON as Django's
        return _json_preparer(field, connection, prep)
    if builtin and type(target) is models.DateTimeField and settings.USE_TZ:
        return _datetime_preparer(connection, prep)
    if builtin and type(target) is models.DateField:
        # A date is already what DateField.get_prep_value makes of it: straight to the backend's adapter.
        adapt = connection.ops.adapt_datefield_value
        return lambda value: adapt(value) if type(value) is date else prep(value, connection)
    # A batch often repeats one value (the day scored, the time of the run):
    # the same date or datetime object is prepared once.
    last: list[Any] = [object(), None]

    def prepare(value: Any) -> Any:
        if value is last[0] and isinstance(value, date):
            return last[1]
        last[0], last[1] = value, prep(value, connection)
        return last[1]

    return prepare


# Values json.dumps and orjson write alike (as JSON text; orjson leaves out
# the spaces). A dict or list holding anything else takes Django's own path.
_FLAT_SCALARS = frozenset({str, int, float, bool, type(None)})


def flat_json(value: dict | list) -> str | None:
    """`value` as JSON text through orjson, when it is a dict or list of plain scalars; else None.

    Faster than json.dumps for the scan's three JSON columns per score
    (docs/performance.md); every check here runs in C.
    Left to Django: nested values, anything orjson refuses (a key that is not
    a string, an integer over 64 bits, a lone surrogate) and NaN or infinity,
    which orjson would write as null where json.dumps writes a token the
    database refuses.
    """
    items = value.values() if type(value) is dict else value
    if not _FLAT_SCALARS.issuperset(map(type, items)):
        return None
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return None
    # Each None, NaN and infinity became one "null" (and a string may hold
    # the word): as many as there are Nones means no NaN or infinity was there.
    if b"null" in text and text.count(b"null") != countOf(items, None):
        return None
    return text.decode()


class JSONText:
    """A JSON column's value already written as JSON text (by `json_text`): the bulk writer gives it
    to the driver as it is, with none of `flat_json`'s checks."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"JSONText({self.text!r})"


def json_text(value: dict | list) -> JSONText:
    """`value` as JSON text for the bulk writer, through orjson (json.dumps for what orjson refuses:
    an integer past 64 bits, a key that is not a string).

    Only for values known to be plain and finite, such as scores and the inputs the engine has
    validated (the daily scan's three JSON columns): orjson writes NaN and infinity as null, which
    `flat_json` guards against at a cost of about 1 us a value.
    """
    try:
        return JSONText(orjson.dumps(value).decode())
    except orjson.JSONEncodeError:
        return JSONText(json.dumps(value))


def _datetime_preparer(connection, prep) -> Any:
    """An aware datetime as the backend's own adapter writes it, without the calls around it (a
    batch of events has two datetimes a row). Anything else (naive, a string) takes the ORM's path.

    PostgreSQL takes it as it is; SQLite as the naive text in the connection's time zone.
    """
    if connection.vendor == "postgresql":
        return lambda value: (
            value if type(value) is datetime and value.tzinfo is not None else prep(value, connection)
        )
    if connection.vendor == "sqlite":
        zone = connection.timezone

        def as_text(value: Any) -> Any:
            if type(value) is datetime and value.tzinfo is not None:
                return str(value.astimezone(zone).replace(tzinfo=None))
            return prep(value, connection)

        return as_text
    return lambda value: prep(value, connection)


def _json_preparer(field: models.JSONField, connection, prep) -> Any:
    """What JSONField does with a dict or list, without the calls around it; flat ones through orjson."""
    adapt, encoder = connection.ops.adapt_json_value, field.encoder
    if encoder is not None:  # the field's own encoder decides
        return lambda value: adapt(value, encoder) if type(value) in (dict, list) else prep(value, connection)
    if connection.vendor == "postgresql":
        # The values only ever go to COPY (`Staged`), where a json or jsonb column parses its text
        # as JSON: the text itself, not a Jsonb wrapper for psycopg to call back for it.
        def text(value: Any) -> Any:
            if type(value) is JSONText:
                return value.text
            if type(value) in (dict, list):
                fast = flat_json(value)
                return json.dumps(value) if fast is None else fast
            return prep(value, connection)

        return text

    def prepare(value: Any) -> Any:
        if type(value) is JSONText:
            return value.text
        if type(value) in (dict, list):
            fast = flat_json(value)
            return adapt(value, None) if fast is None else fast
        return prep(value, connection)

    return prepare


def _prepared(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]], using: str
) -> list[tuple]:
    """The rows' values as the driver takes them, prepared column by column: a value that is the
    same object in every row (the day scored, the time of the run, the profile) is prepared once."""
    connection = connections[using]
    rows = list(rows)
    width = len(fields)
    for row in rows:
        if len(row) != width:
            raise ValueError(f"a row of {len(row)} values for the {width} fields {', '.join(fields)}")
    if not rows:
        return []
    columns = []
    for name, column in zip(fields, zip(*rows, strict=True), strict=True):
        prepare = _preparer(model._meta.get_field(name), connection)
        first = column[0]
        if all(value is first for value in column):
            columns.append((prepare(first),) * len(column))
        else:
            columns.append(list(map(prepare, column)))
    return list(zip(*columns, strict=True))


def _conflict_sql(
    model: type[models.Model], conflict: Sequence[str], update: Sequence[str], where: str, quote
) -> str:
    """`ON CONFLICT (...) DO UPDATE SET ...` (or `DO NOTHING`), the same on both databases."""
    meta = model._meta
    conflict_cols = ", ".join(quote(meta.get_field(f).column) for f in conflict)
    if where:
        conflict_cols = f"{conflict_cols}) WHERE ({where}"
    assignments = ", ".join(
        f"{quote(meta.get_field(f).column)} = excluded.{quote(meta.get_field(f).column)}" for f in update
    )
    return f"ON CONFLICT ({conflict_cols}) " + (f"DO UPDATE SET {assignments}" if update else "DO NOTHING")


def upsert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    conflict: Sequence[str],
    update: Sequence[str],
    where: str = "",
    using: str = "default",
) -> int:
    """INSERT the rows; where `conflict` (a unique key) matches, SET the `update` fields.

    With no `update` fields, rows that conflict are left alone (DO NOTHING). `where` is the
    predicate of a partial unique index (SQL on its columns), which the conflict target must repeat.
    Returns the number of rows the database wrote (inserted or updated):
    with DO NOTHING, how many were new.
    """
    if not rows:
        return 0
    connection = connections[using]
    prepared = _prepared(model, fields, rows, using)
    if connection.vendor == "postgresql":
        key_of = itemgetter(*[list(fields).index(f) for f in conflict])
        unique: dict[Any, Sequence[Any]] = {}
        for row in prepared:
            key = key_of(row)
            if update or key not in unique:
                unique[key] = row
        with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
            return Staged(cursor, model, fields, unique.values(), prepared=True).upsert(
                conflict=conflict, update=update, where=where
            )
    quote = connection.ops.quote_name
    columns = [quote(model._meta.get_field(f).column) for f in fields]
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) {_conflict_sql(model, conflict, update, where, quote)}"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)  # sqlite3 sums each row's changes into rowcount
        return cursor.rowcount


class Staged:
    """Rows of `fields` of `model`, prepared, `COPY`ed into this session's staging table (PostgreSQL),
    to be written from by one statement each: `upsert` into the model's table, `update` of any
    table whose rows they name.

    The table is made on first use in a session (typed as the model's table, no constraints) and
    emptied first, so rows staged earlier in the same transaction are never written again: by
    DELETE, which costs nothing on the empty table a commit leaves, where TRUNCATE gave the table
    new files each time (5 to 7 ms a call, a second per 100,000 accounts scanned).
    Use inside a transaction: the table is emptied again at commit.
    """

    def __init__(
        self,
        cursor,
        model: type[models.Model],
        fields: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        prepared: bool = False,
    ) -> None:
        """`rows`: the fields' values as callers hold them, prepared here as the ORM would, or
        `prepared` already (by `_prepared`)."""
        rows = _prepared(model, fields, list(rows), cursor.db.alias) if not prepared else list(rows)
        self.cursor, self.model, self.fields, self.rows = cursor, model, list(fields), rows
        quote = self.quote = cursor.db.ops.quote_name
        meta = model._meta
        self.columns = [quote(meta.get_field(f).column) for f in fields]
        digest = hashlib.sha1(f"{meta.db_table}:{','.join(self.columns)}".encode()).hexdigest()[:16]
        self.table = quote(f"tend_stage_{digest}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.table} ON COMMIT DELETE ROWS AS "
            f"SELECT {', '.join(self.columns)} FROM {quote(meta.db_table)} WITH NO DATA; "
            f"DELETE FROM {self.table}"
        )
        # The driver's own cursor (Django's has no COPY); its errors raised as Django's, as execute's are.
        with (
            cursor.db.wrap_database_errors,
            cursor.cursor.copy(f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        self.counted = False

    def upsert(self, *, conflict: Sequence[str], update: Sequence[str], where: str = "") -> int:
        """INSERT the staged rows into the model's table, as `upsert_rows` does; returns the rows written.
        The staged rows must not repeat a conflict key (`upsert_rows` keeps one of each)."""
        table = self.quote(self.model._meta.db_table)
        columns = ", ".join(self.columns)
        self.cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {self.table} "
            f"{_conflict_sql(self.model, conflict, update, where, self.quote)}"
        )
        return self.cursor.rowcount

    def update(self, target: type[models.Model], assignments: dict[str, str], *, key: str) -> None:
        """UPDATE the rows of `target` whose primary key is a staged row's `key` field: each field of
        `assignments` (a `target` field) takes the staged field it names.

        The rows updated are also bounded by the least and greatest key staged, as literals: the
        planner then reads only that range of the table, off its primary key. Joined on the key
        alone, it hashed the whole table whenever it expected the staged rows to be more than a few
        hundred (a scan batch's 1,000 at 100,000 accounts: a sequential scan of the book per batch,
        19 of the statement's 32 ms; docs/performance.md).
        """
        if not self.rows:
            return
        quote, meta = self.quote, target._meta
        staged = self.model._meta
        sets = ", ".join(
            f"{quote(meta.get_field(field).column)} = v.{quote(staged.get_field(source).column)}"
            for field, source in assignments.items()
        )
        keys = list(map(itemgetter(self.fields.index(key)), self.rows))
        # Integer keys only: text compares by the database's collation, which Python's min and max
        # do not know.
        ranged = all(type(k) is int for k in keys)
        least, greatest = (min(keys), max(keys)) if ranged else (None, None)
        if (not ranged or greatest - least >= 2 * len(keys)) and not self.counted:
            # Keys spread wider than the rows (a CRM page, a few accounts here and there): the range
            # may be the whole table. The planner knows nothing of a temporary table's rows (it
            # guesses 1,850) and, for a table up to some 30 times that, hashes the whole of it.
            # Counted, it probes the primary key for each staged row. A dense range (a scan's
            # batch) needs no count: whatever the plan, it reads only that range.
            self.cursor.execute(f"ANALYZE {self.table}")
            self.counted = True
        pk = f"t.{quote(meta.pk.column)}"
        self.cursor.execute(
            f"UPDATE {quote(meta.db_table)} AS t SET {sets} FROM {self.table} AS v "
            f"WHERE {pk} = v.{quote(staged.get_field(key).column)}"
            + (f" AND {pk} BETWEEN %s AND %s" if ranged else ""),
            [least, greatest] if ranged else None,
        )


def update_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    using: str = "default",
) -> None:
    """UPDATE `fields` of many rows; each row is the field values followed by the pk."""
    if not rows:
        return
    connection = connections[using]
    pk = model._meta.pk.name
    prepared = _prepared(model, [*fields, pk], rows, using)
    if connection.vendor == "postgresql":
        with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
            Staged(cursor, model, [*fields, pk], prepared, prepared=True).update(
                model, {f: f for f in fields}, key=pk
            )
        return
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(model._meta.get_field(f).column)} = %s" for f in fields)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s"
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)


def driver_rows(rows: models.QuerySet, *, chunk: int = 5_000, bounded: bool = False):
    """The rows of a `values_list` queryset as the DB-API driver returns them, `chunk` at a time.

    Dates are `date`s on both backends (Django's SQLite converters, psycopg's loaders); text and
    numbers are as stored; JSON is text on both (cast it: `Cast(name, TextField())`) to parse only
    what is used. No field converters run, so use it only for columns that need none.

    Read as `QuerySet.iterator()` reads: on PostgreSQL through a server-side cursor (unless the
    database sets DISABLE_SERVER_SIDE_CURSORS), so a long read holds `chunk` rows at a time, not
    the whole result. `bounded`: the query's rows are few (a scan batch): one plain cursor, no
    round trips to declare and close a server-side one.
    """
    try:
        sql, params = rows.query.get_compiler(using=rows.db).as_sql()
    except EmptyResultSet:  # a filter no row can match (`pk__in=[]`): Django runs no query either
        return
    connection = connections[rows.db]
    server_side = not bounded and not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    with connection.chunked_cursor() if server_side else connection.cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(chunk):
            yield from batch

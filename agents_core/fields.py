"""Model fields of the house's own."""

from __future__ import annotations

from typing import Any

from django.db import models


class WholeJSONField(models.JSONField):
    """JSON that is written and read whole, never queried inside: PostgreSQL's `json` type, not `jsonb`.

    `jsonb` converts each value to a binary form on the way in and back to text on the way out, which
    pays only where a query looks inside (containment, keys, an index of them). A health score's
    breakdown and inputs are written a row per account per day and read whole; as `json` the server
    only checks the text, and keeps it as written: the daily scan took 6-8% less time on
    PostgreSQL (docs/performance.md). Other databases store JSON as text either way.

    What `json` cannot do: compare two values (it has no `=`: no `DISTINCT` or `GROUP BY` on the
    column, no exact match, of the whole or of a key, `inputs__nps_score=9`) or answer `has_key` and
    containment lookups. A key read as text compares (`KeyTextTransform("nps_score", "inputs")`).
    The field reads and writes a `jsonb` column as well, so a large table can be moved to `json` when
    it suits (csm migration 0055).
    """

    def db_type(self, connection) -> str | None:
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def get_db_prep_value(self, value: Any, connection, prepared: bool = False) -> Any:
        if connection.vendor != "postgresql":
            return super().get_db_prep_value(value, connection, prepared)
        from django.db.backends.postgresql.operations import get_json_dumps
        from psycopg.types.json import Json

        if not prepared:
            value = self.get_prep_value(value)
        return Json(value, dumps=get_json_dumps(self.encoder))


def read_json_as_text(sender, connection, **kwargs) -> None:
    """`connection_created` receiver: PostgreSQL's `json` reaches Django as text, as Django has `jsonb`
    reach it, so that JSONField parses both alike (a key's value included) and a column not yet moved
    from one type to the other reads the same."""
    if connection.vendor == "postgresql":
        from psycopg.types.string import TextLoader

        connection.connection.adapters.register_loader("json", TextLoader)

"""Notion through notion-client, with Tend's own pacing and retries.

Notion allows about 3 requests a second and answers 429 with Retry-After
beyond that. notion-client retries 429 itself but 5xx only for GET and
DELETE, while reading a data source is a POST (`data_sources.query`). So
the client's retries are off and this module retries both 429 and 5xx,
honouring Retry-After, with exponential back-off where there is none, and
spaces requests to stay under the rate limit. Reads only: retrying them is
always safe.

Switched off cleanly when NOTION_TOKEN is not set: `notion_client()` then
returns None.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings
from notion_client import APIResponseError, Client
from notion_client.errors import HTTPResponseError, RequestTimeoutError

from agents_core.integrations.backoff import retry_delay

RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class NotionUnavailable(Exception):
    """Notion could not be read after the retries; nothing was changed."""


@dataclass
class NotionGateway:
    client: Client
    min_interval: float = 1 / 3  # about 3 requests a second
    max_retries: int = 4
    max_delay: float = 60.0
    sleep: Callable[[float], None] = field(default_factory=lambda: time.sleep)
    clock: Callable[[], float] = field(default_factory=lambda: time.monotonic)
    requests_made: int = 0
    _last_request: float | None = field(default=None, repr=False)

    def _pace(self) -> None:
        if self._last_request is not None:
            wait = self.min_interval - (self.clock() - self._last_request)
            if wait > 0:
                self.sleep(wait)
        self._last_request = self.clock()

    def call(self, function: Callable[..., Any], *, retry_server_errors: bool = True, **kwargs: Any) -> Any:
        """Call the client, paced; retry 429 always, and 5xx unless the call is a write
        that may have happened (`retry_server_errors=False`): the caller converges instead."""
        for attempt in range(self.max_retries + 1):
            self._pace()
            self.requests_made += 1
            try:
                return function(**kwargs)
            except (APIResponseError, HTTPResponseError) as exc:
                retryable = exc.status == 429 or (retry_server_errors and exc.status in RETRYABLE_STATUS)
                if not retryable or attempt == self.max_retries:
                    raise NotionUnavailable(f"Notion answered {exc.status} ({exc.code}): {exc}") from exc
                self.sleep(retry_delay(exc.headers.get("retry-after"), attempt, most=self.max_delay))
            except (RequestTimeoutError, httpx.TransportError) as exc:
                if attempt == self.max_retries:
                    raise NotionUnavailable(f"Notion did not answer: {exc}") from exc
                self.sleep(retry_delay(None, attempt, most=self.max_delay))
        raise AssertionError("unreachable")

    def data_source_id(self, database_id: str) -> str:
        """The database's first data source (Notion API 2025-09-03 and later)."""
        database = self.call(self.client.databases.retrieve, database_id=database_id)
        sources = database.get("data_sources") or []
        if not sources:
            raise NotionUnavailable(f"Notion database {database_id} has no data source")
        return sources[0]["id"]

    def pages(self, data_source_id: str, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every page of a data source, following the cursor."""
        cursor = None
        while True:
            kwargs: dict[str, Any] = {"data_source_id": data_source_id, "page_size": page_size}
            if cursor:
                kwargs["start_cursor"] = cursor
            response = self.call(self.client.data_sources.query, **kwargs)
            yield from response.get("results", [])
            cursor = response.get("next_cursor")
            if not response.get("has_more") or not cursor:
                return


def notion_client(http_client: httpx.Client | None = None) -> Client | None:
    """A configured client, or None when NOTION_TOKEN is not set."""
    token = settings.NOTION_TOKEN
    if not token:
        return None
    # Retries are ours (see the module docstring).
    return Client(auth=token, client=http_client or httpx.Client(), retry=False)


def plain_value(prop: dict[str, Any]) -> str:
    """A Notion property value as plain text ("" when empty)."""
    kind = prop.get("type")
    value = prop.get(kind)
    if value is None:
        return ""
    if kind in ("title", "rich_text"):
        return "".join(part.get("plain_text", "") for part in value).strip()
    if kind in ("select", "status"):
        return value.get("name", "")
    if kind == "multi_select":
        return ", ".join(option.get("name", "") for option in value)
    if kind == "date":
        return value.get("start") or ""
    if kind == "people":
        person = value[0] if value else {}
        return (person.get("person") or {}).get("email") or person.get("name") or ""
    if kind == "number":
        return repr(value) if isinstance(value, float) else str(value)
    if kind == "formula":
        return plain_value({"type": value.get("type"), **value})
    if kind == "checkbox":
        return "true" if value else "false"
    if kind == "unique_id":
        prefix = value.get("prefix")
        return f"{prefix}-{value.get('number')}" if prefix else str(value.get("number", ""))
    if isinstance(value, str | int | float):
        return str(value)  # email, url, phone_number
    return ""

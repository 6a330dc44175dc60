"""Notion's HTTP API as a strict httpx transport: what the real service checks before any handler runs.

Notion refuses a request without a `Notion-Version` header (400
missing_version), without a bearer token or with another one (401
unauthorized), with a JSON body that is not JSON (400 invalid_json), and
rich text over 2,000 characters or arrays over 100 items (400
validation_error). Tests wrap their handler in it so that a client that
stops sending these is caught, not served.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

MAX_TEXT = 2000
MAX_ARRAY = 100


def _error(status: int, code: str, message: str) -> httpx.Response:
    body = {"object": "error", "status": status, "code": code, "message": message}
    return httpx.Response(status, json=body)


def _too_big(value) -> str | None:
    if isinstance(value, dict):
        text = value.get("text")
        if isinstance(text, dict) and len(text.get("content", "")) > MAX_TEXT:
            return f"rich text content is longer than {MAX_TEXT}"
        return next((problem for item in value.values() if (problem := _too_big(item))), None)
    if isinstance(value, list):
        if len(value) > MAX_ARRAY:
            return f"an array has more than {MAX_ARRAY} items"
        return next((problem for item in value if (problem := _too_big(item))), None)
    return None


def strict(handler: Callable[[httpx.Request], httpx.Response], *, token: str) -> httpx.MockTransport:
    def check(request: httpx.Request) -> httpx.Response:
        if not request.headers.get("Notion-Version"):
            return _error(400, "missing_version", "Notion-Version header failed validation.")
        if request.headers.get("Authorization") != f"Bearer {token}":
            return _error(401, "unauthorized", "API token is invalid.")
        if request.content:
            try:
                body = json.loads(request.content)
            except ValueError:
                return _error(400, "invalid_json", "Error parsing JSON body.")
            if problem := _too_big(body):
                return _error(400, "validation_error", f"body failed validation: {problem}.")
        return handler(request)

    return httpx.MockTransport(check)

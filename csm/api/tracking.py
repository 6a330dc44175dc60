"""The Segment-compatible tracking endpoint: `/ingest/segment/v1/{identify,group,track,page,screen,batch}`.

An unmodified Segment or RudderStack library pointed at `http://<tend>/ingest/segment`
works: HTTP Basic with the source's write key as the user name (or `writeKey`
in the body), JSON or gzip-compressed JSON, Segment's limits (500 KB a batch,
32 KB a message). Answers are Segment's shape: `{"success": true}` with the
counts, or `{"code": ..., "message": ...}` (what the clients log) with a 400
naming every bad message (the good ones of the batch are kept) or a 401.

A plain Django view rather than DRF: it is the hottest path of Tend, and its
callers speak Segment's protocol, not Tend's API.
"""

from __future__ import annotations

import json
import re
import zlib

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from csm.usage import spec
from csm.usage.ingest import accept, source_for

KINDS = (*spec.TYPES, "batch")
# JSON escapes of what a text column refuses; only a body holding one is checked message by message.
UNSTORABLE = re.compile(rb"\\u0000|\\u[dD][89abAB][0-9a-fA-F]{2}|\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def _storable(message) -> bool:
    text = json.dumps(message, ensure_ascii=False, default=str)
    if "\\u0000" in text:  # json.dumps writes a NUL as its escape
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_json(constant: str):
    """Python reads NaN and Infinity; JSON (and the databases' JSON columns) does not."""
    raise ValueError(f"{constant} is not JSON")


def _error(status: int, code: str, message: str, **extra) -> JsonResponse:
    response = JsonResponse({"success": False, "code": code, "message": message, **extra}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Basic realm="tend-tracking"'
    return response


def _body(request) -> bytes:
    """The request body, gunzipped if it says so; never more than a batch may hold."""
    raw = request.body
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        body = raw
    elif encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(raw, spec.MAX_BATCH_BYTES + 1)
        except zlib.error:
            raise spec.Refused("the body says gzip but is not gzip data") from None
    else:
        raise spec.Refused(f"Content-Encoding {encoding!r} is not supported (use gzip or none)")
    if len(body) > spec.MAX_BATCH_BYTES:
        raise spec.Refused(f"a batch may be at most {spec.MAX_BATCH_BYTES // 1024} KB")
    return body


@csrf_exempt
@require_POST
def segment(request, kind: str):
    if kind not in KINDS:
        return _error(404, "not_found", f"no such call: {kind!r} (use one of {', '.join(KINDS)})")
    try:
        body = _body(request)
        data = json.loads(body or b"null", parse_constant=_not_json)
    except RequestDataTooBig:
        return _error(400, "too_large", f"a batch may be at most {spec.MAX_BATCH_BYTES // 1024} KB")
    except spec.Refused as exc:
        return _error(400, "invalid_request", str(exc))
    except (ValueError, UnicodeDecodeError):
        return _error(400, "invalid_json", "the body is not JSON")
    except RecursionError:
        return _error(400, "invalid_json", "the body is nested too deeply")
    if not isinstance(data, dict):
        return _error(400, "invalid_request", "the body must be a JSON object")
    source = source_for(request.headers.get("Authorization", ""), data.get("writeKey"))
    if source is None:
        return _error(401, "unauthorized", "a valid, unrevoked write key is required (HTTP Basic user name)")
    if kind == "batch":
        messages = data.get("batch")
        if not isinstance(messages, list):
            return _error(400, "invalid_request", "batch must be a list of messages")
    else:
        if data.get("type", kind) != kind:
            return _error(
                400, "invalid_request", f"this is the {kind} call; the message says {data['type']!r}"
            )
        messages = [{**data, "type": kind}]
    # No message of a body this small can be over the limit: measure each only in a larger one.
    refused_here = [
        {"index": i, "message": f"a message may be at most {spec.MAX_MESSAGE_BYTES // 1024} KB"}
        for i, m in enumerate(messages)
        if len(body) > spec.MAX_MESSAGE_BYTES
        and len(json.dumps(m, separators=(",", ":"), default=str)) > spec.MAX_MESSAGE_BYTES
    ]
    if UNSTORABLE.search(body):
        # Text no database column can hold: a NUL, or half of a surrogate pair.
        refused_here += [
            {"index": i, "message": "the message holds a NUL character or a lone surrogate"}
            for i, m in enumerate(messages)
            if i not in {e["index"] for e in refused_here} and not _storable(m)
        ]
    if refused_here:
        skip = {e["index"] for e in refused_here}
        messages = [m if i not in skip else None for i, m in enumerate(messages)]
    outcome = accept(source, [m for m in messages if m is not None], sent_at=data.get("sentAt"))
    errors = refused_here + _reindexed(outcome.errors, messages)
    if errors:
        return _error(
            400,
            "invalid_messages",
            f"{len(errors)} of {len(messages)} message(s) refused; the others were kept",
            **{**outcome.as_dict(), "received": len(messages), "errors": errors},
        )
    return JsonResponse({"success": True, **outcome.as_dict()})


def _reindexed(errors: list[dict], messages: list) -> list[dict]:
    """Errors indexed within the messages passed on, indexed within the batch as sent."""
    kept = [i for i, m in enumerate(messages) if m is not None]
    return [{**e, "index": kept[e["index"]] if e.get("index") is not None else None} for e in errors]

"""A Slack stand-in on loopback, checking what Slack checks: the bot token (answered as Slack does,
HTTP 200 with `"ok": false`), each method's required arguments, Block Kit's limits, and the users
it knows. It also takes the posts to interactions' response_url hooks."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlparse

from tests.fakes.http import JSONHandler, serve

TOKEN = "xoxb-test-token"
USERS = {"U-MAYA": "maya@example.com", "U-TOM": "tom@example.com", "U-MORGAN": "morgan@example.com",
         "U-NOBODY": "nobody@example.com"}  # fmt: skip


class Slack:
    def __init__(self):
        self.posts: list[dict] = []  # chat.postMessage bodies, as received
        self.replies: list[dict] = []  # response_url posts
        self.calls: list[str] = []
        self.history: dict[str, list[dict]] = {}  # channel -> its messages, newest first
        slack = self

        class Handler(JSONHandler):
            def do_GET(self):
                self._handle({k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()})

            def do_POST(self):
                raw = self.body()
                if self.path.startswith("/hooks/"):
                    slack.replies.append(json.loads(raw))
                    self.send_json(200, {"ok": True})
                    return
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    args = json.loads(raw or b"{}")
                else:
                    args = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                self._handle(args)

            def _handle(self, args):
                method = urlparse(self.path).path.removeprefix("/api/")
                slack.calls.append(method)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.send_json(200, {"ok": False, "error": "invalid_auth"})
                    return
                self.send_json(200, slack.answer(method, args))

        self.server, self.url = serve(Handler)

    def answer(self, method: str, args: dict) -> dict:
        if method == "users.lookupByEmail":
            found = [uid for uid, email in USERS.items() if email == args.get("email")]
            return (
                {"ok": True, "user": {"id": found[0]}} if found else {"ok": False, "error": "users_not_found"}
            )
        if method == "users.info":
            email = USERS.get(args.get("user", ""))
            if email is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": args["user"], "profile": {"email": email}}}
        if method == "conversations.open":
            users = args.get("users")
            if not users:
                return {"ok": False, "error": "users_list_not_supplied"}
            return {"ok": True, "channel": {"id": f"D-{users}"}}
        if method == "chat.postMessage":
            if not args.get("channel"):
                return {"ok": False, "error": "channel_not_found"}
            if not args.get("text") and not args.get("blocks"):
                return {"ok": False, "error": "no_text"}
            if problem := block_problem(args.get("blocks") or []):
                return {"ok": False, "error": "invalid_blocks", "errors": [problem]}
            metadata = args.get("metadata")
            if isinstance(metadata, str):
                metadata = json.loads(metadata)
            if metadata is not None and (
                not re.fullmatch(r"[A-Za-z0-9_]{1,255}", str(metadata.get("event_type", "")))
                or not isinstance(metadata.get("event_payload"), dict)
            ):
                return {"ok": False, "error": "invalid_metadata_format"}
            self.posts.append(args)
            ts = f"1700000000.{len(self.posts):06d}"
            self.history.setdefault(args["channel"], []).insert(0, {"ts": ts, "text": args.get("text"),
                                                                    "metadata": metadata})  # fmt: skip
            return {"ok": True, "channel": args["channel"], "ts": ts}
        if method == "conversations.history":
            if not args.get("channel"):
                return {"ok": False, "error": "channel_not_found"}
            limit = int(args.get("limit", 100))
            if not 1 <= limit <= 999:
                return {"ok": False, "error": "invalid_limit"}
            with_metadata = str(args.get("include_all_metadata", "")).lower() in ("true", "1")
            messages = [
                {k: v for k, v in m.items() if k != "metadata" or (with_metadata and v is not None)}
                for m in self.history.get(args["channel"], [])[:limit]
            ]
            return {"ok": True, "messages": messages, "has_more": False}
        return {"ok": False, "error": "unknown_method"}

    def close(self):
        self.server.shutdown()


def block_problem(blocks) -> str | None:
    """What Slack's Block Kit validation would refuse, for the blocks Tend uses."""
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if len(blocks) > 50:
        return "more than 50 blocks"
    for block in blocks:
        kind = block.get("type")
        if kind == "section" and len(block.get("text", {}).get("text", "")) > 3000:
            return "section text over 3000 characters"
        if kind == "header" and (block.get("text", {}).get("type") != "plain_text"
                                 or len(block["text"].get("text", "")) > 150):  # fmt: skip
            return "a header's text must be plain_text of at most 150 characters"
        if (accessory := block.get("accessory")) is not None and (problem := _button_problem(accessory)):
            return problem
        if kind == "actions":
            elements = block.get("elements", [])
            if not elements or len(elements) > 25:
                return "actions needs 1 to 25 elements"
            for element in elements:
                if problem := _button_problem(element):
                    return problem
        elif kind not in ("section", "context", "header", "divider"):
            return f"unknown block type {kind!r}"
    return None


def _button_problem(element: dict) -> str | None:
    text = element.get("text", {})
    if element.get("type") != "button":
        return f"unknown element type {element.get('type')!r}"
    if text.get("type") != "plain_text" or not 0 < len(text.get("text", "")) <= 75:
        return "a button's text must be plain_text of 1 to 75 characters"
    if "url" not in element and not element.get("value"):
        return "a button needs a url or a value"
    if not element.get("action_id"):
        return "a button needs an action_id"
    return None

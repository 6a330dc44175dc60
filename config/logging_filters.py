"""Log filters: what the logs keep, and what would only be noise."""

from __future__ import annotations

import logging


class NoTracebackForClientErrors(logging.Filter):
    """A 4xx is the client's mistake, not ours: log the line, not the traceback.

    Django logs every PermissionDenied (403) with its exception, so each CSM
    who follows a link to someone else's object put a full traceback in the
    log. Server errors (5xx) keep theirs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True

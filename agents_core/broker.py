"""What dispatch and fan-out share about the queue: broker errors and who a worker is."""

from __future__ import annotations

import os
import socket

from redis.exceptions import RedisError

# What a broker that is down raises: redis-py's errors (ConnectionError,
# TimeoutError) and OSError; the ORM broker's are the database's own.
BROKER_ERRORS = (RedisError, OSError)


def worker_name() -> str:
    """host:pid: which process, on which machine, is doing a piece of work."""
    return f"{socket.gethostname()}:{os.getpid()}"

"""What a batch of fan-out work is: pure types and the key-range cutter (no Django).

`agents_core.fanout` runs batches; task types declare a `batch` handler of
this shape (see `agents_core.agents.TaskType`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class BatchOutcome:
    """What a batch handler returns: a JSON-ready result and the writes that commit it."""

    result: dict[str, Any]
    write: Callable[[], None] = field(default=lambda: None)


# (context, first key, last key) -> outcome. Reads and computes outside the
# transaction; `outcome.write` runs inside it, with the batch marked done.
BatchHandler = Callable[[Mapping[str, Any], int, int], BatchOutcome]


def key_ranges(keys: Iterable[int], size: int) -> Iterator[tuple[int, int, int]]:
    """(first, last, count) for consecutive runs of `size` keys from an ascending iterable."""
    first = last = None
    count = 0
    for key in keys:
        if first is None:
            first = key
        last, count = key, count + 1
        if count == size:
            yield first, last, count
            first, count = None, 0
    if first is not None:
        yield first, last, count

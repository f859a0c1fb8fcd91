"""UTC time helpers: every timestamp NixFleet writes is ISO-8601 with a `Z` (docs/architecture.md#time)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

#: A clock returns POSIX seconds; components take one so tests can drive time.
Clock = Callable[[], float]


def iso(ts: float | None = None) -> str:
    """Format POSIX seconds (default: now) as `YYYY-MM-DDTHH:MM:SS.mmmZ`."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, tz=UTC)
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + f'{moment.microsecond // 1000:03d}Z'


def parse_iso(text: str | None) -> float | None:
    """Parse an ISO-8601 timestamp (with `Z`, an offset, or naive UTC as the Go dashboard wrote) to seconds."""
    if not text:
        return None
    value = text.strip().replace('Z', '+00:00').replace(' ', 'T', 1)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()

"""UTC time helpers: every timestamp NixFleet writes is ISO-8601 with a `Z` (docs/architecture.md#time)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

#: A clock returns POSIX seconds; components take one so tests can drive time.
Clock = Callable[[], float]


#: The last second `iso` formatted, and its text up to the milliseconds (one tuple: threads read it whole).
_last_second: tuple[int, str] = (-(2**62), '')


def iso(ts: float | None = None) -> str:
    """Format POSIX seconds (default: now) as `YYYY-MM-DDTHH:MM:SS.mmmZ`.

    Every heartbeat stamps a few of these, so the date and time of day are formatted once per second and kept.
    """
    t = time.time() if ts is None else ts
    fraction, whole = math.modf(t)
    micro = round(fraction * 1_000_000)  # as datetime rounds a timestamp to the microsecond
    if micro < 0:
        whole, micro = whole - 1, micro + 1_000_000
    elif micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    global _last_second
    cached = _last_second
    if cached[0] != int(whole):
        cached = int(whole), datetime.fromtimestamp(int(whole), tz=UTC).strftime('%Y-%m-%dT%H:%M:%S.')
        _last_second = cached
    return f'{cached[1]}{micro // 1000:03d}Z'


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

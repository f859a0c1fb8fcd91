"""`MetricSamples`: each host's CPU and RAM over the last hour, from its heartbeats, in memory and bounded.

One sample per host per `step` seconds (the newest heartbeat of a step replaces the one before it), at most
`window / step` per host in a deque, dropped when the host is removed; nothing is persisted (a restart starts afresh).
Fed by `LiveState.beat`, read by the host page's sparklines and `GET /api/hosts/{id}/metrics`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nixfleet.timeutil import Clock

#: The span the samples cover (seconds) and the resolution (seconds per sample).
WINDOW = 3600.0
STEP = 30.0


def _percent(value: Any) -> float | None:
    """A metric as a percentage in 0..100, or None when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return round(min(100.0, max(0.0, float(value))), 1)


@dataclass(frozen=True, slots=True)
class Sample:
    """CPU and RAM use (percent) of one host at one moment (POSIX seconds)."""

    at: float
    cpu: float | None
    ram: float | None


class MetricSamples:
    """The last `window` seconds of every host's CPU and RAM, one sample per `step`."""

    def __init__(self, clock: Clock, *, window: float = WINDOW, step: float = STEP) -> None:
        self._clock = clock
        self.window = window
        self.step = step
        #: How many samples a host keeps: a full window, plus the step being filled.
        self.per_host = math.ceil(window / step) + 1
        self._hosts: dict[str, deque[Sample]] = {}

    def add(self, host: str, now: float, metrics: Mapping[str, Any] | None) -> None:
        """Record a heartbeat's metrics (ignored without CPU or RAM)."""
        if not metrics:
            return
        cpu, ram = _percent(metrics.get('cpu')), _percent(metrics.get('ram'))
        if cpu is None and ram is None:
            return
        sample = Sample(at=now, cpu=cpu, ram=ram)
        samples = self._hosts.get(host)
        if samples is None:
            samples = self._hosts[host] = deque(maxlen=self.per_host)
        elif samples and now // self.step <= samples[-1].at // self.step:
            samples[-1] = sample  # the same step (or a clock that went back): the newest heartbeat stands for it
            return
        samples.append(sample)

    def recent(self, host: str) -> list[Sample]:
        """The host's samples of the last `window` seconds, oldest first (none for an unknown host)."""
        samples = self._hosts.get(host)
        if not samples:
            return []
        since = self._clock() - self.window
        return [s for s in samples if s.at >= since]

    def forget(self, host: str) -> None:
        """Drop a removed host's samples."""
        self._hosts.pop(host, None)

    def __len__(self) -> int:
        """How many hosts have samples."""
        return len(self._hosts)

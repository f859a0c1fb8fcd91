"""`MetricSamples`: each host's CPU and RAM over the last hour, from its heartbeats, in memory and bounded.

One sample per host per `step` seconds (the newest heartbeat of a step replaces the one before it), at most
`window / step` per host in packed arrays (16 bytes a sample: an hour of 2,000 hosts is ~4 MB, as objects it was
~30 MB), dropped when the host is removed; nothing is persisted (a restart starts afresh).
Fed by `LiveState.beat`, read by the host page's sparklines and `GET /api/hosts/{id}/metrics`.
"""

from __future__ import annotations

import math
from array import array
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


class _Series:
    """One host's samples, oldest first: times (float64) and CPU/RAM percentages (float32, NaN for none)."""

    __slots__ = ('at', 'cpu', 'ram')

    def __init__(self) -> None:
        self.at = array('d')
        self.cpu = array('f')
        self.ram = array('f')

    def put(self, at: float, cpu: float | None, ram: float | None, *, replace: bool, keep: int) -> None:
        values = (at, math.nan if cpu is None else cpu, math.nan if ram is None else ram)
        for column, value in zip((self.at, self.cpu, self.ram), values, strict=True):
            if replace:
                column[-1] = value
            else:
                column.append(value)
                if len(column) > keep:
                    del column[0]

    def sample(self, i: int) -> Sample:
        cpu, ram = self.cpu[i], self.ram[i]
        return Sample(
            at=self.at[i],
            cpu=None if math.isnan(cpu) else round(cpu, 1),
            ram=None if math.isnan(ram) else round(ram, 1),
        )


class MetricSamples:
    """The last `window` seconds of every host's CPU and RAM, one sample per `step`."""

    def __init__(self, clock: Clock, *, window: float = WINDOW, step: float = STEP) -> None:
        self._clock = clock
        self.window = window
        self.step = step
        #: How many samples a host keeps: a full window, plus the step being filled.
        self.per_host = math.ceil(window / step) + 1
        self._hosts: dict[str, _Series] = {}

    def add(self, host: str, now: float, metrics: Mapping[str, Any] | None) -> None:
        """Record a heartbeat's metrics (ignored without CPU or RAM)."""
        if not metrics:
            return
        cpu, ram = _percent(metrics.get('cpu')), _percent(metrics.get('ram'))
        if cpu is None and ram is None:
            return
        series = self._hosts.get(host)
        if series is None:
            series = self._hosts[host] = _Series()
        # the same step (or a clock that went back): the newest heartbeat stands for it
        same_step = bool(series.at) and now // self.step <= series.at[-1] // self.step
        series.put(now, cpu, ram, replace=same_step, keep=self.per_host)

    def recent(self, host: str) -> list[Sample]:
        """The host's samples of the last `window` seconds, oldest first (none for an unknown host)."""
        series = self._hosts.get(host)
        if series is None:
            return []
        since = self._clock() - self.window
        return [series.sample(i) for i, at in enumerate(series.at) if at >= since]

    def forget(self, host: str) -> None:
        """Drop a removed host's samples."""
        self._hosts.pop(host, None)

    def __len__(self) -> int:
        """How many hosts have samples."""
        return len(self._hosts)

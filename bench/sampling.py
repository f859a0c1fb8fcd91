"""CPU (% of one core) and RSS of a process, sampled once per `period` on a thread, summarized for a window."""

from __future__ import annotations

import threading
import time
from typing import Any

import psutil
from record import percentile


class Sampler(threading.Thread):
    """Sample a process until `stop()`; `summary(t0, t1)` gives CPU median/p95/max and RSS max within a window."""

    def __init__(self, pid: int, period: float = 1.0) -> None:
        super().__init__(daemon=True, name=f'sampler-{pid}')
        self.process = psutil.Process(pid)
        self.period = period
        self.samples: list[tuple[float, float, float]] = []  # (monotonic, cpu %, rss MB)
        self._halt = threading.Event()

    def run(self) -> None:
        self.process.cpu_percent(None)
        next_at = time.monotonic() + self.period
        while not self._halt.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.period
            try:
                cpu = self.process.cpu_percent(None)
                rss = self.process.memory_info().rss / 2**20
            except psutil.Error:
                return
            self.samples.append((time.monotonic(), cpu, rss))

    def stop(self) -> None:
        """Stop sampling (and wait for the thread)."""
        self._halt.set()
        self.join(5)

    def summary(self, start: float | None = None, end: float | None = None) -> dict[str, Any]:
        """CPU % of one core (median, p95, max, mean) and RSS MB (max) of the samples in [start, end]."""
        window = [s for s in self.samples if (start is None or s[0] >= start) and (end is None or s[0] <= end)]
        cpu = [s[1] for s in window]
        rss = [s[2] for s in self.samples]
        return {
            'cpu_pct_median': _round(percentile(cpu, 50)),
            'cpu_pct_p95': _round(percentile(cpu, 95)),
            'cpu_pct_max': _round(max(cpu) if cpu else None),
            'cpu_pct_mean': _round(sum(cpu) / len(cpu) if cpu else None),
            'cpu_samples': len(cpu),
            'rss_mb_max': _round(max(rss) if rss else None),
        }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)

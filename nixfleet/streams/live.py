"""LiveState: heartbeat-only host data (last seen, metrics) kept in memory and flushed to SQLite in batches; each
heartbeat's metrics also go to the hour of samples the host page draws (`MetricSamples`)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from nixfleet.store import Store
from nixfleet.store.host_rows import update_live
from nixfleet.streams.samples import MetricSamples
from nixfleet.timeutil import iso

log = logging.getLogger(__name__)


@dataclass(slots=True)
class LiveHost:
    """What the last heartbeat of one host said, beyond its persisted facts."""

    last_seen: float
    last_frame: float
    metrics: dict[str, Any] | None = None


class LiveState:
    """Per-host heartbeat data in memory; `flush` writes what changed since the last flush in one statement."""

    def __init__(self, store: Store, samples: MetricSamples) -> None:
        self._store = store
        #: Each host's CPU and RAM of the last hour, one sample per step (the host page, `/api/hosts/{id}/metrics`).
        self.samples = samples
        self.hosts: dict[str, LiveHost] = {}
        self._dirty: set[str] = set()

    def beat(self, host: str, now: float, metrics: dict[str, Any] | None) -> LiveHost:
        """Record a heartbeat (its metrics are a sample too)."""
        live = self.seen(host, now)
        live.metrics = metrics
        self.samples.add(host, now, metrics)
        return live

    def seen(self, host: str, now: float) -> LiveHost:
        """Record that the host was seen alive (a registration), keeping its last metrics."""
        live = self.hosts.get(host)
        if live is None:
            live = self.hosts[host] = LiveHost(last_seen=now, last_frame=now)
        else:
            live.last_seen = live.last_frame = now
        self._dirty.add(host)
        return live

    def touch(self, host: str, now: float) -> None:
        """Record that a frame (of any type) arrived from the host."""
        live = self.hosts.get(host)
        if live is None:
            self.hosts[host] = LiveHost(last_seen=now, last_frame=now)
        else:
            live.last_frame = now

    def forget(self, host: str) -> None:
        """Drop a removed host (its samples too)."""
        self.hosts.pop(host, None)
        self._dirty.discard(host)
        self.samples.forget(host)

    def _pending_rows(self) -> list[tuple[str, str | None, str]]:
        rows = []
        for host in self._dirty:
            live = self.hosts.get(host)
            if live is not None:
                metrics = json.dumps(live.metrics) if live.metrics is not None else None
                rows.append((iso(live.last_seen), metrics, host))
        self._dirty.clear()
        return rows

    async def flush(self) -> int:
        """Write dirty hosts' last seen and metrics; return how many rows were written."""
        rows = self._pending_rows()
        if rows:
            await self._store.write(update_live(rows))
        return len(rows)

    def flush_sync(self) -> int:
        """Blocking flush, for shutdown."""
        rows = self._pending_rows()
        if rows:
            self._store.write_sync(update_live(rows))
        return len(rows)

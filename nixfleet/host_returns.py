"""Waiting for a host to register again (after a switch or reboot), each wait with its own deadline."""

from __future__ import annotations

import asyncio

from nixfleet.timeutil import Clock


class HostReturns:
    """Let coroutines await a host's (re-)registration, each with a deadline on the injectable clock.

    Event-driven: `arrived` (called by the gateway once a register is fully handled, listeners included) wakes a
    host's waiters at once; `expire` (the engine's deadline tick, on the clock tests advance) ends the waits whose
    deadline passed.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._waiters: dict[str, list[tuple[float, asyncio.Future[bool]]]] = {}

    async def wait(self, host: str, deadline: float) -> bool:
        """Wait until `host` registers (True) or `deadline` passes (False)."""
        if self._clock() >= deadline:
            return False
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(host, []).append((deadline, future))
        try:
            return await future
        finally:
            self._forget(host, future)

    def arrived(self, host: str) -> None:
        """The host registered: wake everyone waiting for it."""
        for _, future in self._waiters.pop(host, []):
            if not future.done():
                future.set_result(True)

    def expire(self, now: float | None = None) -> None:
        """End the waits whose deadline has passed."""
        now = self._clock() if now is None else now
        for waiters in list(self._waiters.values()):
            for deadline, future in waiters:
                if now >= deadline and not future.done():
                    future.set_result(False)

    def _forget(self, host: str, future: asyncio.Future[bool]) -> None:
        waiters = [w for w in self._waiters.get(host, []) if w[1] is not future]
        if waiters:
            self._waiters[host] = waiters
        else:
            self._waiters.pop(host, None)

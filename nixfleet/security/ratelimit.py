"""Sliding-window attempt limits: login attempts per client (docs/architecture.md#security), wrong TOTP codes overall.

`NIXFLEET_RATE_LIMIT` attempts per `NIXFLEET_RATE_WINDOW` (5 per minute): the check runs before the attempt is
recorded, so the sixth attempt inside the window is refused, and a refused attempt is not recorded (waiting out the
window always works). A successful login clears the client's record. Memory is bounded: clients whose window has
passed are forgotten, and at most `max_clients` are remembered (the least recently seen go first).
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass

from nixfleet.timeutil import Clock

#: Clients remembered at most (each costs a few hundred bytes).
MAX_CLIENTS = 10_000


@dataclass(frozen=True, slots=True)
class Refusal:
    """An attempt over the limit: how long until the next one is allowed, and whether it is the first refusal of
    this lockout (so it is journaled once, not once per hammering request)."""

    retry_after: float
    first: bool

    @property
    def retry_after_seconds(self) -> int:
        """`retry_after` rounded up, for the `Retry-After` header."""
        return max(1, math.ceil(self.retry_after))


class AttemptLimiter:
    """At most `limit` attempts per `window` seconds per key."""

    def __init__(self, limit: int, window: float, clock: Clock, *, max_clients: int = MAX_CLIENTS) -> None:
        self.limit = max(1, limit)
        self.window = window
        self._clock = clock
        self._max = max_clients
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()
        self._refused: dict[str, float] = {}  # key -> end of the lockout already reported

    def attempt(self, key: str) -> Refusal | None:
        """Record an attempt by `key`, or refuse it (then nothing is recorded)."""
        now = self._clock()
        self._forget_idle(now)
        times = self._attempts.get(key)
        if times is None:
            times = self._attempts[key] = deque(maxlen=self.limit)
        self._attempts.move_to_end(key)
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            until = times[0] + self.window
            first = self._refused.get(key) != until
            self._refused[key] = until
            return Refusal(until - now, first)
        times.append(now)
        self._refused.pop(key, None)
        while len(self._attempts) > self._max:
            old, _ = self._attempts.popitem(last=False)
            self._refused.pop(old, None)
        return None

    def reset(self, key: str) -> None:
        """Forget the attempts of `key` (after a successful login)."""
        self._attempts.pop(key, None)
        self._refused.pop(key, None)

    def _forget_idle(self, now: float) -> None:
        # the least recently active keys come first; drop those whose newest attempt left the window
        while self._attempts:
            key, times = next(iter(self._attempts.items()))
            if times and times[-1] > now - self.window:
                return
            del self._attempts[key]
            self._refused.pop(key, None)

    def __len__(self) -> int:
        return len(self._attempts)

"""A bounded FIFO of frames waiting for the link, so nothing a command produces offline is lost."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any

from nixfleet.protocol import encode

#: Frames never dropped on overflow: the dashboard needs them to end a command.
KEPT_TYPES = frozenset({'status', 'command_rejected'})


@dataclass(slots=True, kw_only=True, frozen=True)
class Frame:
    """One encoded message and its type."""

    type: str
    text: str


class Outbox:
    """Keep frames in order; on overflow drop the oldest frame that is not a status, and count it."""

    def __init__(self, maxlen: int = 1000) -> None:
        self._frames: deque[Frame] = deque()
        self._maxlen = maxlen
        self._ready = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._dropped = 0

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, mtype: str, payload: dict[str, Any]) -> None:
        """Queue one message; never blocks."""
        if len(self._frames) >= self._maxlen:
            self._drop_oldest()
        self._frames.append(Frame(type=mtype, text=encode(mtype, payload)))
        self._ready.set()
        self._empty.clear()

    def discard(self, mtype: str) -> None:
        """Remove every queued frame of one type (e.g. stale heartbeats after a disconnect)."""
        self._frames = deque(frame for frame in self._frames if frame.type != mtype)
        self._update_events()

    async def peek(self) -> Frame:
        """Wait for and return the oldest frame without removing it (remove it with `pop` once sent)."""
        while not self._frames:
            await self._ready.wait()
        return self._frames[0]

    def pop(self) -> None:
        """Remove the oldest frame after it was sent."""
        if self._frames:
            self._frames.popleft()
        self._update_events()

    def take_dropped(self) -> int:
        """Return how many frames were dropped since the last call."""
        dropped, self._dropped = self._dropped, 0
        return dropped

    async def drained(self) -> None:
        """Wait until every queued frame was sent."""
        await self._empty.wait()

    def _drop_oldest(self) -> None:
        for index, frame in enumerate(self._frames):
            if frame.type not in KEPT_TYPES:
                del self._frames[index]
                break
        else:
            self._frames.popleft()
        self._dropped += 1

    def _update_events(self) -> None:
        if self._frames:
            self._ready.set()
            self._empty.clear()
        else:
            self._ready.clear()
            self._empty.set()

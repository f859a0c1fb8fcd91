"""Persistence of the state version without one write per change.

At startup the stored value is taken as the new starting version and a block above it is reserved in the
database; while running, the reservation is pushed up before the version can reach it. A crash therefore
restarts from the reservation, which is above any version a client has seen: the version only goes up.
A clean shutdown stores the exact version, so a normal restart continues without a jump.
"""

from __future__ import annotations

import asyncio
import logging

from nixfleet.store import Store
from nixfleet.store.kv_rows import read_version, write_version

log = logging.getLogger(__name__)

#: How far ahead of the live version the stored reservation stays.
BLOCK = 10_000


class VersionKeeper:
    """Keep the stored state version ahead of the live one."""

    def __init__(self, store: Store, block: int = BLOCK) -> None:
        self._store = store
        self._block = block
        self._reserved = 0
        self._task: asyncio.Task[None] | None = None

    def load(self) -> int:
        """Return the version to start from and reserve a block above it (blocking; startup only)."""
        start = self._store.read_sync(read_version)
        self._reserved = start + self._block
        self._store.write_sync(write_version(self._reserved))
        return start

    def observe(self, version: int) -> None:
        """Extend the reservation when the live version gets within half a block of it."""
        if version + self._block // 2 < self._reserved or (self._task and not self._task.done()):
            return
        self._reserved = version + self._block
        self._task = asyncio.get_running_loop().create_task(self._store.write(write_version(self._reserved)))

    def persist_exact(self, version: int) -> None:
        """Store the exact version (blocking; clean shutdown only)."""
        self._store.write_sync(write_version(version))
        self._reserved = version

"""The store's one writer: writes queued at the same moment share one commit (a reconnect storm's registrations), each
caller resumes only once its write is durable, and a write that fails is undone alone."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from nixfleet.store import Store
from tests.support import eventually


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / 'nixfleet.db')
    opened.open()
    opened.write_sync(lambda db: db.execute('CREATE TABLE probe (n INTEGER PRIMARY KEY)'))
    yield opened
    opened.close()


def committed(store: Store) -> list[int]:
    """The probe rows another connection sees (what is committed)."""
    conn = sqlite3.connect(store.path, timeout=5)
    try:
        return [n for (n,) in conn.execute('SELECT n FROM probe ORDER BY n')]
    finally:
        conn.close()


async def blocked_store(store: Store) -> tuple[threading.Event, asyncio.Future[None]]:
    """Occupy the store thread until the returned event is set, so that writes queue up behind it."""
    started, release = threading.Event(), threading.Event()

    def hold(db: Database) -> None:
        started.set()
        release.wait(10)

    holding = asyncio.ensure_future(store.write(hold))
    await eventually(started.is_set)
    return release, holding


async def test_writes_queued_together_commit_together_and_each_caller_resumes_after_the_commit(store: Store) -> None:
    release, holding = await blocked_store(store)
    seen_uncommitted: list[list[int]] = []

    def insert(n: int):  # type: ignore[no-untyped-def]
        def write(db: Database) -> int:
            seen_uncommitted.append(committed(store))  # what other connections see while this group runs
            db.execute('INSERT INTO probe (n) VALUES (?)', [n])
            return n

        return write

    async def write_then_look(n: int) -> tuple[int, list[int]]:
        result = await store.write(insert(n))
        return result, committed(store)

    writers = [asyncio.ensure_future(write_then_look(n)) for n in range(1, 6)]
    await asyncio.sleep(0)  # every write is queued behind the held one
    release.set()
    await holding
    outcomes = await asyncio.gather(*writers)

    assert seen_uncommitted == [[]] * 5, 'the five writes ran in one transaction: none saw another one committed'
    assert [result for result, _ in outcomes] == [1, 2, 3, 4, 5]
    assert all(seen == [1, 2, 3, 4, 5] for _, seen in outcomes), 'each caller resumed after the commit'


async def test_a_write_that_fails_inside_a_group_is_undone_alone(store: Store) -> None:
    release, holding = await blocked_store(store)

    def insert(n: int, *, fail: bool = False):  # type: ignore[no-untyped-def]
        def write(db: Database) -> None:
            db.execute('INSERT INTO probe (n) VALUES (?)', [n])
            if fail:
                raise ValueError(f'write {n} refused')

        return write

    writes = [
        asyncio.ensure_future(store.write(insert(1))),
        asyncio.ensure_future(store.write(insert(2, fail=True))),
        asyncio.ensure_future(store.write(insert(3))),
    ]
    await asyncio.sleep(0)
    release.set()
    await holding
    outcomes = await asyncio.gather(*writes, return_exceptions=True)

    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], ValueError) and str(outcomes[1]) == 'write 2 refused'
    assert committed(store) == [1, 3]


async def test_a_read_between_writes_sees_the_writes_queued_before_it(store: Store) -> None:
    release, holding = await blocked_store(store)
    first = asyncio.ensure_future(store.write(lambda db: db.execute('INSERT INTO probe (n) VALUES (1)')))
    read = asyncio.ensure_future(store.read(lambda db: [n for (n,) in db.execute('SELECT n FROM probe')]))
    second = asyncio.ensure_future(store.write(lambda db: db.execute('INSERT INTO probe (n) VALUES (2)')))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(holding, first, second)
    assert await read == [1], 'the read ran in order: after the first write, before the second'


async def test_a_write_whose_caller_gave_up_before_it_ran_is_not_made(store: Store) -> None:
    release, holding = await blocked_store(store)
    given_up = asyncio.ensure_future(store.write(lambda db: db.execute('INSERT INTO probe (n) VALUES (7)')))
    await asyncio.sleep(0)
    given_up.cancel()
    kept = asyncio.ensure_future(store.write(lambda db: db.execute('INSERT INTO probe (n) VALUES (8)')))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(holding, kept)
    assert committed(store) == [8]

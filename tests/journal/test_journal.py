"""The journal read model: filters, offset and cursor paging over one query, and the one command field list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from nixfleet.api.schemas import CommandOut
from nixfleet.journal import COMMAND_FIELDS, CommandFilter, EventFilter, Journal
from nixfleet.journal.records import active_commands, last_command_ends, latest_commands, recent_commands
from nixfleet.models import CommandStatus
from nixfleet.ops.commands import Command
from nixfleet.store import Store
from nixfleet.timeutil import iso

T0 = 1_800_000_000.0


def command(n: int, host: str, op: str, status: CommandStatus, at: float) -> dict[str, Any]:
    """The journal row of command number `n`."""
    return Command(id=f'c{n:03d}', host=host, op=op, agent_command=op, status=status, actor='user', created_at=at).row()


def event(action: str, level: str = 'info', host: str | None = None, actor: str = 'user') -> dict[str, Any]:
    """An `event_log` row."""
    return {'timestamp': '2027-01-15T08:00:00.000Z', 'category': 'op', 'level': level, 'actor': actor,
            'host_id': host, 'action': action, 'message': action, 'details': json.dumps({'a': 1})}  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh journal: 30 commands on two hosts (three share each creation time) and a few events."""
    store = Store(tmp_path / 'journal.db')
    store.open()

    def fill(db: Database) -> None:
        ok, failed = CommandStatus.SUCCESS, CommandStatus.ERROR
        rows = [command(n, f'web-0{n % 2}', 'pull' if n % 3 else 'switch', failed if n % 5 == 0 else ok, T0 + n // 3)
                for n in range(30)]  # fmt: skip
        db.table('commands').insert_all(rows)
        db.table('event_log').insert_all([
            event('op:pull', host='web-01'), event('pipeline:pull', 'error'), event('op_x:y'), event('op:switch'),
            event('login', actor='api:ci'),
        ])  # fmt: skip

    store.write_sync(fill)
    yield store
    store.close()


async def test_cursor_pages_and_offset_pages_list_the_same_commands(store: Store) -> None:
    journal = Journal(store)
    everything = await journal.commands(CommandFilter(), limit=100)
    assert everything.total == 30 and everything.next_key is None
    order = [r['id'] for r in everything.rows]
    assert order == sorted(order, reverse=True)  # newest first; the id breaks ties of the creation time
    by_cursor: list[str] = []
    after = None
    while True:
        page = await journal.commands(CommandFilter(), limit=7, after=after)
        by_cursor += [r['id'] for r in page.rows]
        if (after := page.next_key) is None:
            break
    by_offset = [
        r['id'] for k in range(5) for r in (await journal.commands(CommandFilter(), limit=7, offset=7 * k)).rows
    ]
    assert by_cursor == by_offset == order


async def test_command_filters_narrow_rows_and_total(store: Store) -> None:
    journal = Journal(store)
    flt = CommandFilter(host='web-01', op='pull', statuses=['ERROR'])
    page = await journal.commands(flt, limit=100)
    assert [r['id'] for r in page.rows] == ['c025', 'c005'] and page.total == 2
    recent = await journal.commands(CommandFilter(since=iso(T0 + 2), until=iso(T0 + 9)), limit=5)
    assert recent.total == 21 and len(recent.rows) == 5 and recent.next_key is not None


async def test_event_filters_and_the_action_prefix(store: Store) -> None:
    journal = Journal(store)

    async def actions(**fields: Any) -> list[str]:
        return [e['action'] for e in (await journal.events(EventFilter(**fields), limit=100)).rows]

    assert await actions(action='op:*') == ['op:switch', 'op:pull']  # `_` in `op_x:y` is no wildcard
    assert await actions(op='pull') == ['pipeline:pull', 'op:pull']
    assert await actions(levels=['error']) == ['pipeline:pull']
    assert await actions(actor='api:ci') == ['login']
    [first] = (await journal.events(EventFilter(host='web-01'), limit=1)).rows
    assert first['details'] == {'a': 1}  # the wire form


async def test_hosts_and_a_hosts_commands_with_logs(store: Store) -> None:
    journal = Journal(store)
    assert await journal.hosts() == ['web-00', 'web-01']
    assert await journal.host_commands('web-01', 5) == []  # none has a log file


def test_the_command_field_list_is_part_of_every_command_view() -> None:
    cmd = Command.from_row(command(1, 'web-01', 'pull', CommandStatus.SUCCESS, T0))
    assert set(cmd.view()) == set(CommandOut.model_fields)  # the API schema documents exactly the view
    assert set(COMMAND_FIELDS) <= set(cmd.view()) & set(cmd.row())


def test_the_engines_records_come_back_oldest_first(store: Store) -> None:
    active = store.read_sync(active_commands)
    assert active == []  # every command of the fixture has ended
    recent = store.read_sync(lambda db: recent_commands(db, iso(T0 + 8), limit=4))
    assert [c.id for c in recent] == ['c026', 'c027', 'c028', 'c029']  # the newest four, oldest first
    latest = store.read_sync(lambda db: latest_commands(db, 'web-00', 2))
    assert [r['id'] for r in latest] == ['c028', 'c026']
    assert store.read_sync(last_command_ends) == {}  # none has finished

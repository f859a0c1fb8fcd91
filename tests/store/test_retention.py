"""Retention (docs/architecture.md#retention) on virtual time: old finished commands with their log files, old
pipelines and old events
go; anything not finished stays, whatever its age; a sweep in small batches deletes the same as one in big ones."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nixfleet.config import Settings
from nixfleet.models import CommandStatus
from nixfleet.store import Store
from nixfleet.store.retention import DAY, INTERVAL, Retention
from nixfleet.timeutil import iso
from tests.support import ManualClock, start_in_process

CMD_DAYS, LOG_DAYS = 30, 7


@pytest.fixture
def clock() -> ManualClock:
    """Virtual time: the sweep's "now"."""
    return ManualClock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated store on a fresh SQLite file (isolation: one file per test)."""
    opened = Store(tmp_path / 'nixfleet.db')
    opened.open()
    yield opened
    opened.close()


@pytest.fixture
def logs_dir(tmp_path: Path) -> Path:
    """The command logs directory the sweep may delete in."""
    return tmp_path / 'logs'


def retention(store: Store, clock: ManualClock, logs_dir: Path, batch: int = 1000) -> Retention:
    return Retention(
        store, clock, logs_dir=logs_dir, cmd_retention_days=CMD_DAYS, log_retention_days=LOG_DAYS, batch=batch
    )


def days_ago(clock: ManualClock, days: float) -> str:
    return iso(clock() - days * DAY)


def add_command(
    store: Store,
    clock: ManualClock,
    logs_dir: Path | None,
    command_id: str,
    *,
    age_days: float,
    status: CommandStatus = CommandStatus.SUCCESS,
    pipeline: str | None = None,
    finished: bool = True,
) -> Path | None:
    """Journal a command that ended `age_days` ago (created an hour before), with a log file under `logs_dir`."""
    log_file = None
    if logs_dir is not None:
        log_file = logs_dir / 'web-01' / f'{command_id}.log'
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text('# Command: switch\n[2027-01-01T00:00:00.000Z] building\n')
    row: dict[str, Any] = {
        'id': command_id,
        'host_id': 'web-01',
        'op': 'switch',
        'status': status.value,
        'pipeline_id': pipeline,
        'created_at': days_ago(clock, age_days + 1 / 24),
        'finished_at': days_ago(clock, age_days) if finished else None,
        'output_file': str(log_file) if log_file else None,
    }
    store.write_sync(lambda db: db.table('commands').insert(row))
    return log_file


def add_pipeline(store: Store, clock: ManualClock, pipeline_id: str, *, age_days: float, status: str) -> None:
    row = {
        'id': pipeline_id,
        'name': 'do-all',
        'hosts': '["web-01"]',
        'status': status,
        'created_at': days_ago(clock, age_days + 1 / 24),
        'finished_at': days_ago(clock, age_days) if status != 'RUNNING' else None,
    }
    store.write_sync(lambda db: db.table('pipelines').insert(row))


def add_events(store: Store, clock: ManualClock, ages_days: list[float]) -> None:
    rows = [
        {'timestamp': days_ago(clock, age), 'category': 'system', 'level': 'info', 'message': f'event {i}'}
        for i, age in enumerate(ages_days)
    ]
    store.write_sync(lambda db: db.table('event_log').insert_all(rows))


def ids(store: Store, table: str) -> set[Any]:
    return {row[0] for row in store.read_sync(lambda db: db.execute(f'SELECT id FROM {table}').fetchall())}


async def test_old_finished_commands_go_with_their_log_files(store: Store, clock: ManualClock, logs_dir: Path) -> None:
    old = add_command(store, clock, logs_dir, 'old', age_days=CMD_DAYS + 1)
    failed = add_command(store, clock, logs_dir, 'old-failed', age_days=CMD_DAYS + 5, status=CommandStatus.ERROR)
    recent = add_command(store, clock, logs_dir, 'recent', age_days=CMD_DAYS - 1)
    result = await retention(store, clock, logs_dir).run()
    assert ids(store, 'commands') == {'recent'}
    assert (result.commands, result.log_files) == (2, 2)
    assert old is not None and failed is not None and recent is not None
    assert not old.exists() and not failed.exists() and recent.exists()


async def test_a_command_that_has_not_finished_is_never_deleted(
    store: Store, clock: ManualClock, logs_dir: Path
) -> None:
    for status in (CommandStatus.EXECUTING, CommandStatus.AWAITING_RECONNECT, CommandStatus.TIMEOUT_PENDING):
        add_command(store, clock, logs_dir, f'stuck-{status.value}', age_days=CMD_DAYS * 10, status=status)
    result = await retention(store, clock, logs_dir).run()
    assert result.commands == 0
    assert len(ids(store, 'commands')) == 3


async def test_the_age_is_the_finish_time_else_the_creation_time(
    store: Store, clock: ManualClock, logs_dir: Path
) -> None:
    add_command(store, clock, None, 'long-run', age_days=CMD_DAYS - 1)  # created long ago is not enough
    store.write_sync(lambda db: db.execute("UPDATE commands SET created_at = ? WHERE id = 'long-run'",
                                           [days_ago(clock, CMD_DAYS + 3)]))  # fmt: skip
    add_command(store, clock, None, 'no-finish-time', age_days=CMD_DAYS + 1, finished=False)
    add_command(store, clock, None, 'empty-finish-time', age_days=1, finished=False)
    store.write_sync(lambda db: db.execute("UPDATE commands SET finished_at = '' WHERE id = 'empty-finish-time'"))
    await retention(store, clock, logs_dir).run()
    assert ids(store, 'commands') == {'long-run', 'empty-finish-time'}


async def test_log_files_outside_the_logs_dir_are_left_alone(
    store: Store, clock: ManualClock, logs_dir: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / 'elsewhere.log'
    elsewhere.write_text('not ours\n')
    add_command(store, clock, None, 'old', age_days=CMD_DAYS + 1)
    store.write_sync(lambda db: db.execute("UPDATE commands SET output_file = ? WHERE id = 'old'", [str(elsewhere)]))
    result = await retention(store, clock, logs_dir).run()
    assert (result.commands, result.log_files) == (1, 0)
    assert elsewhere.exists()


async def test_old_pipelines_go_unless_running_or_holding_an_active_command(
    store: Store, clock: ManualClock, logs_dir: Path
) -> None:
    add_pipeline(store, clock, 'done', age_days=CMD_DAYS + 1, status='COMPLETE')
    add_command(store, clock, logs_dir, 'done-1', age_days=CMD_DAYS + 1, pipeline='done')
    add_pipeline(store, clock, 'failed-recent', age_days=1, status='FAILED')
    add_pipeline(store, clock, 'running', age_days=CMD_DAYS * 3, status='RUNNING')
    add_pipeline(store, clock, 'odd', age_days=CMD_DAYS + 1, status='PARTIAL')
    add_command(store, clock, logs_dir, 'odd-1', age_days=CMD_DAYS + 1, pipeline='odd', status=CommandStatus.EXECUTING)
    result = await retention(store, clock, logs_dir).run()
    assert ids(store, 'pipelines') == {'failed-recent', 'running', 'odd'}
    assert ids(store, 'commands') == {'odd-1'}
    assert result.pipelines == 1


async def test_events_older_than_the_log_retention_go(store: Store, clock: ManualClock, logs_dir: Path) -> None:
    add_events(store, clock, [LOG_DAYS + 30, LOG_DAYS + 0.01, LOG_DAYS - 0.01, 0])
    result = await retention(store, clock, logs_dir).run()
    assert result.events == 2
    kept = store.read_sync(lambda db: [r[0] for r in db.execute('SELECT message FROM event_log ORDER BY id')])
    assert kept == ['event 2', 'event 3']


async def test_small_batches_delete_exactly_what_one_big_batch_does(
    store: Store, clock: ManualClock, logs_dir: Path
) -> None:
    for i in range(25):
        add_command(store, clock, logs_dir, f'c{i:02d}', age_days=CMD_DAYS + 1 + i if i % 5 else CMD_DAYS - 1)
    for i in range(7):
        add_pipeline(store, clock, f'p{i}', age_days=CMD_DAYS + 2, status='COMPLETE')
    add_events(store, clock, [LOG_DAYS + 1 + i for i in range(23)] + [1, 2])
    result = await retention(store, clock, logs_dir, batch=3).run()
    assert (result.commands, result.log_files, result.pipelines, result.events) == (20, 20, 7, 23)
    assert ids(store, 'commands') == {f'c{i:02d}' for i in range(0, 25, 5)}
    assert len(ids(store, 'event_log')) == 2


async def test_time_moving_on_makes_more_of_the_same_store_old(
    store: Store, clock: ManualClock, logs_dir: Path
) -> None:
    add_command(store, clock, logs_dir, 'a', age_days=CMD_DAYS - 2)
    add_events(store, clock, [LOG_DAYS - 2])
    sweep = retention(store, clock, logs_dir)
    assert (await sweep.run()).deleted == 0
    clock.advance(3 * DAY)
    result = await sweep.run()
    assert (result.commands, result.events) == (1, 1)


async def test_the_job_says_once_what_it_deleted_and_nothing_when_idle(
    store: Store, clock: ManualClock, logs_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    add_command(store, clock, logs_dir, 'old', age_days=CMD_DAYS + 1)
    sweep = retention(store, clock, logs_dir)
    with caplog.at_level(logging.INFO, logger='nixfleet.store.retention'):
        await sweep.job()
        await sweep.job()
    lines = [r.getMessage() for r in caplog.records if r.name == 'nixfleet.store.retention']
    assert len(lines) == 1 and 'deleted 1 commands (1 log files)' in lines[0]


async def test_the_dashboard_runs_retention_daily(settings: Settings) -> None:
    running = await start_in_process(settings)
    try:
        scheduler = running.dashboard.scheduler
        assert scheduler is not None
        job = scheduler.get_job('retention')
        assert job is not None
        assert job.trigger.interval == INTERVAL
    finally:
        await running.stop()

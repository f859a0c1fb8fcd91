"""A large store for the cold-start, retention and init scenarios, written directly with executemany.

`data_dir(...)` returns a fresh copy of a generated data dir (the template is built once per shape and cached under
the system temp dir): a migrated `nixfleet.db` with `hosts` hosts, `events` event-log entries and `commands`
commands spread evenly over the last `days` days (the last hour holds `recent` commands; `active` are still
running), `commands // 50` pipelines, and a log file for every `log_every`-th command. Rows are built by the same
classes the dashboard journals with (`Command.row()`, `PipelineRun.row()`), so their shape is the real one.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from record import log

from nixfleet.models import CommandStatus, PipelineStatus
from nixfleet.ops.commands import Command
from nixfleet.ops.pipeline_store import PipelineRun
from nixfleet.store import Store
from nixfleet.timeutil import iso

CACHE = Path(tempfile.gettempdir()) / 'nixfleet-bench-stores'
HOUR, DAY = 3600.0, 86_400.0
_OPS = ('pull', 'switch', 'test', 'pull-switch', 'refresh-lock', 'restart')
_ENDS = (CommandStatus.SUCCESS,) * 8 + (CommandStatus.ERROR, CommandStatus.PARTIAL, CommandStatus.TIMEOUT)
_ACTIONS = ('connect', 'disconnect', 'op:pull', 'op:switch', 'op:test', 'login', 'host_added')


@dataclass(frozen=True, slots=True, kw_only=True)
class Shape:
    """What the generated store holds."""

    hosts: int = 2_000
    events: int = 1_000_000
    commands: int = 100_000
    days: float = 60.0
    recent: int = 300
    active: int = 20
    log_every: int = 10

    @property
    def name(self) -> str:
        return (
            f'h{self.hosts}-e{self.events}-c{self.commands}-d{self.days:g}-r{self.recent}-a{self.active}'
            f'-l{self.log_every}'
        )


def data_dir(shape: Shape, into: Path) -> tuple[Path, float]:
    """A fresh copy of the generated data dir for `shape` at `into`; return it and the generation's "now"."""
    template = CACHE / shape.name
    if not (template / 'done.json').exists():
        shutil.rmtree(template, ignore_errors=True)
        template.mkdir(parents=True)
        started = time.monotonic()
        generate(shape, template, time.time())
        log(f'generated store {shape.name} in {time.monotonic() - started:.0f} s')
    now = float(json.loads((template / 'done.json').read_text())['now'])
    shutil.copytree(template, into, ignore=shutil.ignore_patterns('done.json'))
    relocate(into)
    return into, now


def generate(shape: Shape, where: Path, now: float) -> None:
    """Write the store and log files for `shape` into the data dir `where`."""
    path = where / 'nixfleet.db'
    store = Store(path)
    store.open()  # migrations: the real schema and indexes
    store.close()
    rng = random.Random(7)
    hosts = [f'host-{i:05d}' for i in range(shape.hosts)]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute('PRAGMA synchronous=OFF')
    conn.execute('BEGIN')
    insert(conn, 'hosts', [host_row(h, i, now, rng) for i, h in enumerate(hosts)])
    insert(conn, 'event_log', event_rows(shape, hosts, now, rng))
    commands = command_rows(shape, hosts, now, rng)
    insert(conn, 'commands', commands)
    insert(conn, 'pipelines', pipeline_rows(shape, hosts, now, rng))
    conn.execute('UPDATE state_version SET version = ? WHERE id = 1', [shape.events + 3 * shape.commands])
    conn.execute('COMMIT')
    conn.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    conn.execute('ANALYZE')
    conn.close()
    for row in commands:
        if row['output_file']:
            write_log(where / row['output_file'], row)
    (where / 'done.json').write_text(json.dumps({'now': now, 'shape': shape.name, 'root': str(where)}))


def insert(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """executemany one table's rows (all rows share the first row's columns)."""
    if not rows:
        return
    columns = list(rows[0])
    sql = f'INSERT INTO {table} ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})'
    conn.executemany(sql, ([row[c] for c in columns] for row in rows))


def host_row(host: str, index: int, now: float, rng: random.Random) -> dict[str, Any]:
    seen = iso(now - rng.uniform(60, 7 * DAY))
    report = json.dumps({'status': 'ok', 'message': 'Updated today', 'checked_at': seen, 'received_at': seen})
    return {
        'id': host, 'hostname': host, 'host_type': 'macos' if index % 4 == 3 else 'nixos', 'agent_version': '3.1.5',
        'agent_impl': 'go', 'os_version': '25.05', 'nixpkgs_version': '25.05.20250612.abcdef0',
        'generation': f'{rng.getrandbits(28):07x}', 'theme_color': '#7aa2f7', 'location': 'cloud',
        'device_type': 'server', 'repo_url': '', 'repo_dir': '/var/lib/nixfleet-agent/repo', 'heartbeat_interval': 5,
        'source_commit': 'a' * 40, 'store_path': '/nix/store/' + 'b' * 32 + '-nixfleet-agent-3.1.5/bin/nixfleet-agent',
        'binary_hash': 'c' * 64, 'lock_hash': 'd' * 64, 'last_seen': seen, 'status': 'offline',
        'metrics_json': json.dumps({'cpu': 12.5, 'ram': 41.0, 'swap': 0.0, 'load': 0.42}),
        'lock_status_json': report, 'system_status_json': None, 'tests_status_json': None,
        'created_at': iso(now - 90 * DAY), 'updated_at': seen,
    }  # fmt: skip


def event_rows(shape: Shape, hosts: list[str], now: float, rng: random.Random) -> list[dict[str, Any]]:
    start, step = now - shape.days * DAY, shape.days * DAY / max(1, shape.events)
    rows = []
    for i in range(shape.events):
        host = hosts[i % len(hosts)]
        action = _ACTIONS[i % len(_ACTIONS)]
        rows.append({
            'timestamp': iso(start + i * step), 'category': 'audit' if action.startswith('op:') else 'system',
            'level': 'info', 'actor': f'agent:{host}', 'host_id': host, 'action': action,
            'message': f'{host} {action} ({i})', 'details': json.dumps({'agent_version': '3.1.5'}) if i % 3 else None,
        })  # fmt: skip
    return rows


def command_rows(shape: Shape, hosts: list[str], now: float, rng: random.Random) -> list[dict[str, Any]]:
    """Finished commands over `days` (the last `recent` in the last hour), then `active` running ones."""
    old = shape.commands - shape.recent - shape.active
    times = [now - shape.days * DAY + i * (shape.days * DAY - HOUR) / max(1, old) for i in range(old)]
    times += [now - HOUR + i * (HOUR - 120) / max(1, shape.recent) for i in range(shape.recent)]
    rows = []
    for i, created in enumerate(times):
        host = hosts[i % len(hosts)]
        cmd = Command(id=f'c{i:07d}', host=host, op=_OPS[i % len(_OPS)], agent_command=None,
                      status=rng.choice(_ENDS), actor='user', created_at=created, started_at=created + 0.05,
                      finished_at=created + rng.uniform(2, 60), exit_code=0,
                      pipeline_id=f'p{i // 50:06d}' if i % 3 == 0 else None)  # fmt: skip
        rows.append(cmd.row())
    for j in range(shape.active):
        created = now - 30 - j
        cmd = Command(id=f'a{j:07d}', host=hosts[j], op='test', agent_command='test', actor='user',
                      status=CommandStatus.EXECUTING, created_at=created, started_at=created)  # fmt: skip
        rows.append(cmd.row())
    for i, row in enumerate(rows):
        if i % shape.log_every == 0:
            row['output_file'] = f'logs/{row["host_id"]}/{row["id"]}.log'  # relative until `relocate`
        else:
            row['output_file'] = None
    return rows


def pipeline_rows(shape: Shape, hosts: list[str], now: float, rng: random.Random) -> list[dict[str, Any]]:
    count = shape.commands // 50
    rows = []
    for i in range(count):
        created = now - shape.days * DAY + i * (shape.days * DAY - HOUR) / max(1, count)
        run = PipelineRun(id=f'p{i:06d}', name='do-all', ops=['pull', 'switch', 'test'],
                          hosts=[hosts[(i * 7 + k) % len(hosts)] for k in range(5)], actor='user',
                          created_at=created, status=PipelineStatus.COMPLETE, finished_at=created + 300)  # fmt: skip
        rows.append(run.row())
    return rows


def write_log(path: Path, row: dict[str, Any]) -> None:
    """A small log file like the lifecycle writes (header, some lines, footer)."""
    text = f'# Command: {row["op"]} ({row["id"]})\n# Host: {row["host_id"]}\n'
    text += ''.join(f'[{row["created_at"]}] line {n} of the output\n' for n in range(20))
    text += f'# Finished: {row["finished_at"]} {row["status"]}\n'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def relocate(where: Path) -> None:
    """Point the copied store's `output_file`s (relative in the template) at the copy's log files."""
    conn = sqlite3.connect(where / 'nixfleet.db', isolation_level=None)
    conn.execute("UPDATE commands SET output_file = ? || output_file WHERE output_file LIKE 'logs/%'", [f'{where}/'])
    conn.close()

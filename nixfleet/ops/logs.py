"""Per-command output logs: `$DATA_DIR/logs/<host>/<command-id>.log`, written and streamed in batches.

Output lines are buffered in memory and flushed every `interval` (50 ms): the batch is appended to the log file on a
worker thread (no file I/O on the event loop; recently written files stay open) and then published as one
`command_output` change per command. Each command's buffer is bounded; beyond the bound lines are dropped and a
marker line says how many.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from nixfleet.causes import last_error_line
from nixfleet.paths import inside
from nixfleet.streams.changes import Change, ChangeType
from nixfleet.streams.state import FleetStateStream
from nixfleet.timeutil import Clock, iso

log = logging.getLogger(__name__)

MAX_PENDING_LINES = 20_000
MAX_PENDING_BYTES = 8 * 1024 * 1024
#: Log files kept open for appending, and how long an unused one stays open (seconds).
OPEN_FILES = 512
OPEN_IDLE = 30.0
#: How much of a log's end is searched for the line that says why a command failed.
TAIL_BYTES = 64 * 1024
_LINE_RE = re.compile(r'^\[(?P<ts>[^\]]+)\] (?:(?P<tag>\[ERR\]|\[META\]) )?(?P<line>.*)$')


@dataclass(slots=True)
class _Pending:
    path: Path
    host: str | None
    lines: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0
    dropped: int = 0


@dataclass(slots=True, kw_only=True, frozen=True)
class LogRead:
    """A command's log as read, and the state version it is exact for."""

    text: str
    #: Every `command_output` change up to this version is in `text`, and none of a later version is.
    version: int


#: An id that may stand as a file or folder name as it is: a hostname-like word (no separators, no leading dot).
_PLAIN_ID = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]{0,199}')


def path_component(value: str | None, default: str) -> str:
    """A file-name-safe form of an id: the id itself when it is plain, else a stable name derived from it.

    Ids come from agents and from a migrated Go database (which accepted any hostname): `..`, `a/b` or an empty id
    must never become part of a path. A derived name starts with `_`, which no plain id does, so none collide.
    """
    if not value:
        return default
    if _PLAIN_ID.fullmatch(value):
        return value
    return '_id-' + hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:24]


def contained(root: Path, path: Path) -> Path:
    """`path` if it resolves to a place inside `root`; ValueError otherwise (a guard behind `path_component`)."""
    if inside(root, path) is None:
        raise ValueError(f'{path} is not inside {root}')
    return path


def format_line(entry: dict[str, Any]) -> str:
    """One log-file line: `[<UTC ISO>] [ERR] text` (stderr) or `[<UTC ISO>] text`."""
    tag = {'stderr': '[ERR] ', 'meta': '[META] '}.get(entry['stream'], '')
    return f'[{entry["ts"]}] {tag}{entry["line"]}\n'


def parse_log(text: str) -> list[dict[str, Any]]:
    """Turn a log file back into `{ts, stream, line}` entries (header and footer lines are `meta`)."""
    entries = []
    for raw in text.splitlines():
        if raw.startswith('# '):
            entries.append({'ts': None, 'stream': 'meta', 'line': raw[2:]})
            continue
        if (m := _LINE_RE.match(raw)) is None:
            continue
        stream = {'[ERR]': 'stderr', '[META]': 'meta'}.get(m['tag'] or '', 'stdout')
        entries.append({'ts': m['ts'], 'stream': stream, 'line': m['line']})
    return entries


class _Appender:
    """Append batches to log files, keeping the recently used ones open (one flush at a time, on a worker thread).

    Opening (after making sure of the directory) and closing every file at every flush costs several system calls
    per file; with hundreds of commands streaming, each call hands the GIL to the busy store thread and waits to get
    it back (up to the 5 ms switch interval), and one flush took seconds. A file kept open costs one `write` per
    flush. Files unused for `idle` seconds are closed, and at most `limit` stay open.
    """

    def __init__(self, limit: int = OPEN_FILES, idle: float = OPEN_IDLE) -> None:
        self._limit = limit
        self._idle = idle
        self._files: OrderedDict[Path, tuple[TextIO, float]] = OrderedDict()  # least recently used first

    def append_all(self, batches: list[tuple[Path, str]]) -> None:
        """Append each text to its file (flushed to the OS before returning)."""
        now = time.monotonic()
        for path, text in batches:
            fh = self._file(path, now)
            fh.write(text)
            fh.flush()
        while self._files:  # close what nobody wrote to for a while
            path, (fh, used) = next(iter(self._files.items()))
            if now - used <= self._idle:
                break
            del self._files[path]
            fh.close()

    def _file(self, path: Path, now: float) -> TextIO:
        entry = self._files.pop(path, None)
        fh: TextIO
        if entry is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = path.open('a', encoding='utf-8')
            while len(self._files) >= self._limit:
                self._files.popitem(last=False)[1][0].close()
        else:
            fh = entry[0]
        self._files[path] = (fh, now)
        return fh

    def close_all(self) -> None:
        """Close every open file."""
        while self._files:
            self._files.popitem()[1][0].close()


class CommandLogs:
    """Buffer, persist and stream command output."""

    def __init__(self, logs_dir: Path, stream: FleetStateStream, clock: Clock, interval: float = 0.05) -> None:
        self.logs_dir = logs_dir
        self._stream = stream
        self._clock = clock
        self._interval = interval
        self._pending: dict[str, _Pending] = {}
        self._files = _Appender()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def host_dir(self, host: str | None) -> Path:
        """The folder of a host's command logs, checked to be inside the logs folder (what removal deletes)."""
        return contained(self.logs_dir, self.logs_dir / path_component(host, '_fleet'))

    def path_for(self, host: str | None, command_id: str) -> Path:
        """Where a command's log lives: inside its host's folder, whatever the ids hold (built from safe names only;
        called per output line, so not resolved on disk)."""
        return self.logs_dir / path_component(host, '_fleet') / f'{path_component(command_id, "_")}.log'

    def start(self) -> None:
        """Start the flusher task (on the loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name='command-log-flusher')

    async def stop(self) -> None:
        """Flush what is buffered and stop the flusher."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
        async with self._lock:
            await asyncio.to_thread(self._files.close_all)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.exception('flushing command output failed; retrying with the next batch')

    def append(self, command_id: str, host: str | None, path: Path, stream: str, line: str) -> None:
        """Buffer one output line of a command (called from the agent reader; never blocks)."""
        pending = self._pending.get(command_id)
        if pending is None:
            pending = self._pending[command_id] = _Pending(path=path, host=host)
        if len(pending.lines) >= MAX_PENDING_LINES or pending.size >= MAX_PENDING_BYTES:
            pending.dropped += 1
        else:
            pending.lines.append({'ts': iso(self._clock()), 'stream': stream, 'line': line})
            pending.size += len(line)
        self._wake.set()

    def write_meta(self, command_id: str, host: str | None, path: Path, *lines: str) -> None:
        """Buffer header or footer lines (`# ...`), kept in order with the output."""
        for line in lines:
            self.append(command_id, host, path, 'header', line)

    async def flush(self, command_id: str | None = None) -> None:
        """Write and publish buffered lines; when it returns, `command_id`'s (default: every command's) are out.

        A flush takes every command's lines, and a caller whose lines an earlier flush took (it waited for that one
        to finish) has nothing left to do: hundreds of commands of a pipeline stage finishing together share a few
        file writes and thread hops instead of taking turns with one each, which kept the periodic flush, and with
        it everyone's output, waiting behind them.
        """
        async with self._lock:
            if command_id is not None and command_id not in self._pending:
                return  # already written and published by the flush we waited for
            taken, self._pending = self._pending, {}
            if not taken:
                return
            batches = []
            for pending in taken.values():
                if pending.dropped:
                    pending.lines.append(
                        {'ts': iso(self._clock()), 'stream': 'meta', 'line': f'… {pending.dropped} lines dropped …'}
                    )
                text = ''.join(f'# {e["line"]}\n' if e['stream'] == 'header' else format_line(e) for e in pending.lines)
                batches.append((pending.path, text))
            await asyncio.to_thread(self._files.append_all, batches)
            for cid, pending in taken.items():
                lines = [e if e['stream'] != 'header' else {**e, 'stream': 'meta'} for e in pending.lines]
                self._stream.emit(
                    Change(ChangeType.COMMAND_OUTPUT, id=cid, payload={'host_id': pending.host, 'lines': lines})
                )

    async def read_complete(self, command_id: str, path: Path | None) -> LogRead:
        """The log with the command's buffered lines, and the state version up to which its output changes are in it.

        A follower that read the log this way skips the `command_output` changes up to that version and prints the
        later ones: every line once, whether a flush ran before, during or after the read.
        """
        await self.flush(command_id)
        async with self._lock:  # a flush writes, then publishes, under the lock: the version matches the file
            return LogRead(text=await self.read(path) if path is not None else '', version=self._stream.version)

    async def last_error_line(self, command_id: str, path: Path) -> str | None:
        """The line of the command's output so far that says what went wrong (`causes.last_error_line`)."""
        await self.flush(command_id)

        def tail() -> str:
            try:
                with path.open('rb') as fh:
                    fh.seek(max(0, fh.seek(0, 2) - TAIL_BYTES))
                    return fh.read().decode('utf-8', errors='replace')
            except FileNotFoundError:
                return ''

        entries = parse_log(await asyncio.to_thread(tail))
        return last_error_line((str(e['stream']), str(e['line'])) for e in entries if e['stream'] != 'meta')

    async def read(self, path: Path) -> str:
        """The whole log file ('' when it does not exist yet)."""

        def read() -> str:
            try:
                return path.read_text(encoding='utf-8')
            except FileNotFoundError:
                return ''

        return await asyncio.to_thread(read)

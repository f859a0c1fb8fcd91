"""What the output panel shows, NiceGUI-free: bounded per-tab line buffers, line and event formatting, and the
merge of a restored log file with the live lines that arrived while it was being read.

A line travels to the browser as a small dict: `t` (UTC ISO time or None), `k` (kind: `out`, `err`, `meta`, `start`,
`ok`, `fail`, or `ev-<level>` for system-log entries), `x` (text); system-log entries add `h` (host), `c` (host
colour) and `a` (action).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nixfleet.causes import cause
from nixfleet.models import CommandStatus

#: Lines a host tab keeps (older ones are counted and can be downloaded).
TAB_CAP = 2000
#: Entries the System Log tab keeps.
LOG_CAP = 1000
#: The key of the System Log tab (host ids never start with a colon).
LOG_TAB = ':log'
#: Commands a host tab remembers by id (for downloads); a tab open for weeks must not remember them all.
COMMANDS_CAP = 100

Line = dict[str, Any]

_RUNNING = frozenset(
    {CommandStatus.PENDING, CommandStatus.VALIDATING, CommandStatus.EXECUTING, CommandStatus.AWAITING_RECONNECT}
)
_WARNING = frozenset({CommandStatus.RUNNING_WARNING, CommandStatus.TIMEOUT_PENDING})
_PARTIAL = frozenset({CommandStatus.PARTIAL, CommandStatus.SUSPICIOUS, CommandStatus.STALE_BINARY})
_MUTED = frozenset({CommandStatus.SKIPPED, CommandStatus.CANCELLED})
_OK_WORDS = frozenset({CommandStatus.SUCCESS.value})


def status_tone(status: str | None) -> str:
    """The colour family of a command status: running, warn, ok, partial, fail, muted or none."""
    if not status:
        return 'none'
    try:
        value = CommandStatus(status)
    except ValueError:
        return 'none'
    if value in _RUNNING:
        return 'running'
    if value in _WARNING:
        return 'warn'
    if value is CommandStatus.SUCCESS:
        return 'ok'
    if value in _PARTIAL:
        return 'partial'
    if value in _MUTED:
        return 'muted'
    return 'fail'


def _meta_kind(text: str) -> str:
    if text.startswith('Command: '):
        return 'start'
    if text.startswith('Finished: '):
        words = text.split()
        status = words[2] if len(words) > 2 else ''
        if status in _OK_WORDS:
            return 'ok'
        return 'partial' if status_tone(status) == 'partial' else 'fail'
    return 'meta'


def output_line(entry: Mapping[str, Any]) -> Line:
    """A browser line from a log entry `{ts, stream, line}` (a parsed log file line or a `command_output` line)."""
    text = str(entry.get('line', ''))
    stream = entry.get('stream')
    if stream == 'stderr':
        kind = 'err'
    elif stream in ('meta', 'header'):
        kind = _meta_kind(text)
    else:
        kind = 'out'
    return {'t': entry.get('ts'), 'k': kind, 'x': text}


def event_line(event: Mapping[str, Any], hosts: Mapping[str, Mapping[str, Any]]) -> Line:
    """A System Log line from an event-log entry."""
    host_id = event.get('host_id')
    host = hosts.get(str(host_id)) if host_id else None
    return {
        't': event.get('timestamp'),
        'k': f'ev-{event.get("level") or "info"}',
        'x': str(event.get('message') or ''),
        'h': (host or {}).get('hostname') or host_id or '',
        'c': (host or {}).get('theme_color') or '',
        'a': event.get('action') or '',
    }


def blocked_line(command: Mapping[str, Any]) -> Line:
    """The line a host tab shows for a command that ended without running (blocked, skipped, cancelled)."""
    reason = cause(command)
    text = f'{command.get("op")} {command.get("status")}' + (f' — {reason}' if reason else '')
    return {
        't': command.get('finished_at'),
        'k': 'muted' if status_tone(command.get('status')) == 'muted' else 'fail',
        'x': text,
    }


def _key(entry: Mapping[str, Any]) -> tuple[str, str]:
    stream = entry.get('stream') or 'stdout'
    return ('meta' if stream == 'header' else str(stream), str(entry.get('line', '')))


def merge_restored(
    from_file: Sequence[Mapping[str, Any]], live: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """A command's whole output: the log file read, then the live lines that the file does not hold yet.

    The live lines were received from a subscription made before the file was read, so they are a contiguous run of
    the command's output that starts inside the file (or right after it); the longest suffix of the file that equals
    a prefix of the live lines is the part both hold.
    """
    if not live:
        return list(from_file)
    file_keys = [_key(e) for e in from_file[-len(live) :]]
    live_keys = [_key(e) for e in live]
    for overlap in range(min(len(file_keys), len(live_keys)), 0, -1):
        if file_keys[len(file_keys) - overlap :] == live_keys[:overlap]:
            return [*from_file, *live[overlap:]]
    return [*from_file, *live]


@dataclass(slots=True)
class TabBuffer:
    """The lines of one tab, at most `cap`; `earlier` counts the lines that fell off the front."""

    cap: int = TAB_CAP
    lines: deque[Line] = field(default_factory=deque)
    earlier: int = 0
    #: Lines received but not yet sent to the browser (at most `cap`; `dropped` counts the rest).
    outgoing: list[Line] = field(default_factory=list)
    dropped: int = 0
    #: The tab waits for its log files; live output is held per command id meanwhile.
    loading: bool = False
    held: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    unread: bool = False
    #: Newest command shown (id), and the newest commands shown (id → op), for downloads.
    latest: str | None = None
    commands: dict[str, str] = field(default_factory=dict)
    last_event: int = 0

    def __post_init__(self) -> None:
        self.lines = deque(maxlen=self.cap)

    def note(self, command_id: str, op: str) -> None:
        """Remember a command shown in the tab (the newest `COMMANDS_CAP` of them)."""
        self.commands.pop(command_id, None)
        self.commands[command_id] = op
        while len(self.commands) > COMMANDS_CAP:
            del self.commands[next(iter(self.commands))]

    def reset(self, lines: Iterable[Line], earlier: int = 0) -> None:
        """Replace the content (a restore); nothing is left to send but the whole tab."""
        items = list(lines)
        keep = items[-self.cap :]
        self.lines = deque(keep, maxlen=self.cap)
        self.earlier = earlier + len(items) - len(keep)
        self.outgoing, self.dropped = [], 0

    def add(self, lines: Sequence[Line]) -> None:
        """Append lines and queue them for the browser."""
        self.earlier += max(0, len(self.lines) + len(lines) - self.cap)
        self.lines.extend(lines)
        self.outgoing.extend(lines)
        if len(self.outgoing) > self.cap:
            self.dropped += len(self.outgoing) - self.cap
            del self.outgoing[: len(self.outgoing) - self.cap]

    def take_outgoing(self) -> tuple[list[Line], int]:
        """The queued lines and how many queued lines were dropped (the browser trims the same way)."""
        out, dropped = self.outgoing, self.dropped
        self.outgoing, self.dropped = [], 0
        return out, dropped

    def clear(self) -> int:
        """Forget what is shown (the log files stay); return how many lines that was."""
        count = len(self.lines)
        self.lines.clear()
        self.earlier = 0
        self.outgoing, self.dropped = [], 0
        return count

    def text(self) -> str:
        """The tab as plain text (what Copy puts on the clipboard)."""
        out = []
        for line in self.lines:
            if line['k'].startswith('ev-'):
                host = f'[{line["h"]}] ' if line.get('h') else ''
                out.append(f'{line.get("t") or ""} {host}{line["x"]}'.strip())
            else:
                out.append(line['x'])
        return '\n'.join(out)

    def payload(self) -> dict[str, Any]:
        """The whole tab for the browser."""
        return {'lines': list(self.lines), 'earlier': self.earlier, 'loading': self.loading, 'cap': self.cap}

"""Human output of the CLI: aligned tables, ages, and ANSI colours only on a terminal (and never with NO_COLOR)."""

from __future__ import annotations

import json
import os
import sys
import time
import zlib
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from nixfleet.timeutil import parse_iso

_CODES = {
    'bold': '1',
    'dim': '2',
    'red': '31',
    'green': '32',
    'yellow': '33',
    'blue': '34',
    'magenta': '35',
    'cyan': '36',
}
#: Colours host prefixes cycle through (picked by a stable hash of the name).
HOST_COLOURS = ('cyan', 'magenta', 'blue', 'yellow', 'green')
#: Colour of a status word.
STATUS_COLOURS = {
    'SUCCESS': 'green',
    'COMPLETE': 'green',
    'online': 'green',
    'done': 'green',
    'ok': 'green',
    'PARTIAL': 'yellow',
    'HALTED': 'red',
    'RUNNING': 'cyan',
    'EXECUTING': 'cyan',
    'stale': 'yellow',
    'outdated': 'yellow',
    'working': 'cyan',
    'warn': 'yellow',
    'SKIPPED': 'dim',
    'CANCELLED': 'dim',
    'offline': 'dim',
    'unknown': 'dim',
}
_FAILED = ('ERROR', 'TIMEOUT', 'BLOCKED', 'KILLED', 'STALE_BINARY', 'SUSPICIOUS', 'ORPHANED', 'FAILED', 'failed')


class Style:
    """Colouring for one output stream (a no-op unless it is a TTY and NO_COLOR is unset)."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        stream = stream or sys.stdout
        if enabled is None:
            enabled = stream.isatty() and not os.environ.get('NO_COLOR') and os.environ.get('TERM') != 'dumb'
        self.enabled = enabled
        encoding = (getattr(stream, 'encoding', None) or '').lower().replace('-', '')
        self.unicode = encoding.startswith('utf')

    def __call__(self, text: str, *styles: str) -> str:
        """`text` wrapped in the given styles."""
        if not self.enabled or not styles:
            return text
        codes = ';'.join(_CODES[s] for s in styles if s in _CODES)
        return f'\x1b[{codes}m{text}\x1b[0m' if codes else text

    def status(self, word: str | None) -> str:
        """A status word in its colour."""
        text = word or '-'
        colour = 'red' if text in _FAILED else STATUS_COLOURS.get(text)
        return self(text, colour) if colour else text

    def host(self, name: str, width: int = 0) -> str:
        """A host name in its own stable colour, padded to `width`."""
        colour = HOST_COLOURS[zlib.crc32(name.encode()) % len(HOST_COLOURS)]
        return self(name.ljust(width), colour, 'bold')

    def mark(self, ok: bool) -> str:
        """A check mark or a cross."""
        if self.unicode:
            return self('✓', 'green') if ok else self('✗', 'red')
        return self('ok', 'green') if ok else self('FAIL', 'red')


def visible_len(text: str) -> int:
    """Length without ANSI escapes."""
    length, skipping = 0, False
    for char in text:
        if char == '\x1b':
            skipping = True
        elif skipping and char == 'm':
            skipping = False
        elif not skipping:
            length += 1
    return length


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], style: Style) -> str:
    """Columns aligned to their widest cell (cells may carry colour)."""
    cells = [[str(c) for c in header], *([('-' if c is None or c == '' else str(c)) for c in row] for row in rows)]
    widths = [max(visible_len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for index, row in enumerate(cells):
        padded = [c + ' ' * (w - visible_len(c)) for c, w in zip(row, widths, strict=True)]
        line = '  '.join(padded).rstrip()
        lines.append(style(line, 'bold') if index == 0 else line)
    return '\n'.join(lines)


def age(stamp: str | None, now: float | None = None) -> str:
    """How long ago an ISO time was (`12s`, `5m`, `3h`, `2d`), or `-`."""
    seen = parse_iso(stamp)
    if seen is None:
        return '-'
    seconds = max(0.0, (time.time() if now is None else now) - seen)
    for unit, size in (('d', 86400), ('h', 3600), ('m', 60)):
        if seconds >= size:
            return f'{int(seconds // size)}{unit} ago'
    return f'{int(seconds)}s ago'


def duration(command: dict[str, Any]) -> str:
    """How long a command ran, or `-`."""
    start = parse_iso(command.get('started_at')) or parse_iso(command.get('created_at'))
    end = parse_iso(command.get('finished_at'))
    if start is None or end is None:
        return '-'
    seconds = max(0.0, end - start)
    return f'{seconds:.1f}s' if seconds < 120 else f'{seconds / 60:.1f}m'


def short_time(stamp: str | None) -> str:
    """`YYYY-MM-DD HH:MM:SS` of an ISO time (UTC), or `-`."""
    return stamp[:19].replace('T', ' ') if stamp else '-'


def print_json(value: Any, stream: TextIO | None = None) -> None:
    """Pretty JSON for scripts."""
    print(json.dumps(value, indent=2, sort_keys=False), file=stream or sys.stdout)


def print_record(value: Any, stream: TextIO | None = None) -> None:
    """One JSON object per line (NDJSON), flushed at once."""
    out = stream or sys.stdout
    out.write(json.dumps(value, separators=(',', ':')) + '\n')
    out.flush()

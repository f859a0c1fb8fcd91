"""`LocalTime`: a UTC timestamp rendered in the browser's time zone (the server does not know it), and durations."""

from __future__ import annotations

from nicegui import ui

from nixfleet.timeutil import parse_iso


class LocalTime(ui.element, component='history_time.js'):
    """A `<time>` showing `iso` as `time`, `datetime` or `ago` in the browser's locale."""

    def __init__(self, iso: str | None, mode: str = 'datetime') -> None:
        super().__init__()
        self._props.update(iso=iso or '', mode=mode)


def duration(start: str | None, end: str | None) -> str:
    """`42s`, `3m 05s`, `1h 02m` between two ISO times ('' when either is missing)."""
    a, b = parse_iso(start) if start else None, parse_iso(end) if end else None
    if a is None or b is None:
        return ''
    seconds = max(0, round(b - a))
    if seconds < 60:
        return f'{seconds}s'
    if seconds < 3600:
        return f'{seconds // 60}m {seconds % 60:02d}s'
    return f'{seconds // 3600}h {seconds % 3600 // 60:02d}m'

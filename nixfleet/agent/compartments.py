"""The agent's own compartment view (`update_status` in heartbeats), held in memory like the Go agent's."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

LOCK_MAX_AGE_DAYS = 7
ICONS = {'ok': '🟢', 'outdated': '🟡', 'working': '🔵', 'error': '🔴', 'unknown': '⚪', '': '⚪'}


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Format a UTC timestamp as ISO-8601 with Z."""
    return moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


@dataclass(slots=True, kw_only=True, frozen=True)
class Compartment:
    """One compartment as reported: empty strings until something sets it."""

    status: str = ''
    message: str = ''
    checked_at: str = ''

    def line(self, label: str) -> str:
        """Render as a post-validation output line, e.g. '🟢 Lock: Updated today'."""
        return f'{ICONS.get(self.status, "⚪")} {label}: {self.message or self.status or "unknown"}'


@dataclass(slots=True, kw_only=True)
class UpdateStatus:
    """The lock, system and tests compartments; git is always empty (the dashboard computes it)."""

    lock: Compartment = field(default_factory=Compartment)
    system: Compartment = field(default_factory=Compartment)
    tests: Compartment = field(default_factory=Compartment)

    def set(self, name: str, status: str, message: str) -> Compartment:
        """Replace one compartment, stamped now."""
        value = Compartment(status=status, message=message, checked_at=iso(utc_now()))
        setattr(self, name, value)
        return value

    def interrupt(self) -> None:
        """Turn every compartment left `working` by an ended command into `unknown`."""
        for name in ('lock', 'system', 'tests'):
            if getattr(self, name).status == 'working':
                self.set(name, 'unknown', 'Interrupted')

    def payload(self) -> dict[str, dict[str, str]]:
        """Return the heartbeat's `update_status` object, shaped exactly like the Go agent's."""
        empty = {'status': '', 'message': '', 'checked_at': ''}
        parts = {name: getattr(self, name) for name in ('lock', 'system', 'tests')}
        return {
            'git': empty,
            **{
                name: {'status': c.status, 'message': c.message, 'checked_at': c.checked_at}
                for name, c in parts.items()
            },
        }


def lock_state(commit_date: str, now: datetime | None = None) -> tuple[str, str]:
    """Judge flake.lock from the `%ci` date of its last commit: ok up to 7 days, then outdated."""
    if not commit_date.strip():
        return 'unknown', 'flake.lock not found'
    try:
        committed = datetime.strptime(commit_date.strip(), '%Y-%m-%d %H:%M:%S %z')
    except ValueError:
        return 'error', f'cannot parse lock date {commit_date.strip()!r}'
    days = max(0, ((now or utc_now()) - committed).days)
    if days > LOCK_MAX_AGE_DAYS:
        return 'outdated', f'{days} days old'
    if days == 0:
        return 'ok', 'Updated today'
    return 'ok', 'Updated yesterday' if days == 1 else f'Updated {days} days ago'

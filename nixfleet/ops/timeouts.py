"""Deadlines of active commands, evaluated on the lifecycle's (injectable) clock.

`check()` runs every `NIXFLEET_TICK_INTERVAL` (1 s) from the scheduler; `give_up_offline()`, the Go dashboard's
stale cleanup, every `NIXFLEET_STALE_CLEANUP_INTERVAL` (1 min). Tests drive both on virtual time (advance a manual
clock, call them). Both are idempotent: each deadline moves a command at most once.
"""

from __future__ import annotations

import logging

from nixfleet.models import CommandStatus, EventLevel
from nixfleet.ops.commands import Command
from nixfleet.ops.lifecycle import KILL_ESCALATION, Lifecycle
from nixfleet.ops.registry import OPS
from nixfleet.ops.tracking import RESTART_GRACE, AgentTracker

log = logging.getLogger(__name__)


class TimeoutWatch:
    """Move active commands along when their deadlines pass."""

    def __init__(self, lifecycle: Lifecycle, tracker: AgentTracker) -> None:
        self.lc = lifecycle
        self.tracker = tracker

    def give_up_after(self, cmd: Command) -> float:
        """Seconds an offline host's unfinished command is kept (Go dashboard's stale multiplier and minimum)."""
        settings = self.lc.settings
        row = self.lc.hosts.rows.get(cmd.host or '', {})
        interval = row.get('heartbeat_interval') or settings.heartbeat_interval
        return max(settings.stale_multiplier * interval, settings.stale_minimum)

    async def check(self, now: float | None = None) -> None:
        """Apply every deadline that has passed."""
        now = self.lc.clock() if now is None else now
        for cmd in list(self.lc.active.values()):
            if cmd.terminal:
                continue
            try:
                await self._check_one(cmd, now)
            except Exception:
                log.exception('timeout check of %s failed', cmd.id)

    async def give_up_offline(self, now: float | None = None) -> None:
        """End (TIMEOUT) every command whose host has been offline longer than `give_up_after` (stale cleanup)."""
        now = self.lc.clock() if now is None else now
        for cmd in list(self.lc.active.values()):
            gone = cmd.track.disconnected_at
            if cmd.terminal or cmd.recovered or cmd.status is CommandStatus.AWAITING_RECONNECT or gone is None:
                continue  # a recovered or switching command has its own (shorter) deadline
            if now - gone < self.give_up_after(cmd):
                continue
            try:
                await self.lc.finish(
                    cmd, CommandStatus.TIMEOUT, error=f'{cmd.host} stayed offline for {now - gone:.0f} s: giving up'
                )
            except Exception:
                log.exception('stale cleanup of %s failed', cmd.id)

    async def _check_one(self, cmd: Command, now: float) -> None:
        lc, track, status = self.lc, cmd.track, cmd.status
        where = cmd.host or 'fleet'
        if cmd.recovered and cmd.adopt_deadline is not None and now >= cmd.adopt_deadline:
            await lc.finish(
                cmd,
                CommandStatus.ORPHANED,
                error='dashboard restarted while it ran and the agent did '
                'not come back within 2 minutes: outcome unknown',
            )
            return
        if track.kill_at is not None and not track.kill_escalated and now >= track.kill_at + KILL_ESCALATION:
            await lc.escalate_kill(cmd)
        if track.post_check_due is not None and now >= track.post_check_due and cmd.host:
            track.post_check_due = None
            await self.tracker.post_check(cmd, cmd.host)
            return
        if cmd.recovered:
            return  # a recovered command only has its adoption deadline until it is re-adopted
        if (status is CommandStatus.AWAITING_RECONNECT or track.reconnect_deadline is not None) and (
            await self._reconnect(cmd, now) or status is CommandStatus.AWAITING_RECONNECT
        ):
            return
        if status in (CommandStatus.EXECUTING, CommandStatus.RUNNING_WARNING) and cmd.hard_at and now >= cmd.hard_at:
            if OPS[cmd.op].executor == 'dashboard':
                await lc.finish(cmd, CommandStatus.TIMEOUT, error='dashboard op did not finish in time')
                return
            await lc.update(
                cmd,
                CommandStatus.TIMEOUT_PENDING,
                level=EventLevel.ERROR,
                event=f'{cmd.op} on {where} hit its hard timeout: wait, kill or cancel tracking',
            )
        elif status is CommandStatus.EXECUTING and cmd.warn_at is not None and now >= cmd.warn_at:
            await lc.update(
                cmd,
                CommandStatus.RUNNING_WARNING,
                level=EventLevel.WARN,
                event=f'{cmd.op} on {where} is taking longer than expected',
            )

    async def _reconnect(self, cmd: Command, now: float) -> bool:
        """End a command whose agent should have come back by now; True when it ended."""
        track, host = cmd.track, cmd.host or ''
        if (
            OPS[cmd.op].updates_agent
            and track.status_ok
            and track.disconnected_at is None
            and self.lc.gateway.is_connected(host)
            and track.status_at is not None
            and now >= track.status_at + RESTART_GRACE
        ):
            await self.lc.finish(
                cmd,
                CommandStatus.PARTIAL,
                exit_code=cmd.exit_code,
                code='goal_not_achieved',
                error='build done, but the agent did not restart: restart it to load the new binary',
            )
            return True
        if track.reconnect_deadline is not None and now >= track.reconnect_deadline:
            await self.lc.finish(
                cmd,
                CommandStatus.TIMEOUT,
                error=f'agent of {host} did not come back within '
                f'{OPS[cmd.op].reconnect_timeout:.0f} s: verify the host manually',
            )
            return True
        return False

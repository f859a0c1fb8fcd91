"""Dispatch: the one entry point that turns "run op X on hosts H" into commands (UI, API, CLI, pipelines)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nixfleet.models import CommandStatus, ErrorCode
from nixfleet.ops.commands import Command
from nixfleet.ops.dashboard_ops import DashboardOps
from nixfleet.ops.lifecycle import Lifecycle
from nixfleet.ops.registry import Completion, Executor, OpDef, Scope, get_op
from nixfleet.ops.totp import TotpGuard
from nixfleet.ops.tracking import freshness_of
from nixfleet.ops.validation import Blocked, CheckContext, Snapshot


class DispatchError(Exception):
    """The whole request is refused (unknown op, no hosts, TOTP); no command was created."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """What happened for one host: `started` (with the command) or `blocked` (with code and message)."""

    host: str | None
    started: bool
    command_id: str | None = None
    command_status: str | None = None
    code: str | None = None
    message: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """JSON form for the API."""
        return {
            'host_id': self.host,
            'status': 'started' if self.started else 'blocked',
            'command_id': self.command_id,
            'command_status': self.command_status,
            'code': self.code,
            'message': self.message,
        }


def unique(hosts: Iterable[str]) -> list[str]:
    """Hosts in request order, each once."""
    return list(dict.fromkeys(h.strip() for h in hosts if h and h.strip()))


class Dispatcher:
    """Validate, journal and start commands."""

    def __init__(self, lifecycle: Lifecycle, dashboard_ops: DashboardOps, totp: TotpGuard) -> None:
        self.lc = lifecycle
        self.dashboard_ops = dashboard_ops
        self.totp = totp

    def require_op(self, op_id: str) -> OpDef:
        """The op, or a DispatchError `unknown_op`."""
        op = get_op(op_id)
        if op is None:
            raise DispatchError(ErrorCode.UNKNOWN_OP, f'there is no op {op_id!r}')
        return op

    def check_totp(self, ops: Iterable[OpDef], totp: str | None) -> None:
        """Refuse the request when one of the ops needs TOTP and the code is missing, wrong or reused."""
        if any(op.requires_totp for op in ops) and (blocked := self.totp.check(totp)) is not None:
            raise DispatchError(blocked.code, blocked.message)

    async def dispatch(
        self,
        op_id: str,
        hosts: Iterable[str],
        *,
        force: bool = False,
        totp: str | None = None,
        actor: str = 'user',
        args: Mapping[str, Any] | None = None,
    ) -> list[DispatchResult]:
        """Run an op on hosts (fleet-wide ops run once, whatever the hosts); one result per distinct host."""
        op = self.require_op(op_id)
        targets: list[str | None] = [None] if op.scope is Scope.FLEET else list(unique(hosts))
        if not targets:
            raise DispatchError(ErrorCode.INVALID_REQUEST, 'no hosts given')
        self.check_totp([op], totp)
        results = await asyncio.gather(
            *(self.start(op, host, force=force, actor=actor, args=args or {}) for host in targets)
        )
        return [result for result, _ in results]

    async def start(
        self,
        op: OpDef,
        host: str | None,
        *,
        force: bool = False,
        actor: str = 'user',
        args: Mapping[str, Any] | None = None,
        pipeline_id: str | None = None,
        stage: int | None = None,
    ) -> tuple[DispatchResult, Command | None]:
        """Create one command: BLOCKED (journaled) or started; dashboard ops run to their end before returning."""
        args = args or {}
        lc = self.lc
        if host is not None and host not in lc.hosts.rows:
            return DispatchResult(host, False, code=ErrorCode.UNKNOWN_HOST, message=f'there is no host {host!r}'), None
        cmd = lc.new_command(
            op.id, host, actor, agent_command=op.agent_command, pipeline_id=pipeline_id, stage=stage, forced=force
        )
        # Validate against the host as it is, before this command marks it busy (otherwise a pull would see its own
        # Git compartment as "working"); validation and reservation run with no await in between.
        blocked = self._validate(op, cmd, args, force)
        holder = lc.reserve(cmd) if blocked is None else None
        if holder is not None:
            what = f'{host or "the fleet"} is busy: {holder.op} ({holder.status.value}) is running'
            return await self._blocked(cmd, Blocked(ErrorCode.COMMAND_PENDING, what))
        if blocked is not None:
            return await self._blocked(cmd, blocked)
        self._prepare(op, cmd)
        await lc.begin(cmd)
        if op.executor is Executor.DASHBOARD and not cmd.terminal:
            await self.dashboard_ops.run(op, cmd, args)
        return DispatchResult(host, True, cmd.id, cmd.status.value, cmd.code, cmd.error or cmd.message), cmd

    async def _blocked(self, cmd: Command, blocked: Blocked) -> tuple[DispatchResult, Command]:
        await self.lc.record_ended(cmd, CommandStatus.BLOCKED, code=blocked.code, message=blocked.message)
        result = DispatchResult(cmd.host, False, cmd.id, cmd.status.value, blocked.code.value, blocked.message)
        return result, cmd

    def _validate(self, op: OpDef, cmd: Command, args: Mapping[str, Any], force: bool) -> Blocked | None:
        if op.scope is Scope.FLEET:
            return None if force else self.dashboard_ops.validate_fleet(op)
        assert cmd.host is not None
        view = self.lc.hosts.view(cmd.host)
        return op.validate(CheckContext(view, self.lc.compartments.statuses(view), args), force=force)

    def _prepare(self, op: OpDef, cmd: Command) -> None:
        """Capture deadlines and the "before" facts (freshness triple, post-check snapshot) at dispatch."""
        now = self.lc.clock()
        cmd.warn_at = now + op.warning_timeout if op.warning_timeout else None
        cmd.hard_at = now + op.hard_timeout
        if op.completion is Completion.REREGISTER:
            cmd.track.reconnect_deadline = now + op.reconnect_timeout
        if op.id == 'remove':
            cmd.output_file = None  # its log directory is what it deletes
        if cmd.host is None:
            return
        view = self.lc.hosts.view(cmd.host)
        compartments = self.lc.compartments.statuses(view)
        cmd.freshness = freshness_of(self.lc.hosts.rows[cmd.host])
        cmd.track.before = Snapshot.of(view, compartments).to_json()
        cmd.track.expect_agent_update = op.updates_agent or compartments.get('agent') == 'outdated'

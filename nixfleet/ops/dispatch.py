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
from nixfleet.ops.tracking import freshness_of
from nixfleet.ops.validation import Blocked, CheckContext, Snapshot
from nixfleet.security.totp import TotpGuard


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


@dataclass(frozen=True, slots=True)
class _Claim:
    """One target after validation: its command holds the host's slot unless `blocked` says why not."""

    host: str | None
    cmd: Command | None  #: None: the host is unknown (nothing to journal)
    blocked: Blocked | None

    @property
    def reserved(self) -> bool:
        return self.cmd is not None and self.blocked is None


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

    def check_totp(self, ops: Iterable[OpDef], totp: str | None, *, spend: bool = True) -> None:
        """Refuse the request when one of the ops needs TOTP and the code is missing, wrong or reused."""
        if any(op.requires_totp for op in ops) and (blocked := self.totp.check(totp, spend=spend)) is not None:
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
        """Run an op on hosts (fleet-wide ops run once, whatever the hosts); one result per distinct host.

        Every target is validated and its slot taken with no await in between, and only then is a TOTP code checked:
        a wrong, reused or missing code releases the slots and refuses the whole request, so it never starts anything;
        a right code is spent only by a request that starts something. One refused on every host (busy, offline,
        unknown) says why and leaves the code good, so the user can retry with it once the host is ready.
        """
        op = self.require_op(op_id)
        targets: list[str | None] = [None] if op.scope is Scope.FLEET else list(unique(hosts))
        if not targets:
            raise DispatchError(ErrorCode.INVALID_REQUEST, 'no hosts given')
        args = args or {}
        claims = [self._claim(op, host, force=force, actor=actor, args=args) for host in targets]
        if op.requires_totp:
            try:
                self.check_totp([op], totp, spend=any(claim.reserved for claim in claims))
            except DispatchError:
                for claim in claims:
                    if claim.reserved and claim.cmd is not None:
                        self.lc.unreserve(claim.cmd)
                raise
        results = await asyncio.gather(*(self._proceed(op, claim, args) for claim in claims))
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
        lock_bumped: bool = False,
    ) -> tuple[DispatchResult, Command | None]:
        """Create one command: BLOCKED (journaled) or started; dashboard ops run to their end before returning.

        A pipeline stage (`pipeline_id`) whose goal already holds is journaled SKIPPED `already_current` instead of
        BLOCKED: it is satisfied and its host goes on (docs/architecture.md#pipelines). `lock_bumped`: see
        `CheckContext.lock_bumped`.
        """
        args = args or {}
        claim = self._claim(
            op, host, force=force, actor=actor, args=args, pipeline_id=pipeline_id, stage=stage, lock_bumped=lock_bumped
        )
        return await self._proceed(op, claim, args)

    def _claim(
        self,
        op: OpDef,
        host: str | None,
        *,
        force: bool,
        actor: str,
        args: Mapping[str, Any],
        pipeline_id: str | None = None,
        stage: int | None = None,
        lock_bumped: bool = False,
    ) -> _Claim:
        """Validate one target and take its slot (synchronous: nothing can change the host in between)."""
        lc = self.lc
        if host is not None and host not in lc.hosts.rows:
            return _Claim(host, None, Blocked(ErrorCode.UNKNOWN_HOST, f'there is no host {host!r}'))
        cmd = lc.new_command(
            op.id, host, actor, agent_command=op.agent_command, pipeline_id=pipeline_id, stage=stage, forced=force
        )
        # Validate against the host as it is, before this command marks it busy (otherwise a pull would see its own
        # Git compartment as "working").
        blocked = self._validate(op, cmd, args, force, lock_bumped)
        holder = lc.reserve(cmd) if blocked is None else None
        if holder is not None:
            what = f'{host or "the fleet"} is busy: {holder.op} ({holder.status.value}) is running'
            blocked = Blocked(ErrorCode.COMMAND_PENDING, what)
        return _Claim(host, cmd, blocked)

    async def _proceed(
        self, op: OpDef, claim: _Claim, args: Mapping[str, Any]
    ) -> tuple[DispatchResult, Command | None]:
        """Journal a refused claim as BLOCKED, or start the command whose slot it holds."""
        cmd = claim.cmd
        if cmd is None:
            assert claim.blocked is not None
            return DispatchResult(claim.host, False, code=claim.blocked.code, message=claim.blocked.message), None
        if claim.blocked is not None:
            return await self._blocked(cmd, claim.blocked)
        self._prepare(op, cmd)
        await self.lc.begin(cmd)
        if op.executor is Executor.DASHBOARD and not cmd.terminal:
            await self.dashboard_ops.run(op, cmd, args)
        return DispatchResult(cmd.host, True, cmd.id, cmd.status.value, cmd.code, cmd.error or cmd.message), cmd

    async def _blocked(self, cmd: Command, blocked: Blocked) -> tuple[DispatchResult, Command]:
        if cmd.pipeline_id is not None and blocked.code is ErrorCode.ALREADY_CURRENT:
            await self.lc.record_ended(
                cmd, CommandStatus.SKIPPED, code=blocked.code, message=blocked.message, failure=False
            )
        else:
            await self.lc.record_ended(cmd, CommandStatus.BLOCKED, code=blocked.code, message=blocked.message)
        result = DispatchResult(cmd.host, False, cmd.id, cmd.status.value, blocked.code.value, blocked.message)
        return result, cmd

    def _validate(
        self, op: OpDef, cmd: Command, args: Mapping[str, Any], force: bool, lock_bumped: bool = False
    ) -> Blocked | None:
        if op.scope is Scope.FLEET:
            return None if force else self.dashboard_ops.validate_fleet(op)
        assert cmd.host is not None
        view = self.lc.hosts.view(cmd.host)
        ctx = CheckContext(view, self.lc.compartments.statuses(view), args, lock_bumped=lock_bumped)
        return op.validate(ctx, force=force)

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

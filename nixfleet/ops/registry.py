"""The op registry (docs/architecture.md#ops): every action on a host, defined once, used by UI, API, CLI and
pipelines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from nixfleet.ops import validation as v
from nixfleet.ops.validation import Blocked, CheckContext, Snapshot

Check = Callable[[CheckContext], Blocked | None]
PostCheck = Callable[[Snapshot, Snapshot], Blocked | None]
#: Reads the message of the agent's `status ok`: a refusal means the result reports a failure (the command ends ERROR).
ResultCheck = Callable[[str], Blocked | None]


class Executor(StrEnum):
    """Who does an op's work."""

    AGENT = 'agent'
    DASHBOARD = 'dashboard'


class Completion(StrEnum):
    """How the lifecycle decides that an op has ended."""

    STATUS = 'status'  #: the agent's `status` frame (then the post-check)
    SWITCH = 'switch'  #: `status ok` (or a disconnect), then re-register; compare the freshness triple
    REREGISTER = 'reregister'  #: the agent re-registers (restart, reboot); no `status` is ever sent
    DASHBOARD = 'dashboard'  #: the dashboard's own implementation returns


class Scope(StrEnum):
    """Whether an op acts on each host or once for the fleet."""

    HOST = 'host'
    FLEET = 'fleet'


@dataclass(frozen=True, slots=True, kw_only=True)
class OpDef:
    """One op: what it runs, when it may run, how it ends, and its time limits (seconds)."""

    id: str
    description: str
    executor: Executor
    agent_command: str | None = None
    #: Pre-checks `force` skips.
    checks: tuple[Check, ...] = ()
    #: Checks `force` never skips (argument validity, hard rules such as "an online host cannot be removed").
    guards: tuple[Check, ...] = ()
    post_check: PostCheck | None = None
    result_check: ResultCheck | None = None
    #: The post-check needs the heartbeat that follows `status` (e.g. the new lock hash).
    post_check_waits_heartbeat: bool = False
    warning_timeout: float | None = None
    hard_timeout: float = 30.0
    #: For SWITCH / REREGISTER: how long the agent may take to come back.
    reconnect_timeout: float = 90.0
    retryable: bool = True
    requires_totp: bool = False
    completion: Completion = Completion.STATUS
    scope: Scope = Scope.HOST
    #: A successful run is expected to replace the agent binary (so "unchanged" is STALE_BINARY).
    updates_agent: bool = False

    def validate(self, ctx: CheckContext, *, force: bool = False) -> Blocked | None:
        """Run the guards, then (unless forced) the pre-checks, in order; the first refusal wins."""
        for check in self.guards if force else (*self.guards, *self.checks):
            if (blocked := check(ctx)) is not None:
                return blocked
        return None

    def to_wire(self) -> dict[str, object]:
        """JSON form for `GET /api/ops`."""
        return {
            'id': self.id,
            'description': self.description,
            'executor': self.executor.value,
            'agent_command': self.agent_command,
            'warning_timeout': self.warning_timeout,
            'hard_timeout': self.hard_timeout,
            'retryable': self.retryable,
            'requires_totp': self.requires_totp,
            'completion': self.completion.value,
            'scope': self.scope.value,
        }


MIN = 60.0
_ONLINE = (v.online,)


def _agent(op_id: str, description: str, warn: float, hard: float, **kw: object) -> OpDef:
    kw.setdefault('agent_command', op_id)
    kw.setdefault('checks', _ONLINE)
    return OpDef(
        id=op_id,
        description=description,
        executor=Executor.AGENT,
        warning_timeout=warn,
        hard_timeout=hard,
        **kw,  # type: ignore[arg-type]
    )


OPS: dict[str, OpDef] = {
    op.id: op
    for op in (
        _agent(
            'pull',
            'Pull the config repository',
            2 * MIN,
            5 * MIN,
            checks=(v.online, v.pull_needed),
            post_check=v.pull_goal,
            post_check_waits_heartbeat=True,
        ),
        _agent(
            'switch',
            'Build and activate the configuration',
            10 * MIN,
            30 * MIN,
            checks=(v.online, v.switch_ready),
            completion=Completion.SWITCH,
        ),
        _agent(
            'pull-switch',
            'Pull, then switch',
            12 * MIN,
            35 * MIN,
            checks=(v.online, v.pull_switch_needed),
            completion=Completion.SWITCH,
        ),
        _agent('test', 'Run the host tests', 5 * MIN, 10 * MIN),
        _agent('rollback', 'Roll back to the previous generation', 5 * MIN, 15 * MIN, retryable=False),
        _agent(
            'restart',
            'Restart the agent',
            1 * MIN,
            2 * MIN,
            retryable=False,
            completion=Completion.REREGISTER,
            reconnect_timeout=90.0,
        ),
        _agent(
            'reboot',
            'Reboot the host',
            5 * MIN,
            10 * MIN,
            retryable=False,
            requires_totp=True,
            completion=Completion.REREGISTER,
            reconnect_timeout=10 * MIN,
        ),
        _agent('check-version', 'Compare the running and installed agent versions', 10.0, 30.0),
        _agent('refresh-lock', 'Re-check the flake lock', 30.0, 5 * MIN, result_check=v.reported_check('Lock')),
        _agent(
            'refresh-system', 'Re-check the system (expensive)', 30.0, 5 * MIN, result_check=v.reported_check('System')
        ),
        _agent('refresh-all', 'Re-check everything the agent tracks', 30.0, 5 * MIN),
        _agent(
            'bump-flake',
            'Update the flake inputs (nix flake update)',
            2 * MIN,
            5 * MIN,
            agent_command='update',
            post_check=v.lock_changed,
            post_check_waits_heartbeat=True,
        ),
        _agent(
            'force-rebuild',
            'Rebuild bypassing the binary cache and refresh the agent',
            15 * MIN,
            30 * MIN,
            agent_command='force-update',
            completion=Completion.SWITCH,
            updates_agent=True,
        ),
        OpDef(
            id='refresh-git',
            description='Re-fetch version.json now',
            executor=Executor.DASHBOARD,
            hard_timeout=30.0,
            completion=Completion.DASHBOARD,
            scope=Scope.FLEET,
        ),
        OpDef(
            id='merge-pr',
            description='Merge the pending flake-update pull request',
            executor=Executor.DASHBOARD,
            hard_timeout=30.0,
            completion=Completion.DASHBOARD,
            scope=Scope.FLEET,
        ),
        OpDef(
            id='set-color',
            description="Set the host's theme colour",
            executor=Executor.DASHBOARD,
            guards=(v.valid_color,),
            hard_timeout=5.0,
            completion=Completion.DASHBOARD,
        ),
        OpDef(
            id='remove',
            description='Remove the host, its commands and logs (events stay)',
            executor=Executor.DASHBOARD,
            guards=(v.offline_host,),
            hard_timeout=5.0,
            retryable=False,
            completion=Completion.DASHBOARD,
        ),
    )
}


def get_op(op_id: str) -> OpDef | None:
    """The op with this id, if any."""
    return OPS.get(op_id)

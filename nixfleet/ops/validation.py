"""Pre-checks and post-checks of ops, judged on a host view and its compartment statuses (read through a
`nixfleet.compartments.source.CompartmentSource`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nixfleet.models import Blocked, Connection, ErrorCode, is_color

#: Values of `args.color` that reset a host's colour to the agent's own.
RESET_COLOR = frozenset({'', 'default', 'agent'})


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a pre-check sees: the host view, its compartment statuses and the op's arguments."""

    view: Mapping[str, Any]
    compartments: Mapping[str, str]
    args: Mapping[str, Any]
    #: An earlier stage of the same pipeline updated the host's flake.lock on purpose (update-agent's bump-flake).
    lock_bumped: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The facts a post-check compares before and after an op."""

    generation: str
    lock_hash: str
    compartments: Mapping[str, str]

    @classmethod
    def of(cls, view: Mapping[str, Any], compartments: Mapping[str, str]) -> Snapshot:
        """Take a snapshot of a host view."""
        return cls(
            generation=view.get('generation') or '', lock_hash=view.get('lock_hash') or '', compartments=compartments
        )

    def to_json(self) -> dict[str, Any]:
        """JSON form for the journal."""
        return {'generation': self.generation, 'lock_hash': self.lock_hash, 'compartments': dict(self.compartments)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Snapshot:
        """Rebuild from the journal."""
        data = data or {}
        return cls(
            generation=data.get('generation') or '',
            lock_hash=data.get('lock_hash') or '',
            compartments=data.get('compartments') or {},
        )


# -- pre-checks --------------------------------------------------------------------------------------------------
# A check blocks only on a *known* bad state (e.g. `already_current` needs Git to be known `ok`), so an unknown
# compartment never blocks an op wrongly; a post-check that cannot be judged (unknown) passes, and the result message
# says it was not verified.
def online(ctx: CheckContext) -> Blocked | None:
    """The host's agent link is open and heartbeating."""
    connection = ctx.view.get('connection')
    if connection == Connection.STALE:
        return Blocked(ErrorCode.HOST_STALE, f'{ctx.view["id"]} is stale: no heartbeat for a while')
    if connection != Connection.ONLINE:
        return Blocked(ErrorCode.HOST_OFFLINE, f'{ctx.view["id"]} is offline')
    return None


def _at(ctx: CheckContext) -> str:
    """` at <generation>` of the host, when it reported one."""
    generation = str(ctx.view.get('generation') or '')[:7]
    return f' at {generation}' if generation else ''


def pull_needed(ctx: CheckContext) -> Blocked | None:
    """Git is not known to be current."""
    if ctx.compartments.get('git') == 'ok':
        return Blocked(ErrorCode.ALREADY_CURRENT, f'{ctx.view["id"]}: Git already{_at(ctx)}; nothing to pull')
    return None


def switch_ready(ctx: CheckContext) -> Blocked | None:
    """Git and lock are not outdated, and the system is not already current (unless the agent is outdated).

    A lock the same pipeline bumped (update-agent) is outdated on purpose: it is what the switch is to deploy.
    """
    comp = ctx.compartments
    if comp.get('git') == 'outdated':
        return Blocked(ErrorCode.GIT_OUTDATED, 'Git is outdated: pull first, then switch')
    if comp.get('lock') == 'outdated' and not ctx.lock_bumped:
        return Blocked(ErrorCode.LOCK_OUTDATED, 'The flake lock is outdated: update it first, then switch')
    if comp.get('system') == 'ok' and comp.get('agent') != 'outdated':
        return Blocked(ErrorCode.ALREADY_CURRENT, f'{ctx.view["id"]}: system already current{_at(ctx)}')
    return None


def pull_switch_needed(ctx: CheckContext) -> Blocked | None:
    """Git or the system is not known to be current."""
    if ctx.compartments.get('git') == 'ok' and ctx.compartments.get('system') == 'ok':
        return Blocked(ErrorCode.ALREADY_CURRENT, 'Git and the system are already current')
    return None


def offline_host(ctx: CheckContext) -> Blocked | None:
    """The host's agent is not connected (an online host cannot be removed)."""
    if ctx.view.get('connection') in (Connection.ONLINE, Connection.STALE):
        return Blocked(ErrorCode.HOST_ONLINE, f'{ctx.view["id"]} is online; stop its agent before removing it')
    return None


def valid_color(ctx: CheckContext) -> Blocked | None:
    """`args.color` is `#rgb`/`#rrggbb`, or a reset to the agent's colour."""
    color = ctx.args.get('color')
    if color is None or str(color).lower() in RESET_COLOR or is_color(color):
        return None
    return Blocked(ErrorCode.INVALID_COLOR, f'{color!r} is not a colour; use #rgb or #rrggbb, or "default"')


# -- post-checks -------------------------------------------------------------------------------------------------
def pull_goal(before: Snapshot, after: Snapshot) -> Blocked | None:
    """Git became ok, or the generation changed; unknown Git with an unchanged generation cannot be judged."""
    if after.compartments.get('git') in ('ok', 'unknown') or after.generation != before.generation:
        return None
    return Blocked(ErrorCode.GOAL_NOT_ACHIEVED, f'pull left Git {after.compartments.get("git")} at {after.generation}')


def reported_check(what: str) -> Callable[[str], Blocked | None]:
    """Result check of a refresh: its `status ok` message is the status the check found (the agent always reports
    `refresh-system` and `refresh-lock` as `ok`; see docs/agent-protocol.md), and `error` there means it failed."""

    def check(message: str) -> Blocked | None:
        if message.strip().lower() != 'error':
            return None
        return Blocked(ErrorCode.GOAL_NOT_ACHIEVED, f'the agent\'s {what} check reported "error" (see the output)')

    return check


def lock_changed(before: Snapshot, after: Snapshot) -> Blocked | None:
    """The flake lock hash changed."""
    if after.lock_hash and after.lock_hash != before.lock_hash:
        return None
    return Blocked(ErrorCode.GOAL_NOT_ACHIEVED, 'flake.lock did not change (already up to date?)')

"""What the dashboard's action controls offer and show, NiceGUI-free (the `*_` components render it).

Labels of ops and pipelines, the row menu, the sensible alternative to a refused dispatch, and the per-tab index of
running commands that feeds the table's live progress and the context bar's warning rows. No rule of what may run
lives here: that is `available_ops` and dispatch validation, computed by the server for every client alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nixfleet.compartments.source import ViewCompartments
from nixfleet.models import ErrorCode
from nixfleet.ops.registry import OPS
from nixfleet.ops.validation import CheckContext

#: How the UI names ops (the registry's ids are for machines).
OP_LABELS: dict[str, str] = {
    'pull': 'Pull',
    'switch': 'Switch',
    'pull-switch': 'Pull + Switch',
    'test': 'Test',
    'rollback': 'Rollback',
    'restart': 'Restart agent',
    'reboot': 'Reboot',
    'check-version': 'Check version',
    'refresh-lock': 'Re-check lock',
    'refresh-system': 'Re-check system',
    'refresh-all': 'Re-check all',
    'refresh-git': 'Re-fetch version.json',
    'bump-flake': 'Bump flake',
    'force-rebuild': 'Force rebuild',
    'merge-pr': 'Merge PR',
    'set-color': 'Change colour',
    'remove': 'Remove',
}
#: How the UI names pipelines.
PIPELINE_LABELS: dict[str, str] = {
    'do-all': 'Do All',
    'merge-deploy': 'Merge & Deploy',
    'update-agent': 'Update agent',
    'force-update': 'Force update',
}


def op_label(op: str | None) -> str:
    """The human name of an op (its id when unknown)."""
    return OP_LABELS.get(op or '', op or '')


def pipeline_label(name: str | None) -> str:
    """The human name of a pipeline."""
    return PIPELINE_LABELS.get(name or '', name or '')


def hosts_phrase(hosts: Iterable[str]) -> str:
    """`web-01`, or `3 hosts`."""
    hosts = list(hosts)
    return hosts[0] if len(hosts) == 1 else f'{len(hosts)} hosts'


@dataclass(frozen=True, slots=True)
class MenuItem:
    """One row-menu entry: what it does (`kind`) and which op in `available_ops` enables it."""

    key: str
    label: str
    icon: str
    kind: str  #: op (dispatch at once) | confirm | totp | color | stop | details | copy (in the browser) | output | log
    op: str | None = None  #: enabled while this op is in the host's `available_ops` (None: see `kind`)
    danger: bool = False
    divider: bool = False  #: a separator goes before it

    def to_wire(self) -> dict[str, Any]:
        """JSON form for the table component."""
        return {
            'key': self.key,
            'label': self.label,
            'icon': self.icon,
            'kind': self.kind,
            'op': self.op,
            'danger': self.danger,
            'divider': self.divider,
        }


#: The row menu, in order. `stop` is enabled while the host is busy; `details`, `output` and `log` always.
ROW_MENU: tuple[MenuItem, ...] = (
    MenuItem(key='pull', label='Pull', icon='download', kind='op', op='pull'),
    MenuItem(key='switch', label='Switch', icon='published_with_changes', kind='op', op='switch'),
    MenuItem(key='test', label='Test', icon='science', kind='op', op='test'),
    MenuItem(key='pull-switch', label='Pull + Switch', icon='system_update_alt', kind='op', op='pull-switch'),
    MenuItem(key='stop', label='Stop', icon='stop_circle', kind='stop', danger=True),
    MenuItem(key='restart', label='Restart agent', icon='restart_alt', kind='op', op='restart', divider=True),
    MenuItem(key='rollback', label='Rollback…', icon='history', kind='confirm', op='rollback'),
    MenuItem(key='reboot', label='Reboot…', icon='power_settings_new', kind='totp', op='reboot', danger=True),
    MenuItem(key='check-version', label='Check version', icon='verified', kind='op', op='check-version'),
    MenuItem(key='color', label='Change colour…', icon='palette', kind='color', op='set-color', divider=True),
    MenuItem(key='details', label='Details', icon='info', kind='details'),
    MenuItem(key='copy', label='Copy name', icon='content_copy', kind='copy'),
    MenuItem(key='output', label='View output', icon='terminal', kind='output'),
    MenuItem(key='log', label='Download log', icon='file_download', kind='log'),
    MenuItem(key='remove', label='Remove…', icon='delete', kind='confirm', op='remove', danger=True, divider=True),
)
MENU_BY_KEY: dict[str, MenuItem] = {item.key: item for item in ROW_MENU}


# -- refused dispatches ------------------------------------------------------------------------------------------
#: Codes `force` cannot overcome: the one-command-per-host rule, guards, and whole-request refusals.
_NOT_FORCEABLE = frozenset(
    {
        ErrorCode.COMMAND_PENDING,
        ErrorCode.HOST_OFFLINE,  # forcing would only reach no agent
        ErrorCode.HOST_ONLINE,
        ErrorCode.INVALID_COLOR,
        ErrorCode.UNKNOWN_HOST,
        ErrorCode.UNKNOWN_OP,
        ErrorCode.TOTP_REQUIRED,
        ErrorCode.TOTP_INVALID,
        ErrorCode.INVALID_REQUEST,
        ErrorCode.NOT_CONFIGURED,
        ErrorCode.NO_MERGEABLE_PR,
    }
)


def forceable(code: str | None) -> bool:
    """Whether re-dispatching with `force` can get past this refusal."""
    return bool(code) and code not in _NOT_FORCEABLE


@dataclass(frozen=True, slots=True)
class Alternative:
    """The sensible other thing to do when an op was refused: a button label and what it runs."""

    label: str
    op: str  #: an op id, or `output` (open the host's output)
    why: str


def alternative(op: str, code: str | None) -> Alternative | None:
    """The sensible alternative to `op` refused with `code` (None when Force or nothing is the answer)."""
    if op == 'switch' and code == ErrorCode.GIT_OUTDATED:
        return Alternative('Pull first', 'pull-switch', 'Pull the new commit, then switch to it (Pull + Switch)')
    if op == 'switch' and code == ErrorCode.LOCK_OUTDATED:
        return Alternative('Pull first', 'pull-switch', 'Pull the remote flake.lock, then switch (Pull + Switch)')
    if code == ErrorCode.ALREADY_CURRENT and op in ('pull', 'switch', 'pull-switch'):
        return Alternative('Re-check', 'refresh-all', 'Have the agent re-check its status (it may be cached)')
    if code == ErrorCode.COMMAND_PENDING:
        return Alternative('View output', 'output', 'Watch the command that is running')
    return None


# -- running commands --------------------------------------------------------------------------------------------
#: Phases `operation_progress` reports, per op (the agent sends a phase's start and end only).
OP_PHASES: dict[str, tuple[str, ...]] = {
    'pull': ('pull',),
    'switch': ('system',),
    'pull-switch': ('pull', 'system'),
    'force-rebuild': ('system',),
    'test': ('tests',),
}
#: Command states that raise a context-bar row.
ALERT_STATES = frozenset({'RUNNING_WARNING', 'TIMEOUT_PENDING'})


def run_cell(command: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the table shows of a host's running command: op, state, start, phases."""
    if not command or command.get('terminal'):
        return None
    op = str(command.get('op') or '')
    progress = command.get('progress') or {}
    phases = []
    for name in OP_PHASES.get(op, ()):
        phase = progress.get(name) or {}
        phases.append({'name': name, 'status': phase.get('status') or 'pending'})
    return {
        'id': command.get('id'),
        'op': op,
        'label': op_label(op),
        'status': command.get('status'),
        'since': command.get('started_at') or command.get('created_at'),
        'phases': phases,
        'pipeline': bool(command.get('pipeline_id')),
        'kill': bool(command.get('kill_requested')),
    }


class CommandIndex:
    """One tab's view of the hosts' running commands, kept current from row updates in O(busy hosts).

    Host views name their active command (`command_id`); command views (progress, state) change without their
    host's view changing, so `update` also looks up the busy hosts' commands whenever the command map moved.
    """

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}  #: host -> active command id
        self._seen: dict[str, Mapping[str, Any] | None] = {}  #: host -> command view last shown
        self._commands: Mapping[str, Mapping[str, Any]] | None = None
        #: Bumped whenever a running command changed (the context bar re-renders its alerts then).
        self.revision = 0

    def reset(self, hosts: Mapping[str, Mapping[str, Any]], commands: Mapping[str, Mapping[str, Any]]) -> None:
        """Rebuild from a whole snapshot."""
        self._ids = {h: str(v['command_id']) for h, v in hosts.items() if v.get('command_id')}
        self._commands = commands
        self._seen = {h: commands.get(cid) for h, cid in self._ids.items()}
        self.revision += 1

    def update(
        self,
        hosts: Mapping[str, Mapping[str, Any]],
        commands: Mapping[str, Mapping[str, Any]],
        touched: Iterable[str],
        removed: Iterable[str] = (),
    ) -> set[str]:
        """Follow a transaction (`touched` hosts re-sent, `removed` gone); return other hosts whose cell changed."""
        changed: set[str] = set()
        touched = set(touched)
        for host in removed:
            if self._ids.pop(host, None) is not None:
                self._seen.pop(host, None)
                self.revision += 1
        for host in touched:
            cid = (hosts.get(host) or {}).get('command_id')
            if cid:
                if self._ids.get(host) != cid or self._seen.get(host) is not commands.get(str(cid)):
                    self.revision += 1
                self._ids[host] = str(cid)
                self._seen[host] = commands.get(str(cid))
            elif self._ids.pop(host, None) is not None:
                self._seen.pop(host, None)
                self.revision += 1
        if commands is not self._commands:
            self._commands = commands
            for host, cid in self._ids.items():
                now = commands.get(cid)
                if now is not self._seen.get(host):
                    self._seen[host] = now
                    self.revision += 1
                    if host not in touched:
                        changed.add(host)
        return changed

    def cell(self, host: str) -> dict[str, Any] | None:
        """The table cell of the host's running command (None when idle)."""
        return run_cell(self._seen.get(host))

    def command(self, host: str) -> Mapping[str, Any] | None:
        """The host's running command view."""
        return self._seen.get(host)

    def alerts(self) -> list[Mapping[str, Any]]:
        """Running commands past a deadline whose alert nobody dismissed, oldest first."""
        found = [
            c for c in self._seen.values() if c and c.get('status') in ALERT_STATES and not c.get('alert_dismissed')
        ]
        return sorted(found, key=lambda c: str(c.get('started_at') or c.get('created_at') or ''))


def refusals(view: Mapping[str, Any]) -> dict[str, str]:
    """Why each row-menu op the host does not offer now is refused: the registry's own pre-checks, run on the host
    view (for the disabled items' tooltips; `available_ops` stays what enables them)."""
    available = set(view.get('available_ops') or ())
    if view.get('busy') or not view.get('id'):
        return {}
    ctx = CheckContext(view, ViewCompartments().statuses(view), {})
    found = {}
    for item in ROW_MENU:
        op = OPS.get(item.op or '')
        if op is not None and op.id not in available and (blocked := op.validate(ctx)) is not None:
            found[op.id] = blocked.message
    return found


def fleet_online(hosts: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Ids of the online hosts, by name."""
    return sorted((h for h, v in hosts.items() if v.get('connection') == 'online'), key=str.lower)

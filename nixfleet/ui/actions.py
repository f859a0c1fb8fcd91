"""One tab's actions: every button, menu item and shortcut ends here, and here only calls `dashboard.ops`.

`FleetActions` turns a user's intent into a dispatch (asking first where the dashboard should: rollback, reboot,
remove, fleet-wide runs), shows what happened (toasts when commands start and when they end, the refused-dispatch
dialog with Force and the sensible alternative), and tells the output panel what to show through `PageEvents`.
What may run is never decided here: menus are enabled from the server's `available_ops`, and dispatch validates.
Whatever acts re-checks the tab's session on the server first (`session_alive`): a tab whose session ended acts on
nothing and journals nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from nicegui import Event, ui

from nixfleet.causes import as_cell, cause
from nixfleet.models import TERMINAL
from nixfleet.ops.dispatch import DispatchError, DispatchResult
from nixfleet.ops.lifecycle import CommandError
from nixfleet.streams.state import FleetState
from nixfleet.ui import dialogs
from nixfleet.ui.tab_session import session_alive
from nixfleet.viewmodels.actions_model import (
    MENU_BY_KEY,
    alternative,
    fleet_online,
    forceable,
    hosts_phrase,
    op_label,
    pipeline_label,
)
from nixfleet.viewmodels.output_buffer import status_tone

if TYPE_CHECKING:
    from nixfleet.app import Dashboard

log = logging.getLogger(__name__)

#: How long a toast stays (ms); failures stay until dismissed or replaced by later ones.
TOAST_MS = 4000
_TERMINAL = frozenset(s.value for s in TERMINAL)
_FINISHED_WORDS = {
    'SUCCESS': ('succeeded', 'positive'),
    'PARTIAL': ('finished, but its goal was not reached', 'warning'),
    'ERROR': ('failed', 'negative'),
    'TIMEOUT': ('timed out', 'negative'),
    'KILLED': ('was stopped', 'warning'),
    'CANCELLED': ('is no longer tracked', 'info'),
    'ORPHANED': ('ended with an unknown outcome', 'warning'),
    'STALE_BINARY': ('switched, but the agent binary did not change', 'warning'),
    'SUSPICIOUS': ('switched, but only the source commit changed', 'warning'),
    'SKIPPED': ('was skipped', 'info'),
    'BLOCKED': ('was refused', 'warning'),
}
_TOAST_ICONS = {'positive': 'check_circle', 'negative': 'error', 'warning': 'warning', 'info': 'info'}
_PIPELINE_WORDS = {
    'COMPLETE': ('completed', 'positive'),
    'PARTIAL': ('finished with failures', 'warning'),
    'FAILED': ('failed', 'negative'),
    'CANCELLED': ('was cancelled', 'info'),
}


#: Causes a toast lists (the rest are counted).
TOAST_CAUSES = 3


def cause_lines(failures: Sequence[tuple[str, str]]) -> str:
    """Lines for a toast: each distinct cause with the hosts that failed for it (`\nweb-01, web-02: exit 1 — …`)."""
    by_cause: dict[str, list[str]] = {}
    for host, why in sorted(failures):  # by host: the same toast whichever host ended first
        by_cause.setdefault(why or 'no cause reported', []).append(host)
    lines = [
        f'{", ".join(hosts[:4])}{f" +{len(hosts) - 4}" if len(hosts) > 4 else ""}: {why}'
        for why, hosts in list(by_cause.items())[:TOAST_CAUSES]
    ]
    if len(by_cause) > TOAST_CAUSES:
        lines.append(f'… and {len(by_cause) - TOAST_CAUSES} more causes')
    return ''.join(f'\n{line}' for line in lines)


def run_failures(run: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(host · stage, cause) of every cell of a pipeline run that failed (not partial, skipped or already current)."""
    found = []
    for op, stage in zip(run.get('ops') or [], run.get('stages') or [], strict=False):
        for host, raw in (stage or {}).items():
            cell = as_cell(raw)
            if cell and status_tone(cell.get('status')) == 'fail':
                found.append((f'{host} · {op}', cause(cell)))
    return found


@dataclass(slots=True)
class PageEvents:
    """What this tab's controls ask of parts they do not own (the output panel subscribes)."""

    #: Show the output of this host (open and focus its tab).
    view_output: Event[str] = field(default_factory=Event)
    #: Switch to output tab N (1-based, Ctrl+1..9).
    output_tab: Event[int] = field(default_factory=Event)


@dataclass(slots=True)
class _Group:
    """Commands one click started, reported together when the last of them ends."""

    label: str
    pending: set[str]
    hosts: int
    ok: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  #: (host, cause)
    last: Mapping[str, Any] | None = None


@dataclass(slots=True)
class _Run:
    """A pipeline run one click started, reported when it ends."""

    label: str
    name: str
    hosts: tuple[str, ...]


_controllers: weakref.WeakValueDictionary[str, FleetActions] = weakref.WeakValueDictionary()


def current_actions() -> FleetActions | None:
    """The action controller of the browser tab whose event is being handled, if its page has one."""
    return _controllers.get(ui.context.client.id)


class FleetActions:
    """The action controller of one dashboard tab."""

    def __init__(self, dashboard: Dashboard, root: ui.element) -> None:
        self.dashboard = dashboard
        self.events = PageEvents()
        self._root = root
        _controllers[root.client.id] = self
        self._groups: dict[str, _Group] = {}  #: command id -> its group
        self._runs: dict[str, _Run] = {}  #: pipeline id -> what it runs
        self._mine: dict[str, tuple[str, str | None]] = {}  #: running command id -> (op, host), started here
        self._inflight: set[tuple[str, tuple[str, ...]]] = set()
        self._handling: set[tuple[str, ...]] = set()  #: clicks whose handling (dialog, dispatch) is under way
        self._lookups: dict[str, asyncio.Task[None]] = {}  #: ended commands read from the journal (trimmed first)
        self._commands: Mapping[str, Any] | None = None
        self._pipelines: Mapping[str, Any] | None = None

    @property
    def state(self) -> FleetState:
        """The current fleet state (what a click acts on)."""
        return self.dashboard.stream.value

    def session_alive(self) -> bool:
        """Re-check this tab's session on the server before acting (a tab whose session ended acts on nothing)."""
        return session_alive(self._root.client)

    @property
    def totp_configured(self) -> bool:
        """Whether reboot can be authorised at all."""
        secret = self.dashboard.settings.totp_secret
        return secret is not None and bool(secret.get_secret_value())

    # -- feedback ------------------------------------------------------------------------------------------------
    def toast(self, message: str, kind: str = 'info', *, sticky: bool = False) -> None:
        """Show a toast in this tab (works from stream callbacks too)."""
        with self._root:
            ui.notify(
                message,
                position='bottom-right',
                timeout=0 if sticky else TOAST_MS,
                close_button='Dismiss' if sticky else False,
                icon=_TOAST_ICONS.get(kind, 'info'),
                classes=f'nf-toast is-{kind}',
                color='nf',  # no Quasar colour classes: their layered `!important` would beat the stylesheet
                textColor='nf',
                group=False,
            )

    def follow(self, state: FleetState) -> None:
        """Report commands and pipelines this tab started once they end (call on every rendered state)."""
        if self._groups and state.commands is not self._commands:
            for cid in [c for c, g in self._groups.items() if c in g.pending]:
                cmd = state.commands.get(cid)
                if cmd is not None and cmd.get('status') in _TERMINAL:
                    self._finished(cid, cmd)
                elif cmd is None and cid not in self.state.commands and cid not in self._lookups:
                    self._look_up(cid)
        self._commands = state.commands
        if self._runs and state.pipelines is not self._pipelines:
            for run_id in list(self._runs):
                run = state.pipelines.get(run_id)
                if run is not None and run.get('status') in _PIPELINE_WORDS:
                    label = self._runs.pop(run_id).label
                    word, kind = _PIPELINE_WORDS[str(run.get('status'))]
                    hosts = run.get('hosts') or []
                    text = f'{label} on {hosts_phrase(hosts)} {word}'
                    if run.get('message') and run.get('status') != 'COMPLETE':
                        text += f': {run["message"]}'
                    self.toast(text + cause_lines(run_failures(run)), kind, sticky=kind == 'negative')
        self._pipelines = state.pipelines

    def _look_up(self, cid: str) -> None:
        """Report a command that left the live state before this tab saw it end (the server trims ended ones)."""

        async def from_journal() -> None:
            try:
                cmd = await self.dashboard.ops.get_command(cid)
            finally:
                self._lookups.pop(cid, None)
            if cid not in self._groups:
                return
            if cmd is None:  # its host was removed with its commands: nothing to report
                self._groups.pop(cid).pending.discard(cid)
                self._mine.pop(cid, None)
            elif cmd.terminal:
                self._finished(cid, cmd.view())

        self._lookups[cid] = asyncio.get_running_loop().create_task(from_journal(), name=f'ended-{cid}')

    def _finished(self, cid: str, cmd: Mapping[str, Any]) -> None:
        group = self._groups.pop(cid)
        self._mine.pop(cid, None)
        group.pending.discard(cid)
        group.last = cmd
        if cmd.get('status') in ('SUCCESS', 'PARTIAL'):
            group.ok += 1
        else:
            group.failed.append((str(cmd.get('host_id') or '?'), cause(cmd)))
        if group.pending:
            return
        if group.hosts == 1:
            status = str(cmd.get('status'))
            word, kind = _FINISHED_WORDS.get(status, (status.lower(), 'info'))
            why = cause(cmd)
            text = f'{cmd.get("host_id") or "Fleet"}: {group.label} {word}' + (f'\n{why}' if why else '')
            self.toast(text, kind, sticky=kind == 'negative')
            return
        if not group.failed:
            self.toast(f'{group.label} succeeded on {group.ok} hosts', 'positive')
            return
        kind = 'negative' if not group.ok else 'warning'
        text = f'{group.label}: {group.ok} of {group.hosts} succeeded, {len(group.failed)} failed'
        self.toast(text + cause_lines(group.failed), kind, sticky=True)

    # -- dispatch ------------------------------------------------------------------------------------------------
    async def run(
        self,
        op: str,
        hosts: Sequence[str],
        *,
        force: bool = False,
        totp: str | None = None,
        args: Mapping[str, Any] | None = None,
        on_refused: Callable[[DispatchError], Awaitable[None]] | None = None,
        explain: bool = True,
    ) -> list[DispatchResult]:
        """Dispatch `op` on `hosts`; report what started, explain what was refused (with Force and alternative).

        `explain=False`: the caller shows the per-host refusals itself (in the dialog that asked).
        """
        if not self.session_alive():
            return []
        if not force and (repeats := self._running_here(op, hosts)):
            # the second click of a double click, or a click on a menu rendered before the first one's command
            # started: say it runs rather than have dispatch refuse it as busy (and journal the refusal)
            self.toast(f'{op_label(op)} is already running on {hosts_phrase(repeats)}', 'info')
            hosts = [h for h in hosts if h not in repeats]
            if not hosts:
                return []
        key = (op, tuple(sorted(hosts)))
        if key in self._inflight:  # a double click: the first one is on its way
            return []
        self._inflight.add(key)
        try:
            results = await self.dashboard.ops.dispatch(op, hosts, force=force, totp=totp, args=args)
        except DispatchError as exc:
            if on_refused is not None:
                await on_refused(exc)
            else:
                await self._explain(op, [dialogs.Refusal(None, str(exc.code), exc.message)], hosts, total=len(hosts))
            return []
        finally:
            self._inflight.discard(key)
        self._report_started(op, results, forced=force)
        refused = [r for r in results if not r.started]
        if refused and explain:
            refusals = [dialogs.Refusal(r.host, str(r.code), r.message or '') for r in refused]
            await self._explain(op, refusals, hosts, total=len(results), args=args)
        return results

    def _report_started(self, op: str, results: Sequence[DispatchResult], *, forced: bool) -> None:
        label = op_label(op) + (' (forced)' if forced else '')
        started = [r for r in results if r.started]
        if not started:
            return
        done = [r for r in started if r.command_status in _TERMINAL]
        running = [r for r in started if r.command_status not in _TERMINAL]
        for r in done:  # dashboard ops run to their end inside dispatch
            if r.command_status == 'SUCCESS':
                self.toast(r.message or f'{label} done', 'positive')
            else:
                why = cause({'status': r.command_status, 'code': r.code, 'message': r.message})
                self.toast(f'{label} failed' + (f'\n{why}' if why else ''), 'negative', sticky=True)
        if not running:
            return
        group = _Group(label=label, pending={r.command_id for r in running if r.command_id}, hosts=len(running))
        for cid in group.pending:
            self._groups[cid] = group
        for r in running:
            if r.command_id:
                self._mine[r.command_id] = (op, r.host)
        self.toast(f'{label} started on {hosts_phrase([r.host or "the fleet" for r in running])}', 'info')

    def _running_here(self, op: str, hosts: Sequence[str]) -> list[str]:
        """Those of `hosts` running `op` that this tab started (and that has not ended yet)."""
        commands = self.state.commands
        running = {
            host
            for cid, (mine, host) in self._mine.items()
            if mine == op and (commands.get(cid) or {}).get('status') not in _TERMINAL
        }
        return [h for h in hosts if h in running]

    async def _once(self, key: tuple[str, ...], handle: Callable[[], Awaitable[Any]]) -> None:
        """Handle a click unless the same click is still being handled (a double click opens one dialog and
        dispatches once: both clicks can reach the server before the first one's handler ran)."""
        if key in self._handling:
            return
        self._handling.add(key)
        try:
            await handle()
        finally:
            self._handling.discard(key)

    async def _explain(
        self,
        op: str,
        refusals: Sequence[dialogs.Refusal],
        hosts: Sequence[str],
        *,
        total: int,
        args: Mapping[str, Any] | None = None,
        label: str | None = None,
    ) -> None:
        """Show why `op` (or pipeline) was refused; run Force or the alternative if the user picks one."""
        codes = {r.code for r in refusals}
        alt = alternative(op, codes.pop()) if len(codes) == 1 else None
        forceable_hosts = [r.host for r in refusals if r.host and forceable(r.code)]
        can_force = bool(forceable_hosts) and label is None  # pipelines have no Force
        choice = await dialogs.refused(
            label or op_label(op), refusals, total=total, can_force=can_force, alternative=alt
        )
        targets = [r.host for r in refusals if r.host]
        if choice == 'force':
            await self.run(op, forceable_hosts, force=True, args=args)
        elif choice == 'output':
            for host in targets[:1]:
                self.events.view_output.emit(host)
        elif choice:
            await self.run(choice, targets or list(hosts))

    async def run_pipeline(self, name: str, hosts: Sequence[str]) -> None:
        """Start a pipeline and report its start (its end is reported by `follow`)."""
        if not self.session_alive():
            return
        label = pipeline_label(name)
        repeats = {h for run in self._runs.values() if run.name == name for h in run.hosts}
        if repeats and set(hosts) <= repeats:  # a late second click: this tab's run is still going
            self.toast(f'{label} is already running on {hosts_phrase(hosts)}', 'info')
            return
        try:
            run = await self.dashboard.ops.start_pipeline(name, hosts, actor='user')
        except DispatchError as exc:
            refusal = dialogs.Refusal(None, str(exc.code), exc.message)
            await self._explain(name, [refusal], hosts, total=len(hosts), label=label)
            return
        self._runs[run.id] = _Run(label, name, tuple(run.hosts))
        self.toast(f'{label} started on {hosts_phrase(run.hosts) if run.hosts else "the fleet"}', 'info')

    async def command_action(self, command_id: str, action: str) -> None:
        """Wait 5m / Kill / Ignore / Cancel tracking on a running command."""
        await self._once(('command', command_id, action), functools.partial(self._command_action, command_id, action))

    async def _command_action(self, command_id: str, action: str) -> None:
        if not self.session_alive():
            return
        ops = self.dashboard.ops
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            'wait': lambda: ops.wait_command(command_id, 5),
            'kill': lambda: ops.kill_command(command_id),
            'ignore': lambda: ops.ignore_command(command_id),
            'cancel': lambda: ops.cancel_command(command_id),
        }
        try:
            cmd = await calls[action]()
        except (CommandError, DispatchError) as exc:
            self.toast(f'{exc.message} ({exc.code})', 'warning')
            return
        host, op = cmd.host or 'the fleet', op_label(cmd.op)
        done = {
            'wait': f'{host}: waiting 5 more minutes for {op}',
            'kill': f'{host}: stopping {op} (SIGTERM, SIGKILL after 5 s)',
            'ignore': f'{host}: alert for {op} dismissed; still tracking it',
            'cancel': f'{host}: {op} no longer tracked; the host is free',
        }
        self.toast(done[action], 'info')

    # -- entry points ---------------------------------------------------------------------------------------------
    async def row_action(self, host: str, key: str) -> None:
        """A row-menu item (see `actions_model.ROW_MENU`)."""
        await self._once(('row', host, key), functools.partial(self._row_action, host, key))

    async def _row_action(self, host: str, key: str) -> None:
        item = MENU_BY_KEY.get(key)
        view = self.state.hosts.get(host)
        if item is None or view is None:
            self.toast(f'{host} is no longer known' if view is None else f'Unknown action {key!r}', 'warning')
            return
        if item.kind == 'op' and item.op:
            await self.run(item.op, [host])
        elif item.kind == 'stop':
            await self.stop(host)
        elif key == 'rollback':
            if await dialogs.confirm(
                f'Roll back {host}?',
                f'{host} switches back to its previous system generation.',
                'Roll back',
                icon='history',
                danger=True,
            ):
                await self.run('rollback', [host])
        elif key == 'remove':
            if await dialogs.confirm(
                f'Remove {host}?',
                f'{host}, its commands and their logs are deleted (events stay). '
                'It comes back if its agent registers again.',
                'Remove',
                icon='delete',
                danger=True,
            ):
                await self.run('remove', [host])
        elif item.kind == 'totp':
            await self.reboot(host)
        elif item.kind == 'color':
            await self.change_color(host)
        elif item.kind == 'output':
            self.events.view_output.emit(host)
        elif item.kind == 'log':
            await self.download_log(host)

    async def stop(self, host: str) -> None:
        """Stop (kill) the host's running command."""
        cid = (self.state.hosts.get(host) or {}).get('command_id')
        if not cid:
            self.toast(f'{host} is not running anything', 'info')
            return
        await self.command_action(str(cid), 'kill')

    async def reboot(self, host: str) -> None:
        """Ask for a TOTP code, then reboot."""

        async def submit(code: str) -> dialogs.CodeRefused | None:
            problem: list[dialogs.CodeRefused] = []

            async def refused(exc: DispatchError) -> None:
                problem.append(dialogs.CodeRefused(f'{exc.message} ({exc.code})'))

            results = await self.run('reboot', [host], totp=code, on_refused=refused, explain=False)
            for result in results:
                if not result.started:  # refused for the host's sake: the code was right, and is still unused
                    why = f'{result.message} ({result.code}). The code was not used; try again when {host} is ready.'
                    problem.append(dialogs.CodeRefused(why, kept=True))
            return problem[0] if problem else None

        await dialogs.totp_prompt(host, submit, configured=self.totp_configured)

    async def change_color(self, host: str) -> None:
        """Pick a colour (or the agent's default) and set it."""
        view = self.state.hosts.get(host) or {}
        choice = await dialogs.pick_color(
            host, view.get('theme_color'), from_dashboard=view.get('color_source') == 'dashboard'
        )
        if choice is not None:
            await self.run('set-color', [host], args={'color': choice})

    async def download_log(self, host: str) -> None:
        """Download the log of the host's running or latest command."""
        view = self.state.hosts.get(host) or {}
        cid = view.get('command_id')
        if not cid:
            latest = await self.dashboard.ops.list_commands(host, limit=1)
            cid = latest[0]['id'] if latest else None
        if not cid:
            self.toast(f'{host} has no command log yet', 'info')
            return
        cmd = await self.dashboard.ops.get_command(str(cid))
        op = cmd.op if cmd is not None else 'command'
        with self._root:  # the browser fetches it (with its session): no log travels through this socket
            ui.download.from_url(f'/api/commands/{quote(str(cid))}/output', f'{host}-{op}-{cid}.log')

    async def compartment(self, host: str, name: str) -> None:
        """A compartment chip: run its sensible action, or say what it means."""
        await self._once(('compartment', host, name), functools.partial(self._compartment, host, name))

    async def _compartment(self, host: str, name: str) -> None:
        view = self.state.hosts.get(host)
        comp = ((view or {}).get('compartments') or {}).get(name)
        if view is None or comp is None:
            return
        title = f'{host} · {name.capitalize()}: {comp.get("status")}'
        action = comp.get('action')
        if comp.get('status') == 'working':
            running = op_label(view.get('pending_command')) or 'a command'
            self.toast(f'{title} — {running} is running; Stop is in the row menu', 'info')
            return
        if not action:
            hint = comp.get('hint')
            self.toast(f'{title} — {comp.get("message")}' + (f'. {hint}' if hint else ''), 'info')
            return
        await self.run(action, [] if action == 'refresh-git' else [host])

    async def bulk(self, what: str) -> None:
        """Header bulk menu: a fleet-wide run on the online hosts, after a confirmation."""
        await self._once(('bulk', what), functools.partial(self._bulk, what))

    async def _bulk(self, what: str) -> None:
        if what == 'merge-pr':
            await self.merge(deploy=False)
            return
        online = fleet_online(self.state.hosts)
        if not online:
            self.toast('No host is online', 'warning')
            return
        pipeline = what == 'do-all'
        label = pipeline_label(what) if pipeline else op_label(what)
        steps = 'Pull → Switch → Test' if pipeline else label
        ok = await dialogs.confirm(
            f'{label} on {len(online)} online host{"s" if len(online) != 1 else ""}?',
            f'Run {steps} on every online host. Offline and stale hosts are left out.',
            f'{label} on {len(online)}',
            icon='rocket_launch' if pipeline else 'bolt',
            details=online,
        )
        if not ok:
            return
        online = self._still_online(online, label)
        if not online:
            return
        if pipeline:
            await self.run_pipeline(what, online)
        else:
            await self.run(what, online)

    def _online(self, hosts: Sequence[str]) -> list[str]:
        """Those of `hosts` online now, in their order."""
        views = self.state.hosts
        return [h for h in hosts if (views.get(h) or {}).get('connection') == 'online']

    def _still_online(self, hosts: Sequence[str], label: str) -> list[str]:
        """Those of the confirmed `hosts` still online; says which went away while the dialog was open."""
        online = self._online(hosts)
        kept = set(online)
        gone = [h for h in hosts if h not in kept]
        if gone:
            went = f'{", ".join(gone[:5])}{" …" if len(gone) > 5 else ""} went offline'
            if online:
                self.toast(f'{went}; {label} runs on {hosts_phrase(online)} only', 'warning')
            else:
                self.toast(f'{went}; {label} was not started', 'warning')
        return online

    async def on_selection(self, key: str, hosts: Sequence[str]) -> None:
        """Context-bar selection row: Pull/Switch/Test/Do All on the selected online hosts."""
        await self._once(('selection', key), functools.partial(self._on_selection, key, hosts))

    async def _on_selection(self, key: str, hosts: Sequence[str]) -> None:
        online = self._online(hosts)
        if not online:
            self.toast('None of the selected hosts is online', 'warning')
            return
        if key == 'do-all':
            await self.run_pipeline('do-all', online)
        else:
            await self.run(key, online)

    async def merge(self, *, deploy: bool) -> None:
        """Merge the pending flake-update PR (and deploy it to the online hosts)."""
        await self._once(('merge', str(deploy)), functools.partial(self._merge, deploy=deploy))

    async def _merge(self, *, deploy: bool) -> None:
        pr = self.state.fleet.get('pending_pr') or {}
        if not pr:
            self.toast('There is no pending flake-update pull request', 'info')
            return
        online = fleet_online(self.state.hosts)
        what = f'PR #{pr.get("number")} “{pr.get("title")}”'
        if deploy:
            if not online:
                self.toast('No host is online to deploy to', 'warning')
                return
            if await dialogs.confirm(
                f'Merge & deploy PR #{pr.get("number")}?',
                f'Merge {what}, then Pull → Switch → Test on {len(online)} online hosts.',
                'Merge & Deploy',
                icon='merge',
                details=online,
            ) and (online := self._still_online(online, 'Merge & Deploy')):
                await self.run_pipeline('merge-deploy', online)
        elif await dialogs.confirm(
            f'Merge PR #{pr.get("number")}?', f'Merge {what} on GitHub. Nothing is deployed.', 'Merge', icon='merge'
        ):
            await self.run('merge-pr', [])

    def shortcut(self, args: Mapping[str, Any]) -> None:
        """Keyboard shortcuts the table component forwards (Ctrl+1..9: output tab)."""
        tab = args.get('tab')
        if isinstance(tab, int) and 1 <= tab <= 9:
            self.events.output_tab.emit(tab)

    @staticmethod
    def handler(method: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Callable[[], Awaitable[Any]]:
        """A click handler calling `method(*args, **kwargs)` (NiceGUI passes no event arguments to it)."""
        return functools.partial(method, *args, **kwargs)

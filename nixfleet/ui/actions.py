"""One tab's actions: every button, menu item and shortcut ends here, and here only calls the op engine.

`FleetActions` turns a user's intent into a dispatch (asking first where the dashboard should: rollback, reboot,
remove, fleet-wide runs), shows what happened (toasts when commands start and when they end, the refused-dispatch
dialog with Force and the sensible alternative), and tells the output panel what to show through `PageEvents`.
What may run is never decided here: menus are enabled from the server's `available_ops`, and dispatch validates.
Whatever acts re-checks the tab's session on the server first (`session_alive`): a tab whose session ended acts on
nothing and journals nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from nicegui import Event, ui

from nixfleet.ops.dispatch import DispatchError, DispatchResult
from nixfleet.ops.lifecycle import CommandError
from nixfleet.ops.pipelines import PipelineOptions
from nixfleet.streams.state import FleetState, FleetStateStream
from nixfleet.ui import dialogs
from nixfleet.ui.fleet_actions import FleetWideActions
from nixfleet.ui.tab_session import session_alive
from nixfleet.ui.toasts import OUTPUT_EVENT, toast
from nixfleet.viewmodels.actions_model import (
    MENU_BY_KEY,
    alternative,
    forceable,
    hosts_phrase,
    op_label,
    pipeline_label,
)
from nixfleet.viewmodels.command_reports import CommandReports
from nixfleet.viewmodels.host_detail import host_path
from nixfleet.viewmodels.outcomes import refusal

if TYPE_CHECKING:
    from nixfleet.ops.engine import OpEngine

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PageEvents:
    """What this tab's controls ask of parts they do not own (the output panel subscribes)."""

    #: Show the output of this host (open and focus its tab).
    view_output: Event[str] = field(default_factory=Event)
    #: Switch to output tab N (1-based, Ctrl+1..9).
    output_tab: Event[int] = field(default_factory=Event)
    #: Bring this host's tab to the front without expanding a collapsed panel (a command this tab started).
    front_output: Event[str] = field(default_factory=Event)


#: Ops a compartment chip asks before starting: they deploy a new system generation.
DEPLOYING = frozenset({'pull-switch', 'switch'})


class FleetActions:
    """The action controller of one dashboard tab."""

    def __init__(self, stream: FleetStateStream, ops: OpEngine, root: ui.element, *, totp_configured: bool) -> None:
        self._stream = stream
        self._ops = ops
        #: Whether reboot can be authorised at all.
        self.totp_configured = totp_configured
        self.events = PageEvents()
        self._root = root
        self.reports = CommandReports(lambda: stream.value, ops.get_command, self.toast)
        self._inflight: set[tuple[str, tuple[str, ...]]] = set()
        self._handling: set[tuple[str, ...]] = set()  #: clicks whose handling (dialog, dispatch) is under way
        #: The header's fleet-wide runs and the context bar's runs on the selection.
        self.fleet = FleetWideActions(self)
        root.on(OUTPUT_EVENT, lambda e: self._show_output((e.args or {}).get('host')))

    @property
    def state(self) -> FleetState:
        """The current fleet state (what a click acts on)."""
        return self._stream.value

    def session_alive(self) -> bool:
        """Re-check this tab's session on the server before acting (a tab whose session ended acts on nothing)."""
        return session_alive(self._root.client)

    def toast(self, message: str, kind: str = 'info', *, sticky: bool = False, output: str | None = None) -> None:
        """Show a toast in this tab (works from stream callbacks too); `output` adds a button to that host's output."""
        toast(message, kind, sticky=sticky, where=self._root, output=output)

    def _show_output(self, host: object) -> None:
        """A toast's "Show output" (or another link to a host's output) was clicked."""
        if isinstance(host, str) and host:
            self.events.view_output.emit(host)

    def follow(self, state: FleetState) -> None:
        """Report commands and pipelines this tab started once they end (call on every rendered state)."""
        self.reports.follow(state)

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
        if not force and (repeats := self.reports.running_here(op, hosts)):
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
            results = await self._ops.dispatch(op, hosts, force=force, totp=totp, args=args)
        except DispatchError as exc:
            if on_refused is not None:
                await on_refused(exc)
            else:
                await self._explain(op, [dialogs.Refusal(None, str(exc.code), exc.message)], hosts, total=len(hosts))
            return []
        finally:
            self._inflight.discard(key)
        self.reports.started(op, results, forced=force)
        if first := next((r.host for r in results if r.started and r.host), None):
            self.events.front_output.emit(first)  # the user's own command in front, not the System Log
        refused = [r for r in results if not r.started]
        if refused and explain:
            refusals = [dialogs.Refusal(r.host, str(r.code), r.message or '') for r in refused]
            await self._explain(op, refusals, hosts, total=len(results), args=args)
        return results

    async def once(self, key: tuple[str, ...], handle: Callable[[], Awaitable[Any]]) -> None:
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

    async def run_pipeline(self, name: str, hosts: Sequence[str], options: PipelineOptions | None = None) -> None:
        """Start a pipeline (with its rollout `options`) and report its start (its end is reported by `follow`)."""
        if not self.session_alive():
            return
        label = pipeline_label(name)
        repeats = self.reports.pipeline_hosts(name)
        if repeats and set(hosts) <= repeats:  # a late second click: this tab's run is still going
            self.toast(f'{label} is already running on {hosts_phrase(hosts)}', 'info')
            return
        try:
            run = await self._ops.start_pipeline(name, hosts, actor='user', options=options)
        except DispatchError as exc:
            refusal = dialogs.Refusal(None, str(exc.code), exc.message)
            await self._explain(name, [refusal], hosts, total=len(hosts), label=label)
            return
        self.reports.pipeline_started(run.id, label, name, run.hosts)
        if run.hosts:
            self.events.front_output.emit(run.hosts[0])
        self.toast(f'{label} started on {hosts_phrase(run.hosts) if run.hosts else "the fleet"}', 'info')

    async def command_action(self, command_id: str, action: str) -> None:
        """Wait 5m / Kill / Ignore / Cancel tracking on a running command."""
        await self.once(('command', command_id, action), functools.partial(self._command_action, command_id, action))

    async def _command_action(self, command_id: str, action: str) -> None:
        if not self.session_alive():
            return
        if action == 'kill' and not await self._confirm_stop(command_id):
            return
        ops = self._ops
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            'wait': lambda: ops.wait_command(command_id, 5),
            'kill': lambda: ops.kill_command(command_id),
            'ignore': lambda: ops.ignore_command(command_id),
            'cancel': lambda: ops.cancel_command(command_id),
        }
        try:
            cmd = await calls[action]()
        except (CommandError, DispatchError) as exc:
            self.toast(refusal(exc.code, exc.message), 'warning')
            return
        host, op = cmd.host or 'the fleet', op_label(cmd.op)
        done = {
            'wait': f'{host}: waiting 5 more minutes for {op}',
            'kill': f'{host}: stopping {op} (SIGTERM, SIGKILL after 5 s)',
            'ignore': f'{host}: alert for {op} dismissed; still tracking it',
            'cancel': f'{host}: {op} no longer tracked; the host is free',
        }
        self.toast(done[action], 'info')

    async def _confirm_stop(self, command_id: str) -> bool:
        """Ask before stopping a running command."""
        cmd = self.state.commands.get(command_id) or {}
        host, op = cmd.get('host_id') or 'the fleet', op_label(cmd.get('op')) or 'the command'
        return await dialogs.confirm(
            f'Stop {op} on {host}?',
            f'The agent stops {op} (SIGTERM, SIGKILL after 5 s). '
            'A switch stopped halfway can leave the host between two generations.',
            'Stop',
            icon='stop_circle',
            danger=True,
        )

    # -- entry points ---------------------------------------------------------------------------------------------
    async def row_action(self, host: str, key: str) -> None:
        """A row-menu item (see `actions_model.ROW_MENU`)."""
        await self.once(('row', host, key), functools.partial(self._row_action, host, key))

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
        elif item.kind == 'details':
            with self._root:
                ui.navigate.to(host_path(host))
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
                problem.append(dialogs.CodeRefused(refusal(exc.code, exc.message)))

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
            latest = await self._ops.list_commands(host, limit=1)
            cid = latest[0]['id'] if latest else None
        if not cid:
            self.toast(f'{host} has no command log yet', 'info')
            return
        cmd = await self._ops.get_command(str(cid))
        op = cmd.op if cmd is not None else 'command'
        with self._root:  # the browser fetches it (with its session): no log travels through this socket
            ui.download.from_url(f'/api/commands/{quote(str(cid))}/output', f'{host}-{op}-{cid}.log')

    async def compartment(self, host: str, name: str) -> None:
        """A compartment chip: run its sensible action, or say what it means."""
        await self.once(('compartment', host, name), functools.partial(self._compartment, host, name))

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
        if action in DEPLOYING and not await dialogs.confirm(
            f'{op_label(action)} {host}?',
            f'{title} — {comp.get("message")}. {op_label(action)} deploys a new system generation to {host}.',
            op_label(action),
            icon='system_update_alt',
        ):
            return
        await self.run(action, [] if action == 'refresh-git' else [host])

    def shortcut(self, args: Mapping[str, Any]) -> None:
        """Keyboard shortcuts the table component forwards (Ctrl+1..9: output tab)."""
        tab = args.get('tab')
        if isinstance(tab, int) and 1 <= tab <= 9:
            self.events.output_tab.emit(tab)

    @staticmethod
    def handler(method: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Callable[[], Awaitable[Any]]:
        """A click handler calling `method(*args, **kwargs)` (NiceGUI passes no event arguments to it)."""
        return functools.partial(method, *args, **kwargs)

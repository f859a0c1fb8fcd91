"""The fleet-wide actions of a tab: the header's bulk menu (runs on every online host) and merging the flake-update PR;
each asks first and leaves out hosts that went offline meanwhile (the selection bar's runs: selection_actions.py)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nixfleet.ui import dialogs
from nixfleet.viewmodels.actions_model import fleet_online, hosts_phrase, op_label, pipeline_label

if TYPE_CHECKING:
    from nixfleet.ui.actions import FleetActions


class FleetWideActions:
    """Runs on many hosts at once, through the tab's `FleetActions`."""

    def __init__(self, actions: FleetActions) -> None:
        self._actions = actions

    async def bulk(self, what: str) -> None:
        """Header bulk menu: a fleet-wide run on the online hosts, after a confirmation."""
        await self._actions.once(('bulk', what), functools.partial(self._bulk, what))

    async def _bulk(self, what: str) -> None:
        if what == 'merge-pr':
            await self.merge(deploy=False)
            return
        online = fleet_online(self._actions.state.hosts)
        if not online:
            self._actions.toast('No host is online', 'warning')
            return
        pipeline = what == 'do-all'
        label = pipeline_label(what) if pipeline else op_label(what)
        steps = 'Pull → Switch → Test' if pipeline else label
        title = f'{label} on {len(online)} online host{"s" if len(online) != 1 else ""}?'
        text = f'Run {steps} on every online host. Offline and stale hosts are left out.'
        if pipeline:
            choice = await dialogs.confirm_run(
                title, text, f'{label} on {len(online)}', icon='rocket_launch', hosts=online
            )
            if choice is not None and (online := self._still_online(online, label)):
                await self._actions.run_pipeline(what, online, choice.options())
            return
        if await dialogs.confirm(title, text, f'{label} on {len(online)}', icon='bolt', details=online) and (
            online := self._still_online(online, label)
        ):
            await self._actions.run(what, online)

    def _online(self, hosts: Sequence[str]) -> list[str]:
        """Those of `hosts` online now, in their order."""
        views = self._actions.state.hosts
        return [h for h in hosts if (views.get(h) or {}).get('connection') == 'online']

    def _still_online(self, hosts: Sequence[str], label: str) -> list[str]:
        """Those of the confirmed `hosts` still online; says which went away while the dialog was open."""
        online = self._online(hosts)
        kept = set(online)
        gone = [h for h in hosts if h not in kept]
        if gone:
            went = f'{", ".join(gone[:5])}{" …" if len(gone) > 5 else ""} went offline'
            if online:
                self._actions.toast(f'{went}; {label} runs on {hosts_phrase(online)} only', 'warning')
            else:
                self._actions.toast(f'{went}; {label} was not started', 'warning')
        return online

    async def merge(self, *, deploy: bool) -> None:
        """Merge the pending flake-update PR (and deploy it to the online hosts)."""
        await self._actions.once(('merge', str(deploy)), functools.partial(self._merge, deploy=deploy))

    async def _merge(self, *, deploy: bool) -> None:
        pr = self._actions.state.fleet.get('pending_pr') or {}
        if not pr:
            self._actions.toast('There is no pending flake-update pull request', 'info')
            return
        online = fleet_online(self._actions.state.hosts)
        what = f'PR #{pr.get("number")} “{pr.get("title")}”'
        if deploy:
            if not online:
                self._actions.toast('No host is online to deploy to', 'warning')
                return
            choice = await dialogs.confirm_run(
                f'Merge & deploy PR #{pr.get("number")}?',
                f'Merge {what}, then Pull → Switch → Test on {len(online)} online hosts.',
                'Merge & Deploy',
                icon='merge',
                hosts=online,
            )
            if choice is not None and (online := self._still_online(online, 'Merge & Deploy')):
                await self._actions.run_pipeline('merge-deploy', online, choice.options())
        elif await dialogs.confirm(
            f'Merge PR #{pr.get("number")}?', f'Merge {what} on GitHub. Nothing is deployed.', 'Merge', icon='merge'
        ):
            await self._actions.run('merge-pr', [])

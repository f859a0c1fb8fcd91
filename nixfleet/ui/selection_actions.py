"""The selection bar's runs: any op or pipeline of the registry on the selected hosts, through the tab's
`FleetActions`, asking first where `selection_menu` says so.

Remove deletes the selected offline hosts after one confirmation that lists them (online hosts are never removed: the
server refuses them too)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nixfleet.ops.dispatch import DispatchError
from nixfleet.ui import dialogs
from nixfleet.viewmodels.actions_model import hosts_phrase
from nixfleet.viewmodels.selection_menu import ITEMS, SelectionItem, targets

if TYPE_CHECKING:
    from nixfleet.ui.actions import FleetActions


class SelectionActions:
    """Runs on the hosts selected in one tab."""

    def __init__(self, actions: FleetActions) -> None:
        self._actions = actions

    async def run(self, key: str, hosts: Sequence[str]) -> None:
        """Run the selection item `key` on `hosts` (a double click runs it once)."""
        await self._actions.once(('selection', key), functools.partial(self._run, key, list(hosts)))

    async def _run(self, key: str, hosts: list[str]) -> None:
        act = self._actions
        item = ITEMS.get(key)
        if item is None:
            act.toast(f'Unknown action {key!r}', 'warning')
            return
        chosen = targets(item, hosts, act.state.hosts)
        if not chosen:
            act.toast(f'None of the selected hosts is {item.targets}', 'warning')
            return
        if key == 'reboot':
            await self._reboot(chosen)
            return
        args = None
        if key == 'set-color':
            color = await dialogs.pick_color(hosts_phrase(chosen), None, from_dashboard=False)
            if color is None:
                return
            args = {'color': color}
        rollout = None
        if item.pipeline and item.confirm:
            title, text, ok = self._words(item, chosen)
            if (rollout := await dialogs.confirm_run(title, text, ok, icon=item.icon, hosts=chosen)) is None:
                return
        elif item.confirm and not await self._confirm(item, chosen):
            return
        chosen = targets(item, chosen, act.state.hosts)  # what changed while the dialog was open
        if not chosen:
            act.toast(f'None of those hosts is {item.targets} any more; {item.label} was not started', 'warning')
            return
        if item.pipeline:
            await act.run_pipeline(key, chosen, rollout.options() if rollout is not None else None)
        else:
            await act.run(key, chosen, args=args)

    @classmethod
    async def _confirm(cls, item: SelectionItem, hosts: list[str]) -> bool:
        title, text, ok = cls._words(item, hosts)
        return await dialogs.confirm(
            title, text, ok, icon=item.icon, danger=item.danger, details=hosts, all_details=item.key == 'remove'
        )

    @staticmethod
    def _words(item: SelectionItem, hosts: list[str]) -> tuple[str, str, str]:
        """The confirmation's title, text and button."""
        count = f'{len(hosts)} {item.targets} host{"s" if len(hosts) != 1 else ""}'
        if item.key == 'remove':
            text = (
                'These hosts, their commands and their logs are deleted (events stay). '
                'Each comes back if its agent registers again.'
            )
            return f'Remove {count}?', text, f'Remove {len(hosts)}'
        return (
            f'{item.label} on {count}?',
            f'{item.caption}. Offline and stale hosts are left out.',
            f'{item.label} on {len(hosts)}',
        )

    async def _reboot(self, hosts: list[str]) -> None:
        """Ask for one TOTP code, then reboot every host (as the row menu does for one)."""
        act = self._actions

        async def submit(code: str) -> dialogs.CodeRefused | None:
            problem: list[dialogs.CodeRefused] = []

            async def refused(exc: DispatchError) -> None:
                problem.append(dialogs.CodeRefused(f'{exc.message} ({exc.code})'))

            results = await act.run('reboot', hosts, totp=code, on_refused=refused, explain=False)
            if results and not any(r.started for r in results):
                why = '; '.join(f'{r.host}: {r.message}' for r in results[:3])
                problem.append(dialogs.CodeRefused(f'{why}. The code was not used.', kept=True))
            return problem[0] if problem else None

        await dialogs.totp_prompt(hosts_phrase(hosts), submit, configured=act.totp_configured)

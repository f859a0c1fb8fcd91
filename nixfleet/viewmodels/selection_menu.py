"""What the selection bar offers, NiceGUI-free: every per-host op and every pipeline of the registry, the common ones
as buttons and the rest in its More menu, with what each needs (online hosts, offline hosts) and whether it asks first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nixfleet.ops.pipelines import PIPELINES
from nixfleet.ops.registry import OPS, Scope
from nixfleet.viewmodels.actions_model import op_label, pipeline_label


@dataclass(frozen=True, slots=True)
class SelectionItem:
    """One thing the selection bar can run on the selected hosts."""

    key: str  #: the op or pipeline id
    label: str
    icon: str
    caption: str
    pipeline: bool = False
    #: `online`: runs on the selected online hosts; `offline`: on the selected offline ones (Remove); `any`: all.
    targets: str = 'online'
    #: Ask before running (with the hosts listed); reboot asks for its TOTP code instead.
    confirm: bool = False
    danger: bool = False


#: The selection bar's buttons, in order (Remove shows only while offline hosts are selected).
BUTTONS: tuple[str, ...] = ('pull', 'switch', 'test', 'do-all', 'remove')
_ICONS = {
    'pull': 'download',
    'switch': 'published_with_changes',
    'test': 'science',
    'do-all': 'rocket_launch',
    'remove': 'delete',
    'pull-switch': 'system_update_alt',
    'rollback': 'history',
    'restart': 'restart_alt',
    'reboot': 'power_settings_new',
    'check-version': 'verified',
    'refresh-lock': 'lock_reset',
    'refresh-system': 'fact_check',
    'refresh-all': 'refresh',
    'bump-flake': 'upgrade',
    'force-rebuild': 'construction',
    'set-color': 'palette',
    'merge-deploy': 'merge',
    'update-agent': 'system_update',
    'force-update': 'bolt',
}
#: Ops and pipelines that ask before running on many hosts (they roll back, restart, rebuild or deploy in steps).
_CONFIRM = frozenset({'rollback', 'restart', 'force-rebuild', 'merge-deploy', 'update-agent', 'force-update', 'remove'})
_DANGER = frozenset({'rollback', 'reboot', 'remove', 'force-rebuild', 'force-update'})
_TARGETS = {'remove': 'offline', 'set-color': 'any'}


def _item(key: str, caption: str, *, pipeline: bool = False) -> SelectionItem:
    return SelectionItem(
        key=key,
        label=pipeline_label(key) if pipeline else op_label(key),
        icon=_ICONS.get(key, 'play_arrow'),
        caption=caption,
        pipeline=pipeline,
        targets=_TARGETS.get(key, 'online'),
        confirm=key in _CONFIRM,
        danger=key in _DANGER,
    )


#: Everything the selection bar offers: each per-host op of the registry, then each pipeline, by key.
ITEMS: dict[str, SelectionItem] = {
    **{op.id: _item(op.id, op.description) for op in OPS.values() if op.scope is Scope.HOST},
    **{p.id: _item(p.id, ' → '.join(op_label(o) for o in p.ops), pipeline=True) for p in PIPELINES.values()},
}
#: The More menu: everything that is not a button, ops first, then pipelines.
MORE: tuple[SelectionItem, ...] = tuple(item for key, item in ITEMS.items() if key not in BUTTONS)


def targets(item: SelectionItem, hosts: Sequence[str], views: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Those of the selected `hosts` the item acts on, in their order."""
    if item.targets == 'any':
        return [h for h in hosts if h in views]
    wanted = item.targets
    return [h for h in hosts if (views.get(h) or {}).get('connection') == wanted]

"""The History view's host filter takes typed text too: Enter applies the host the text names (an id, a name, or the
one host containing it); picking from the list works as before."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui
from nicegui.events import GenericEventArguments

from nixfleet.ui.toasts import toast
from nixfleet.viewmodels.history_query import hosts_matching

#: Sends the typed text on Enter, unless an option of the open list is highlighted (Enter picks that one, as usual).
_ENTER_JS = (
    "(e) => { if (!document.querySelector('.nf-select-menu .q-manual-focusable--focused')) emit(e.target.value ?? '') }"
)


def enter_applies_typed_host(select: ui.select, apply: Callable[[str], Awaitable[None]]) -> None:
    """Make Enter in `select` (a filterable host select: id → name options) `apply` the host its typed text names."""

    async def typed(event: GenericEventArguments) -> None:
        text = str(event.args or '').strip()
        if not text:
            return
        options = select.options
        names = (
            {str(k): str(v) for k, v in options.items()}
            if isinstance(options, dict)
            else {str(o): str(o) for o in options}
        )
        matches = hosts_matching(text, names)
        if len(matches) == 1:
            await apply(matches[0])
        elif matches:
            toast(f'{len(matches)} hosts match “{text}”: pick one from the list')
        else:
            toast(f'No host matches “{text}”')

    select.on('keydown.enter', typed, js_handler=_ENTER_JS)

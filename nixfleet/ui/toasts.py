"""The one toast path of the UI: every view and action reports to the user through `toast`."""

from __future__ import annotations

from typing import Any

from nicegui import ui

#: How long a toast stays (ms); sticky ones (failures) stay until dismissed or replaced by later ones.
TOAST_MS = 4000
#: The page event a toast's "Show output" button raises (nixfleet.js turns the click into it): `{host}`.
OUTPUT_EVENT = 'nf_output'
_ICONS = {'positive': 'check_circle', 'negative': 'error', 'warning': 'warning', 'info': 'info'}


def toast(
    message: str,
    kind: str = 'info',
    *,
    sticky: bool = False,
    where: ui.element | None = None,
    output: str | None = None,
) -> None:
    """Show a themed toast (`kind`: positive, negative, warning, info) in the current browser tab.

    Pass `where` (an element of the tab, e.g. its layout) when called outside a UI event, such as from a stream
    callback: the toast goes to that element's tab. `output` (a host) adds a "Show output" button that raises
    `OUTPUT_EVENT` on the tab's layout (the tab's actions open that host's output).
    """
    if where is not None:
        with where:
            _notify(message, kind, sticky=sticky, output=output)
    else:
        _notify(message, kind, sticky=sticky, output=output)


def _notify(message: str, kind: str, *, sticky: bool, output: str | None) -> None:
    extra: dict[str, Any] = {}
    if output:
        extra['actions'] = [
            {
                'label': 'Show output',
                'icon': 'terminal',
                'noCaps': True,
                'class': 'nf-toast-output',
                'data-nf-output': output,
                'aria-label': f'Show the output of {output}',
            }
        ]
    ui.notify(
        message,
        position='bottom-right',
        timeout=0 if sticky else TOAST_MS,
        close_button='Dismiss' if sticky else False,
        icon=_ICONS.get(kind, 'info'),
        classes=f'nf-toast is-{kind}',
        color='nf',  # no Quasar colour classes: their layered `!important` would beat the stylesheet
        textColor='nf',
        group=False,
        **extra,
    )

"""The one toast path of the UI: every view and action reports to the user through `toast`."""

from __future__ import annotations

from nicegui import ui

#: How long a toast stays (ms); sticky ones (failures) stay until dismissed or replaced by later ones.
TOAST_MS = 4000
_ICONS = {'positive': 'check_circle', 'negative': 'error', 'warning': 'warning', 'info': 'info'}


def toast(message: str, kind: str = 'info', *, sticky: bool = False, where: ui.element | None = None) -> None:
    """Show a themed toast (`kind`: positive, negative, warning, info) in the current browser tab.

    Pass `where` (an element of the tab, e.g. its layout) when called outside a UI event, such as from a stream
    callback: the toast goes to that element's tab.
    """
    if where is not None:
        with where:
            _notify(message, kind, sticky=sticky)
    else:
        _notify(message, kind, sticky=sticky)


def _notify(message: str, kind: str, *, sticky: bool) -> None:
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
    )

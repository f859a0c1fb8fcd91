"""The output panel's tab strip: one chip per tab with its status dot, name in the host colour and unread marker."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from nicegui import ui

from nixfleet.streams.state import FleetState
from nixfleet.ui.theme import host_color_style
from nixfleet.viewmodels.output_buffer import LOG_TAB, TabBuffer, status_tone


class TabChip:
    """One tab of the strip: status dot, name in the host colour, unread marker, and a close button for hosts."""

    def __init__(self, key: str, label: str, on_select: Callable[[], Any], on_close: Callable[[], Any] | None) -> None:
        self.key = key
        self._state: tuple[Any, ...] = ()
        with ui.element('div').classes('nf-otab-wrap') as self.wrap:
            with ui.element('button').classes('nf-otab').props('type=button role=tab') as self.button:
                self.dot = ui.element('span').classes('nf-otab-dot t-none')
                self.label = ui.label(label).classes('nf-otab-label')
                ui.element('span').classes('nf-otab-unread').props('aria-hidden=true')
            self.button.on('click', lambda _: on_select())
            if on_close is not None:
                # a tablist holds tabs only: this button is for the pointer; Delete closes the focused tab
                close = ui.button(icon='close', on_click=lambda _: on_close()).props('flat dense round size=xs')
                close.classes('nf-otab-close').mark(f'output-close-{key}')
                close.props.update({'aria-hidden': 'true', 'tabindex': '-1', 'title': f'Close the output of {label}'})
                self.button.on('keydown.delete', lambda _: on_close())
                self.button.props['aria-keyshortcuts'] = 'Delete'
        self.wrap.props['data-tab'] = key
        self.button.mark(f'output-tab-{key}')
        self.wrap.mark(f'output-chip-{key}')

    def show(self, *, label: str, color: str, tone: str, title: str, active: bool, unread: bool) -> None:
        """Update what changed since the last call."""
        state = (label, color, tone, title, active, unread)
        if state == self._state:
            return
        self._state = state
        self.label.set_text(label)
        self.dot.classes(replace=f'nf-otab-dot t-{tone}')
        self.wrap.classes(replace='nf-otab-wrap' + (' is-active' if active else '') + (' is-unread' if unread else ''))
        self.button.props['aria-selected'] = 'true' if active else 'false'
        self.button.props['title'] = title
        host_color_style(self.wrap, '--hc', color)


class TabStrip:
    """The chips of the open tabs, in strip order (the System Log first)."""

    def __init__(self) -> None:
        self.element = ui.element('div').classes('nf-output-tabs').props('role=tablist aria-label="Output tabs"')
        self._chips: dict[str, TabChip] = {}

    def add(self, key: str, label: str, on_select: Callable[[], Any], on_close: Callable[[], Any] | None) -> None:
        """Add a chip at the end of the strip."""
        with self.element:
            self._chips[key] = TabChip(key, label, on_select, on_close)

    def remove(self, key: str) -> None:
        """Remove a tab's chip."""
        self._chips.pop(key).wrap.delete()

    def show(self, tabs: Mapping[str, TabBuffer], active: str, state: FleetState) -> None:
        """Names, colours, status dots and unread markers of every chip."""
        for key, chip in self._chips.items():
            tab = tabs[key]
            if key == LOG_TAB:
                chip.show(
                    label='System Log', color='', tone='log', title='Fleet events', active=key == active,
                    unread=tab.unread,
                )  # fmt: skip
                continue
            host = state.hosts.get(key) or {}
            command = state.commands.get(tab.latest or '') or {}
            status = command.get('status') or ''
            label = str(host.get('hostname') or key)
            chip.show(
                label=label,
                color=str(host.get('theme_color') or ''),
                tone=status_tone(status),
                title=f'{label}: {command.get("op")} {status}' if command else label,
                active=key == active,
                unread=tab.unread,
            )


def progress_text(command: Mapping[str, Any]) -> str:
    """What the panel's bar says about a host tab's newest command: op, status and its latest running phase."""
    if not command:
        return ''
    text = f'{command.get("op")} · {str(command.get("status") or "").lower().replace("_", " ")}'
    phases = [
        f'{name} {p.get("current")}/{p.get("total")}'
        for name, p in (command.get('progress') or {}).items()
        if isinstance(p, dict) and p.get('total') and status_tone(command.get('status')) == 'running'
    ]
    return ' · '.join([text, *phases[-1:]])
